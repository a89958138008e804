import CRabbitMQ
#if canImport(Glibc)
import Glibc
#endif

// Reading what the broker sends: deliveries, confirms, returns, cancellations, flow control.
extension AMQPConnection {
    /// Waits for the next thing the broker sends: a delivery, a publisher confirm, a returned
    /// message, a consumer cancellation, or a flow-control notice. Returns nil when `timeout`
    /// passes first; `.zero` only takes what has already arrived; nil waits without limit.
    /// Heartbeats are sent and checked while waiting: a silent broker raises `.heartbeatTimeout`.
    /// A channel or connection closed by the broker is answered (close-ok) and thrown as an error.
    public func nextEvent(timeout: Duration?) throws(AMQPError) -> AMQPEvent? {
        let st = try usable("waiting for broker events").handle
        let deadline = timeout.flatMap { $0 > .zero ? ContinuousClock.now.advanced(by: $0) : nil }
        var frame = amqp_frame_t()
        while true {
            var status: Int32
            if let timeout {
                var tv = timeval(timeout)
                if let deadline { tv = timeval(deadline - ContinuousClock.now) }
                status = amqp_simple_wait_frame_noblock(st, &frame, &tv)
            } else {
                status = amqp_simple_wait_frame_noblock(st, &frame, nil)
            }
            if status == AMQP_STATUS_TIMEOUT.rawValue {
                amqp_maybe_release_buffers(st)
                return nil
            }
            if status != AMQP_STATUS_OK.rawValue { throw fail(status, "waiting for broker events") }
            let event = try handle(st, frame)
            amqp_maybe_release_buffers(st)
            if let event { return event }
        }
    }

    /// As `nextEvent(timeout:)`, but also returns nil as soon as `wakeFD` is readable: another
    /// thread's signal (the caller empties it), so that a loop waiting for the broker also wakes
    /// for work done elsewhere. On TLS, where decrypted data can wait inside the TLS library
    /// where `poll` does not see it, it waits at most 1 ms instead of watching `wakeFD`.
    public func nextEvent(timeout: Duration, wakingOn wakeFD: Int32) throws(AMQPError) -> AMQPEvent? {
        let session = try usable("waiting for broker events")
        guard session.writer != nil else {
            return try nextEvent(timeout: min(timeout, .milliseconds(1)))
        }
        let st = session.handle
        // What the library already read comes first.
        if amqp_frames_enqueued(st) != 0 || amqp_data_in_buffer(st) != 0,
            let event = try nextEvent(timeout: .zero)
        {
            return event
        }
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            let left = deadline - ContinuousClock.now
            // Rounded up, so a wait of less than a millisecond still waits.
            let millis =
                left <= .zero
                ? 0 : Int32(min(3_600_000, ((left + .microseconds(999)) / .milliseconds(1)).rounded(.down)))
            var fds = [
                pollfd(fd: amqp_get_sockfd(st), events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&fds, 2, millis)
            if ready < 0 {
                if errno == EINTR { continue }
                throw fail(.socketError, "waiting for broker events or a wake-up", "waiting for broker events")
            }
            if fds[1].revents != 0 { return nil }
            // The socket is readable (or closed, which the library reports), or the time is up:
            // either way the library reads, answers heartbeats, and checks the broker's.
            if let event = try nextEvent(timeout: .zero) { return event }
            if ready == 0 || ContinuousClock.now >= deadline { return nil }
        }
    }

