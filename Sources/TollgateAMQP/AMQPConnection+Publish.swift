import CRabbitMQ
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

// Publishing with publisher confirms, one message at a time or held and written together.
extension AMQPConnection {
    /// Puts the channel in publisher-confirm mode. Call before the first publish.
    public func confirmSelect() throws(AMQPError) {
        let session = try usable("enabling publisher confirms")
        guard session.nextSequence == nil else { return }
        _ = amqp_confirm_select(session.handle, Self.channel)
        try check(amqp_get_rpc_reply(session.handle), "enabling publisher confirms")
        session.nextSequence = 1
    }

    /// Sends a message without waiting for the broker. In confirm mode returns its sequence number
    /// (confirmed later by a `.publishAck`/`.publishNack` event), else 0. With `mandatory`, a message
    /// no queue takes comes back as a `.returned` event (before its ack).
    @discardableResult
    public func publish(
        exchange: String = "",
        routingKey: String,
        body: some ContiguousBytes,
        properties: AMQPProperties = AMQPProperties(),
        mandatory: Bool = false
    ) throws(AMQPError) -> UInt64 {
        let session = try usable("publishing", flushingHeld: false)
        if exchange.utf8.count > 255 || routingKey.utf8.count > 255 {
            throw AMQPError(
                .invalidArgument,
                message: "exchange names and routing keys are at most 255 bytes",
                context: "publishing to exchange '\(exchange)'"
            )
        }
        arena.recycle()
        var props = arena.properties(properties)
        var method = amqp_basic_publish_t(
            ticket: 0,
            exchange: arena.bytes(exchange),
            routing_key: arena.bytes(routingKey),
            mandatory: mandatory ? 1 : 0,
            immediate: 0
        )
        let status: Int32 = body.withUnsafeBytes { raw in
            if let status = writeFramed(session, &method, &props, raw) { return status }
            return amqp_basic_publish(
                session.handle,
                Self.channel,
                method.exchange,
                method.routing_key,
                method.mandatory,
                0,
                &props,
                amqp_bytes_t(len: raw.count, bytes: UnsafeMutableRawPointer(mutating: raw.baseAddress))
            )
        }
        if status != AMQP_STATUS_OK.rawValue {
            throw fail(status, "publishing to exchange '\(exchange)' with routing key '\(routingKey)'")
        }
        guard let sequence = session.nextSequence else { return 0 }
        session.nextSequence = sequence + 1
        return sequence
    }

    /// Publishes through the session's `FrameWriter` (held, or one `sendmsg`); nil when the
    /// message must take the library's path (TLS, a body of several frames).
    private func writeFramed(
        _ session: Session,
        _ method: inout amqp_basic_publish_t,
        _ props: inout amqp_basic_properties_t,
        _ raw: UnsafeRawBufferPointer
    ) -> Int32? {
        guard let writer = session.writer else { return nil }
        if session.holding {
            switch writer.hold(
                channel: Self.channel,
                method: &method,
                properties: &props,
                body: raw,
                frameMax: frameMax
            ) {
            case .held:
                return AMQP_STATUS_OK.rawValue
            case .full:
                let flushed = flushHeld(session)
                guard flushed == AMQP_STATUS_OK.rawValue else { return flushed }
                let again = writer.hold(
                    channel: Self.channel,
                    method: &method,
                    properties: &props,
                    body: raw,
                    frameMax: frameMax
                )
                if case .held = again { return AMQP_STATUS_OK.rawValue }
            case .unsuitable:
                // Sent on its own below, after what is held, so the order stays.
                let flushed = flushHeld(session)
                guard flushed == AMQP_STATUS_OK.rawValue else { return flushed }
            }
        }
        switch writer.publish(
            fd: amqp_get_sockfd(session.handle),
            channel: Self.channel,
            method: &method,
            properties: &props,
            body: raw,
            frameMax: frameMax,
            stallLimitMs: stallLimitMs
        ) {
        case .sent: return AMQP_STATUS_OK.rawValue
        case .unsuitable: return nil
        case .failed(let status, let e):
            errno = e
            return status
        case .stalled: return AMQP_STATUS_HEARTBEAT_TIMEOUT.rawValue
        }
    }

    /// Holds the publishes that follow in memory until `flushPublishes()`, then writes them with
    /// one `sendmsg` instead of one each: for a burst of publishes, such as the replies to a batch
    /// of deliveries. Also written when 256 KiB are held, and before any other call on this
    /// connection (`nextEvent`, acks, declarations, `close`), so nothing waits behind a call that
    /// blocks. Sequence numbers and confirms are as without holding. Only plain TCP connections
    /// with `coalescePublishFrames` hold; elsewhere this changes nothing.
    public func holdPublishes() {
        guard let session = state.session else { return }
        session.holding = session.writer != nil
    }

    /// Writes the held publishes and stops holding.
    public func flushPublishes() throws(AMQPError) {
        state.session?.holding = false
        _ = try usable("writing held publishes")
    }

    var stallLimitMs: Int32 { heartbeatSeconds > 0 ? Int32(min(heartbeatSeconds * 2, 600) * 1000) : -1 }

    /// Writes what the session's writer holds; returns a rabbitmq-c status.
    func flushHeld(_ session: Session) -> Int32 {
        guard let writer = session.writer, writer.heldCount > 0 else { return AMQP_STATUS_OK.rawValue }
        switch writer.flush(fd: amqp_get_sockfd(session.handle), stallLimitMs: stallLimitMs) {
        case .sent, .unsuitable: return AMQP_STATUS_OK.rawValue
        case .failed(let status, let e):
            errno = e
            return status
        case .stalled: return AMQP_STATUS_HEARTBEAT_TIMEOUT.rawValue
        }
    }
}