    private func handle(_ st: amqp_connection_state_t, _ frame: amqp_frame_t) throws(AMQPError) -> AMQPEvent? {
        guard frame.frame_type == UInt8(AMQP_FRAME_METHOD) else {
            throw fail(
                .protocolError,
                "a content frame (type \(frame.frame_type)) outside a message",
                "waiting for broker events"
            )
        }
        let method = frame.payload.method
        switch method.id {
        case AMQPMethod.basicDeliver:
            let d = method.decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
            let (properties, body) = try readContent(st, "reading a delivery")
            return .delivery(
                AMQPDelivery(
                    consumerTag: consumerTags.string(d.consumer_tag),
                    deliveryTag: d.delivery_tag,
                    redelivered: d.redelivered != 0,
                    exchange: exchanges.string(d.exchange),
                    routingKey: routingKeys.string(d.routing_key),
                    properties: properties,
                    body: body
                )
            )
        case AMQPMethod.basicAck:
            let a = method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            return .publishAck(a.delivery_tag, multiple: a.multiple != 0)
        case AMQPMethod.basicNack:
            let n = method.decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            return .publishNack(n.delivery_tag, multiple: n.multiple != 0)
        case AMQPMethod.basicReturn:
            let r = method.decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            let (properties, body) = try readContent(st, "reading a returned message")
            return .returned(
                AMQPReturn(
                    replyCode: r.reply_code,
                    replyText: r.reply_text.string,
                    exchange: r.exchange.string,
                    routingKey: r.routing_key.string,
                    properties: properties,
                    body: body
                )
            )
        case AMQPMethod.basicCancel:
            let c = method.decoded.assumingMemoryBound(to: amqp_basic_cancel_t.self).pointee
            let tag = c.consumer_tag.string
            if c.nowait == 0 {
                var ok = amqp_basic_cancel_ok_t(consumer_tag: c.consumer_tag)
                let status = amqp_send_method(st, Self.channel, AMQPMethod.basicCancelOk, &ok)
                if status != AMQP_STATUS_OK.rawValue { throw fail(status, "answering a consumer cancellation") }
            }
            return .consumerCancelled(tag)
        case AMQPMethod.channelClose, AMQPMethod.connectionClose:
            throw closedByBroker(st, method, "waiting for broker events")
        case AMQPMethod.connectionBlocked:
            let b = method.decoded.assumingMemoryBound(to: amqp_connection_blocked_t.self).pointee
            return .blocked(b.reason.string)
        case AMQPMethod.connectionUnblocked:
            return .unblocked
        case AMQPMethod.channelFlow:
            let f = method.decoded.assumingMemoryBound(to: amqp_channel_flow_t.self).pointee
            var ok = amqp_channel_flow_ok_t(active: f.active)
            _ = amqp_send_method(st, frame.channel, AMQPMethod.channelFlowOk, &ok)
            return nil
        default:
            logger.debug("ignoring AMQP method \(method.id >> 16).\(method.id & 0xffff) on channel \(frame.channel)")
            return nil
        }
    }

    /// Reads the content header and body frames that follow basic.deliver / basic.return.
    func readContent(
        _ st: amqp_connection_state_t,
        _ context: String
    ) throws(AMQPError) -> (AMQPProperties, [UInt8]) {
        var frame = amqp_frame_t()
        var status = amqp_simple_wait_frame_noblock(st, &frame, nil)
        if status != AMQP_STATUS_OK.rawValue { throw fail(status, context) }
        if frame.frame_type == UInt8(AMQP_FRAME_METHOD),
            [AMQPMethod.channelClose, AMQPMethod.connectionClose].contains(frame.payload.method.id)
        {
            throw closedByBroker(st, frame.payload.method, context)
        }
        guard frame.frame_type == UInt8(AMQP_FRAME_HEADER), frame.channel == Self.channel else {
            throw fail(.protocolError, "expected a content header, got frame type \(frame.frame_type)", context)
        }
        let header = frame.payload.properties
        let properties = decodeProperties(
            header.decoded.assumingMemoryBound(to: amqp_basic_properties_t.self).pointee,
            caches: &propertyCaches
        )
        guard header.body_size <= UInt64(Int32.max) else {
            throw fail(.protocolError, "a message body of \(header.body_size) bytes", context)
        }
        let size = Int(header.body_size)
        var bodyError: AMQPError? = nil
        let body = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            count = 0
            while count < size {
                status = amqp_simple_wait_frame_noblock(st, &frame, nil)
                if status != AMQP_STATUS_OK.rawValue {
                    bodyError = fail(status, context)
                    return
                }
                guard frame.frame_type == UInt8(AMQP_FRAME_BODY), frame.channel == Self.channel else {
                    bodyError = fail(
                        .protocolError,
                        "expected a body frame, got frame type \(frame.frame_type)",
                        context
                    )
                    return
                }
                let fragment = frame.payload.body_fragment
                guard fragment.len <= size - count else {
                    bodyError = fail(.protocolError, "body frames longer than the announced size", context)
                    return
                }
                if fragment.len > 0, let base = buffer.baseAddress {
                    UnsafeMutableRawPointer(base + count).copyMemory(from: fragment.bytes, byteCount: fragment.len)
                }
                count += fragment.len
            }
        }
        if let bodyError { throw bodyError }
        return (properties, body)
    }
}
