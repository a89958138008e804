import CRabbitMQ
import Logging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Facts about a declared queue.
public struct AMQPQueueInfo: Sendable, Hashable {
    /// The queue's name (the broker's choice when declared with an empty name).
    public var name: String
    public var messageCount: UInt32
    public var consumerCount: UInt32
}

/// One AMQP 0-9-1 connection with one channel, over rabbitmq-c (librabbitmq).
///
/// **Threading.** Not `Sendable`, on purpose: rabbitmq-c connection state is not thread-safe, and
/// the library services heartbeats only inside its own send and wait calls. Create the connection
/// on a dedicated thread, make every call on that thread, and wait for broker events only through
/// `nextEvent(timeout:)` (never sleep or block on something else for long), so heartbeats flow.
/// Hand results to other threads as the `Sendable` values this module defines.
///
/// **Publisher confirms.** After `confirmSelect()`, `publish` returns the message's sequence
/// number (1, 2, ...) without waiting; `.publishAck`/`.publishNack` events confirm them later,
/// possibly several at once (`multiple`). Keep many publishes in flight: never wait for each.
///
/// **Failure.** Any error from the broker or the network closes the connection: later calls throw
/// `.closed`. The owner reconnects (see `AMQPError.isRetryable` and `Backoff`), declares its topology
/// and consumers again; unacked deliveries return to their queues with `redelivered` set.
public final class AMQPConnection {
    public let configuration: AMQPConfiguration
    /// Heartbeat interval and frame size agreed with the broker.
    public private(set) var heartbeatSeconds: Int = 0
    public private(set) var frameMax: Int = 0
    /// The broker's connection.start properties (`product`, `version`, `capabilities`, ...).
    public private(set) var serverProperties = AMQPTable()

    private var state: amqp_connection_state_t?
    private var failure: AMQPError?
    private var logger: Logger
    private let arena = Arena()
    private var confirming = false
    private var nextSequence: UInt64 = 1
    private var consumerTags = StringCache()
    private var exchanges = StringCache()
    private var routingKeys = StringCache()
    private var propertyCaches = PropertyStringCaches()
    /// Coalesced publishing on plain TCP (nil for TLS): see `FrameWriter`.
    private var frameWriter: FrameWriter?
    /// Publishes are held in `frameWriter` until `flushPublishes()` (`holdPublishes()`).
    private var holding = false

    static let channel: amqp_channel_t = 1

    /// Opens the socket (TCP, or TLS for `amqps://`), logs in and opens the channel.
    public init(configuration: AMQPConfiguration, logger: Logger) throws(AMQPError) {
        self.configuration = configuration
        self.logger = logger
        self.logger[metadataKey: AMQPLogKey.broker] = "\(configuration.url)"
        guard let st = amqp_new_connection() else {
            throw AMQPError(.socketError, message: "out of memory", context: "creating a connection")
        }
        state = st
        do {
            try open(st)
        } catch {
            failure = error
            amqp_destroy_connection(st)
            state = nil
            logger.debug("AMQP connection failed", metadata: [AMQPLogKey.error: "\(error)"])
            throw error
        }
        logger.debug(
            "AMQP connection open",
            metadata: [AMQPLogKey.heartbeat: "\(heartbeatSeconds)", AMQPLogKey.frameMax: "\(frameMax)"]
        )
    }

    deinit {
        close()
    }

    /// False once `close()` ran or an error closed the connection.
    public var isOpen: Bool { state != nil && failure == nil }

    // MARK: Opening

    private func open(_ st: amqp_connection_state_t) throws(AMQPError) {
        let url = configuration.url
        let context = "connecting to \(url.endpoint)"
        func error(_ kind: AMQPError.Kind, _ message: String, status: Int32? = nil, code: UInt16? = nil) -> AMQPError {
            AMQPError(
                kind,
                message: message,
                context: context,
                libraryStatus: status,
                replyCode: code,
                endpoint: url.endpoint,
                user: url.user,
                vhost: url.vhost
            )
        }
        for (what, value) in [("host", url.host), ("user", url.user), ("password", url.password), ("vhost", url.vhost)]
        where value.utf8.contains(0) {
            throw error(.invalidArgument, "the \(what) contains a NUL character")
        }
        guard let socket = url.tls ? amqp_ssl_socket_new(st) : amqp_tcp_socket_new(st) else {
            throw error(.socketError, "could not create a socket")
        }
        if url.tls {
            let tls = configuration.tls
            if let ca = tls.caCertificatePath {
                let status = amqp_ssl_socket_set_cacert(socket, ca)
                guard status == AMQP_STATUS_OK.rawValue else {
                    throw error(.invalidArgument, "cannot load the CA file '\(ca)'", status: status)
                }
            }
            if let cert = tls.clientCertificatePath, let key = tls.clientKeyPath {
                let status = amqp_ssl_socket_set_key(socket, cert, key)
                guard status == AMQP_STATUS_OK.rawValue else {
                    throw error(
                        .invalidArgument,
                        "cannot load the client certificate '\(cert)' or key '\(key)'",
                        status: status
                    )
                }
            }
            amqp_ssl_socket_set_verify_peer(socket, tls.verifyPeer ? 1 : 0)
            amqp_ssl_socket_set_verify_hostname(socket, tls.verifyHostname ? 1 : 0)
        }
        var connectTimeout = timeval(configuration.connectTimeout)
        let status = amqp_socket_open_noblock(socket, url.host, Int32(url.port), &connectTimeout)
        let savedErrno = errno
        if status != AMQP_STATUS_OK.rawValue {
            // rabbitmq-c connects without blocking and reports a refused connection as a generic
            // socket error (errno is EINPROGRESS by then); ask the kernel once more to tell them apart.
            var err = savedErrno
            if status == AMQP_STATUS_SOCKET_ERROR.rawValue || status == AMQP_STATUS_TCP_ERROR.rawValue {
                err = probeConnect(host: url.host, port: url.port) ?? savedErrno
            }
            throw error(AMQPConnection.connectKind(status, err), AMQPConnection.message(status, err), status: status)
        }
        _ = amqp_set_handshake_timeout(st, &connectTimeout)
        var rpcTimeout = timeval(configuration.rpcTimeout)
        _ = amqp_set_rpc_timeout(st, &rpcTimeout)
        setUserTimeout(amqp_get_sockfd(st))

        arena.recycle()
        var clientProperties = arena.table(clientPropertiesTable())
        let reply = tollgate_amqp_login_plain(
            st,
            url.vhost,
            Int32(configuration.channelMax),
            Int32(configuration.frameMax),
            Int32(configuration.heartbeatSeconds),
            &clientProperties,
            url.user,
            url.password
        )
        try checkLogin(st, reply, error)
        heartbeatSeconds = Int(amqp_get_heartbeat(st))
        frameMax = Int(amqp_get_frame_max(st))
        if let props = amqp_get_server_properties(st) { serverProperties = decodeTable(props.pointee) }
        if !url.tls, configuration.coalescePublishFrames { frameWriter = FrameWriter(frameMax: frameMax) }

        _ = amqp_channel_open(st, AMQPConnection.channel)
        try check(amqp_get_rpc_reply(st), "opening the channel")
        amqp_maybe_release_buffers(st)
    }

    /// The errno of a plain TCP connect to host:port (waiting at most 2 s), nil if it connects.
    private func probeConnect(host: String, port: Int) -> Int32? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>? = nil
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else { return nil }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        if connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 { return nil }
        guard errno == EINPROGRESS else { return errno }
        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&pfd, 1, 2000) == 1 else { return ETIMEDOUT }
        var soError: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &len) == 0 else { return nil }
        return soError == 0 ? nil : soError
    }

    private func clientPropertiesTable() -> AMQPTable {
        var table: AMQPTable = [
            "product": "tollgate",
            "capabilities": .table([
                "publisher_confirms": true,
                "basic.nack": true,
                "consumer_cancel_notify": true,
                "connection.blocked": true,
                "authentication_failure_close": true,
            ]),
        ]
        if let name = configuration.connectionName { table["connection_name"] = .string(name) }
        return table
    }

    /// With heartbeats on, a send that the peer never acknowledges fails after two intervals
    /// instead of the kernel's ~15 minutes (a publish blocked on a vanished broker).
    private func setUserTimeout(_ fd: Int32) {
        guard fd >= 0, configuration.heartbeatSeconds > 0 else { return }
        var ms = UInt32(min(configuration.heartbeatSeconds * 2, 600) * 1000)
        let tcpUserTimeout: Int32 = 18  // TCP_USER_TIMEOUT, not exported by Glibc's module
        _ = setsockopt(fd, Int32(IPPROTO_TCP), tcpUserTimeout, &ms, socklen_t(MemoryLayout<UInt32>.size))
    }

    private func checkLogin(
        _ st: amqp_connection_state_t,
        _ reply: amqp_rpc_reply_t,
        _ error: (AMQPError.Kind, String, Int32?, UInt16?) -> AMQPError
    ) throws(AMQPError) {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return
        case AMQP_RESPONSE_SERVER_EXCEPTION where reply.reply.id == AMQPMethod.connectionClose:
            let close = reply.reply.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            let text = close.reply_text.string
            var ok = amqp_connection_close_ok_t(dummy: 0)
            _ = amqp_send_method(st, 0, AMQPMethod.connectionCloseOk, &ok)
            switch close.reply_code {
            case 403 where close.method_id != 40:  // 403 on connection.start-ok: bad credentials
                throw error(.authenticationFailed, text, nil, close.reply_code)
            case 403, 530:  // connection.open refused: no such vhost, or no permission on it
                throw error(.accessRefused, text, nil, close.reply_code)
            default:
                throw error(.connectionClosed(code: close.reply_code, text: text), text, nil, close.reply_code)
            }
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            let status = reply.library_error
            // Brokers without authentication_failure_close drop the socket on bad credentials.
            if status == AMQP_STATUS_CONNECTION_CLOSED.rawValue || status == AMQP_STATUS_SOCKET_CLOSED.rawValue {
                throw error(.authenticationFailed, "the broker closed the connection during login", status, nil)
            }
            let e = AMQPConnection.kind(status)
            throw error(e, AMQPConnection.message(status, errno), status, nil)
        default:
            throw error(.protocolError, "unexpected reply during login", nil, nil)
        }
    }

    // MARK: Topology

    /// Declares an exchange (`direct`, `topic`, `fanout`, `headers`, `x-consistent-hash`, ...).
    public func exchangeDeclare(
        _ name: String,
        type: String,
        durable: Bool = true,
        autoDelete: Bool = false,
        internal isInternal: Bool = false,
        arguments: AMQPTable = AMQPTable()
    ) throws(AMQPError) {
        let context = "declaring exchange '\(name)' of type '\(type)'"
        let st = try usable(context)
        try validate(name, "exchange name", context)
        arena.recycle()
        _ = amqp_exchange_declare(
            st,
            Self.channel,
            arena.bytes(name),
            arena.bytes(type),
            0,
            durable ? 1 : 0,
            autoDelete ? 1 : 0,
            isInternal ? 1 : 0,
            arena.table(arguments)
        )
        try check(amqp_get_rpc_reply(st), context, exchangeType: type)
    }

    public func exchangeDelete(_ name: String, ifUnused: Bool = false) throws(AMQPError) {
        let context = "deleting exchange '\(name)'"
        let st = try usable(context)
        try validate(name, "exchange name", context)
        arena.recycle()
        _ = amqp_exchange_delete(st, Self.channel, arena.bytes(name), ifUnused ? 1 : 0)
        try check(amqp_get_rpc_reply(st), context)
    }

    /// Declares a queue; an empty name lets the broker choose one (returned in the result).
    /// `passive` only checks that the queue exists (404 closes the connection if not).
    /// For a quorum queue pass `arguments: ["x-queue-type": "quorum"]` (durable, not exclusive).
    @discardableResult
    public func queueDeclare(
        _ name: String,
        durable: Bool = true,
        exclusive: Bool = false,
        autoDelete: Bool = false,
        passive: Bool = false,
        arguments: AMQPTable = AMQPTable()
    ) throws(AMQPError) -> AMQPQueueInfo {
        let context = "declaring queue '\(name)'"
        let st = try usable(context)
        try validate(name, "queue name", context)
        arena.recycle()
        let ok = amqp_queue_declare(
            st,
            Self.channel,
            arena.bytes(name),
            passive ? 1 : 0,
            durable ? 1 : 0,
            exclusive ? 1 : 0,
            autoDelete ? 1 : 0,
            arena.table(arguments)
        )
        try check(amqp_get_rpc_reply(st), context)
        guard let ok else { throw fail(.protocolError, "no queue.declare-ok", context) }
        return AMQPQueueInfo(
            name: ok.pointee.queue.string,
            messageCount: ok.pointee.message_count,
            consumerCount: ok.pointee.consumer_count
        )
    }

    public func queueBind(
        queue: String,
        exchange: String,
        routingKey: String,
        arguments: AMQPTable = AMQPTable()
    ) throws(AMQPError) {
        let context = "binding queue '\(queue)' to exchange '\(exchange)' with routing key '\(routingKey)'"
        let st = try usable(context)
        try validate(queue, "queue name", context)
        try validate(exchange, "exchange name", context)
        try validate(routingKey, "routing key", context)
        arena.recycle()
        _ = amqp_queue_bind(
            st,
            Self.channel,
            arena.bytes(queue),
            arena.bytes(exchange),
            arena.bytes(routingKey),
            arena.table(arguments)
        )
        try check(amqp_get_rpc_reply(st), context)
    }

    public func queueUnbind(
        queue: String,
        exchange: String,
        routingKey: String,
        arguments: AMQPTable = AMQPTable()
    ) throws(AMQPError) {
        let context = "unbinding queue '\(queue)' from exchange '\(exchange)'"
        let st = try usable(context)
        arena.recycle()
        _ = amqp_queue_unbind(
            st,
            Self.channel,
            arena.bytes(queue),
            arena.bytes(exchange),
            arena.bytes(routingKey),
            arena.table(arguments)
        )
        try check(amqp_get_rpc_reply(st), context)
    }

    /// Deletes a queue and returns how many messages it held. Consumers on it get cancelled.
    @discardableResult
    public func queueDelete(_ name: String, ifUnused: Bool = false, ifEmpty: Bool = false) throws(AMQPError) -> UInt32 {
        let context = "deleting queue '\(name)'"
        let st = try usable(context)
        try validate(name, "queue name", context)
        arena.recycle()
        let ok = amqp_queue_delete(st, Self.channel, arena.bytes(name), ifUnused ? 1 : 0, ifEmpty ? 1 : 0)
        try check(amqp_get_rpc_reply(st), context)
        return ok?.pointee.message_count ?? 0
    }

    /// Removes the queue's ready messages and returns how many.
    @discardableResult
    public func queuePurge(_ name: String) throws(AMQPError) -> UInt32 {
        let context = "purging queue '\(name)'"
        let st = try usable(context)
        try validate(name, "queue name", context)
        arena.recycle()
        let ok = amqp_queue_purge(st, Self.channel, arena.bytes(name))
        try check(amqp_get_rpc_reply(st), context)
        return ok?.pointee.message_count ?? 0
    }

    // MARK: Consuming

    /// At most `prefetchCount` unacked deliveries per consumer on this channel (0 = unlimited).
    public func basicQos(prefetchCount: UInt16) throws(AMQPError) {
        let context = "setting prefetch to \(prefetchCount)"
        let st = try usable(context)
        _ = amqp_basic_qos(st, Self.channel, 0, prefetchCount, 0)
        try check(amqp_get_rpc_reply(st), context)
    }

    /// Starts a consumer; deliveries arrive through `nextEvent`. Returns the consumer tag
    /// (the broker's choice when `consumerTag` is empty).
    @discardableResult
    public func basicConsume(
        queue: String,
        consumerTag: String = "",
        noAck: Bool = false,
        exclusive: Bool = false,
        arguments: AMQPTable = AMQPTable()
    ) throws(AMQPError) -> String {
        let context = "starting a consumer on queue '\(queue)'"
        let st = try usable(context)
        try validate(queue, "queue name", context)
        arena.recycle()
        let ok = amqp_basic_consume(
            st,
            Self.channel,
            arena.bytes(queue),
            arena.bytes(consumerTag),
            0,
            noAck ? 1 : 0,
            exclusive ? 1 : 0,
            arena.table(arguments)
        )
        try check(amqp_get_rpc_reply(st), context)
        guard let ok else { throw fail(.protocolError, "no basic.consume-ok", context) }
        return ok.pointee.consumer_tag.string
    }

    /// Stops a consumer. Deliveries already on their way still come out of `nextEvent`: ack or nack them.
    public func basicCancel(consumerTag: String) throws(AMQPError) {
        let context = "cancelling consumer '\(consumerTag)'"
        let st = try usable(context)
        arena.recycle()
        _ = amqp_basic_cancel(st, Self.channel, arena.bytes(consumerTag))
        try check(amqp_get_rpc_reply(st), context)
    }

    public func ack(deliveryTag: UInt64, multiple: Bool = false) throws(AMQPError) {
        let st = try usable("acking")
        let status = amqp_basic_ack(st, Self.channel, deliveryTag, multiple ? 1 : 0)
        if status != AMQP_STATUS_OK.rawValue { throw fail(status, "acking delivery \(deliveryTag)") }
    }

    /// Negative ack; `requeue: false` dead-letters (or drops) the message.
    public func nack(deliveryTag: UInt64, multiple: Bool = false, requeue: Bool) throws(AMQPError) {
        let st = try usable("nacking")
        let status = amqp_basic_nack(st, Self.channel, deliveryTag, multiple ? 1 : 0, requeue ? 1 : 0)
        if status != AMQP_STATUS_OK.rawValue { throw fail(status, "nacking delivery \(deliveryTag)") }
    }

    public func reject(deliveryTag: UInt64, requeue: Bool) throws(AMQPError) {
        let st = try usable("rejecting")
        let status = amqp_basic_reject(st, Self.channel, deliveryTag, requeue ? 1 : 0)
        if status != AMQP_STATUS_OK.rawValue { throw fail(status, "rejecting delivery \(deliveryTag)") }
    }

    // MARK: Publishing

    /// Puts the channel in publisher-confirm mode. Call before the first publish.
    public func confirmSelect() throws(AMQPError) {
        let st = try usable("enabling publisher confirms")
        guard !confirming else { return }
        _ = amqp_confirm_select(st, Self.channel)
        try check(amqp_get_rpc_reply(st), "enabling publisher confirms")
        confirming = true
        nextSequence = 1
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
        let st = try usable("publishing", flushingHeld: false)
        if exchange.utf8.count > 255 || routingKey.utf8.count > 255 {
            throw AMQPError(
                .invalidArgument,
                message: "exchange names and routing keys are at most 255 bytes",
                context: "publishing to exchange '\(exchange)'"
            )
        }
        arena.recycle()
        var props = arena.properties(properties)
        let ex = arena.bytes(exchange)
        let rk = arena.bytes(routingKey)
        let status: Int32 = body.withUnsafeBytes { raw in
            if frameWriter != nil {
                var method = amqp_basic_publish_t(
                    ticket: 0,
                    exchange: ex,
                    routing_key: rk,
                    mandatory: mandatory ? 1 : 0,
                    immediate: 0
                )
                if holding {
                    switch frameWriter!.hold(
                        channel: Self.channel,
                        method: &method,
                        properties: &props,
                        body: raw,
                        frameMax: frameMax
                    )
                    {
                    case .held: return AMQP_STATUS_OK.rawValue
                    case .full:
                        let flushed = flushHeld(st)
                        guard flushed == AMQP_STATUS_OK.rawValue else { return flushed }
                        if case .held = frameWriter!.hold(
                            channel: Self.channel,
                            method: &method,
                            properties: &props,
                            body: raw,
                            frameMax: frameMax
                        ) {
                            return AMQP_STATUS_OK.rawValue
                        }
                    case .unsuitable:
                        // Sent on its own below, after what is held, so the order stays.
                        let flushed = flushHeld(st)
                        guard flushed == AMQP_STATUS_OK.rawValue else { return flushed }
                    }
                }
                switch frameWriter!.publish(
                    fd: amqp_get_sockfd(st),
                    channel: Self.channel,
                    method: &method,
                    properties: &props,
                    body: raw,
                    frameMax: frameMax,
                    stallLimitMs: stallLimitMs
                )
                {
                case .sent: return AMQP_STATUS_OK.rawValue
                case .unsuitable: break
                case .failed(let status, let e):
                    errno = e
                    return status
                case .stalled: return AMQP_STATUS_HEARTBEAT_TIMEOUT.rawValue
                }
            }
            return amqp_basic_publish(
                st,
                Self.channel,
                ex,
                rk,
                mandatory ? 1 : 0,
                0,
                &props,
                amqp_bytes_t(len: raw.count, bytes: UnsafeMutableRawPointer(mutating: raw.baseAddress))
            )
        }
        if status != AMQP_STATUS_OK.rawValue {
            throw fail(status, "publishing to exchange '\(exchange)' with routing key '\(routingKey)'")
        }
        guard confirming else { return 0 }
        defer { nextSequence += 1 }
        return nextSequence
    }

    /// Holds the publishes that follow in memory until `flushPublishes()`, then writes them with
    /// one `sendmsg` instead of one each: for a burst of publishes, such as the replies to a batch
    /// of deliveries. Also written when 256 KiB are held, and before any other call on this
    /// connection (`nextEvent`, acks, declarations, `close`), so nothing waits behind a call that
    /// blocks. Sequence numbers and confirms are as without holding. Only plain TCP connections
    /// with `coalescePublishFrames` hold; elsewhere this changes nothing.
    public func holdPublishes() {
        holding = frameWriter != nil
    }

    /// Writes the held publishes and stops holding.
    public func flushPublishes() throws(AMQPError) {
        holding = false
        _ = try usable("writing held publishes")
    }

    private var stallLimitMs: Int32 { heartbeatSeconds > 0 ? Int32(min(heartbeatSeconds * 2, 600) * 1000) : -1 }

    /// Writes what `frameWriter` holds; returns a rabbitmq-c status.
    private func flushHeld(_ st: amqp_connection_state_t) -> Int32 {
        guard frameWriter?.heldCount ?? 0 > 0 else { return AMQP_STATUS_OK.rawValue }
        switch frameWriter!.flush(fd: amqp_get_sockfd(st), stallLimitMs: stallLimitMs) {
        case .sent, .unsuitable: return AMQP_STATUS_OK.rawValue
        case .failed(let status, let e):
            errno = e
            return status
        case .stalled: return AMQP_STATUS_HEARTBEAT_TIMEOUT.rawValue
        }
    }

    // MARK: Events

    /// Waits for the next thing the broker sends: a delivery, a publisher confirm, a returned
    /// message, a consumer cancellation, or a flow-control notice. Returns nil when `timeout`
    /// passes first; `.zero` only takes what has already arrived; nil waits without limit.
    /// Heartbeats are sent and checked while waiting: a silent broker raises `.heartbeatTimeout`.
    /// A channel or connection closed by the broker is answered (close-ok) and thrown as an error.
    public func nextEvent(timeout: Duration?) throws(AMQPError) -> AMQPEvent? {
        let st = try usable("waiting for broker events")
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
    private func readContent(
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
                if fragment.len > 0 {
                    UnsafeMutableRawPointer(buffer.baseAddress! + count).copyMemory(
                        from: fragment.bytes,
                        byteCount: fragment.len
                    )
                }
                count += fragment.len
            }
        }
        if let bodyError { throw bodyError }
        return (properties, body)
    }

    // MARK: Closing

    /// Closes the channel and the connection politely (bounded by 5 s or `rpcTimeout`) and frees the
    /// library state. Safe to call more than once; `deinit` calls it.
    public func close() {
        guard let st = state else { return }
        if failure == nil {
            _ = flushHeld(st)
            // Do not let a broker that vanished unnoticed hold up shutdown for the full rpcTimeout.
            var closeTimeout = timeval(min(configuration.rpcTimeout, .seconds(5)))
            _ = amqp_set_rpc_timeout(st, &closeTimeout)
            _ = amqp_channel_close(st, Self.channel, AMQP_REPLY_SUCCESS)
            _ = amqp_connection_close(st, AMQP_REPLY_SUCCESS)
            failure = AMQPError(.closed, message: "closed by close()", context: "using the connection")
            logger.debug("AMQP connection closed")
        }
        amqp_destroy_connection(st)
        state = nil
        frameWriter?.deallocate()
        frameWriter = nil
    }

    // MARK: Errors

    /// The connection state for a call, after writing held publishes (unless `flushingHeld` is
    /// false: a publish), so that they never wait behind a call.
    private func usable(
        _ context: @autoclosure () -> String,
        flushingHeld: Bool = true
    ) throws(AMQPError) -> amqp_connection_state_t {
        if let state, failure == nil {
            if flushingHeld, frameWriter?.heldCount ?? 0 > 0 {
                let status = flushHeld(state)
                if status != AMQP_STATUS_OK.rawValue { throw fail(status, "writing held publishes") }
            }
            return state
        }
        let why = failure.map { $0.kind == .closed ? $0.message : "after an earlier error: \($0)" } ?? "closed"
        throw AMQPError(.closed, message: why, context: context(), endpoint: configuration.url.endpoint)
    }

    private func validate(_ name: String, _ what: String, _ context: String) throws(AMQPError) {
        if name.utf8.count > 255 {
            throw AMQPError(.invalidArgument, message: "the \(what) is longer than 255 bytes", context: context)
        }
    }

    /// Records a failure, tears the connection down and returns the error to throw.
    private func fail(_ error: AMQPError) -> AMQPError {
        var error = error
        error.endpoint = configuration.url.endpoint
        error.user = configuration.url.user
        error.vhost = configuration.url.vhost
        if failure == nil {
            failure = error
            logger.debug("AMQP connection failed", metadata: [AMQPLogKey.error: "\(error)"])
        }
        if let st = state {
            amqp_destroy_connection(st)
            state = nil
            frameWriter?.deallocate()
            frameWriter = nil
        }
        return error
    }

    private func fail(_ kind: AMQPError.Kind, _ message: String, _ context: String) -> AMQPError {
        fail(AMQPError(kind, message: message, context: context))
    }

    private func fail(_ status: Int32, _ context: String) -> AMQPError {
        let savedErrno = errno
        return fail(
            AMQPError(
                Self.kind(status),
                message: Self.message(status, savedErrno),
                context: context,
                libraryStatus: status
            )
        )
    }

    /// Checks a synchronous call's reply; a broker exception is answered (close-ok) and thrown.
    private func check(
        _ reply: amqp_rpc_reply_t,
        _ context: String,
        exchangeType: String? = nil
    ) throws(AMQPError) {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            throw fail(reply.library_error, context)
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            guard let st = state else { throw fail(.closed, "connection already closed", context) }
            throw closedByBroker(st, reply.reply, context, exchangeType: exchangeType)
        default:
            throw fail(.protocolError, "no reply", context)
        }
    }

    /// Answers a channel.close or connection.close from the broker and returns the error it means.
    private func closedByBroker(
        _ st: amqp_connection_state_t,
        _ method: amqp_method_t,
        _ context: String,
        exchangeType: String? = nil
    ) -> AMQPError {
        let code: UInt16
        let text: String
        let channelLevel = method.id == AMQPMethod.channelClose
        if channelLevel {
            let close = method.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            (code, text) = (close.reply_code, close.reply_text.string)
            var ok = amqp_channel_close_ok_t(dummy: 0)
            _ = amqp_send_method(st, Self.channel, AMQPMethod.channelCloseOk, &ok)
            // This wrapper has one channel: without it the connection is useless, so close that too.
            _ = amqp_connection_close(st, AMQP_REPLY_SUCCESS)
        } else {
            let close = method.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            (code, text) = (close.reply_code, close.reply_text.string)
            var ok = amqp_connection_close_ok_t(dummy: 0)
            _ = amqp_send_method(st, 0, AMQPMethod.connectionCloseOk, &ok)
        }
        let kind: AMQPError.Kind
        // An unknown exchange type is 503 COMMAND_INVALID, a connection-level error.
        if code == 503, text.contains("unknown exchange type"), let type = exchangeType,
            let plugin = Self.plugin(forExchangeType: type)
        {
            kind = .pluginNotEnabled(plugin: plugin)
        } else if code == 403 {
            kind = .accessRefused
        } else if channelLevel {
            kind = .channelClosed(code: code, text: text)
        } else {
            kind = .connectionClosed(code: code, text: text)
        }
        return fail(AMQPError(kind, message: text, context: context, replyCode: code))
    }

    /// The plugin that provides a non-standard exchange type, for the error message.
    static func plugin(forExchangeType type: String) -> String? {
        switch type {
        case "x-consistent-hash": "rabbitmq_consistent_hash_exchange"
        case "x-delayed-message": "rabbitmq_delayed_message_exchange"
        case "x-random": "rabbitmq_random_exchange"
        case "x-modulus-hash": "rabbitmq_sharding"
        case "x-recent-history": "rabbitmq_recent_history_exchange"
        default: nil
        }
    }

    static func kind(_ status: Int32) -> AMQPError.Kind {
        switch status {
        case AMQP_STATUS_HEARTBEAT_TIMEOUT.rawValue: .heartbeatTimeout
        case AMQP_STATUS_TIMEOUT.rawValue: .timeout
        case AMQP_STATUS_HOSTNAME_RESOLUTION_FAILED.rawValue: .hostNotFound
        case AMQP_STATUS_INVALID_PARAMETER.rawValue, AMQP_STATUS_TABLE_TOO_BIG.rawValue, AMQP_STATUS_BAD_URL.rawValue:
            .invalidArgument
        case AMQP_STATUS_BAD_AMQP_DATA.rawValue, AMQP_STATUS_UNKNOWN_CLASS.rawValue,
            AMQP_STATUS_UNKNOWN_METHOD.rawValue, AMQP_STATUS_WRONG_METHOD.rawValue,
            AMQP_STATUS_UNEXPECTED_STATE.rawValue, AMQP_STATUS_INCOMPATIBLE_AMQP_VERSION.rawValue,
            AMQP_STATUS_BROKER_UNSUPPORTED_SASL_METHOD.rawValue, AMQP_STATUS_UNSUPPORTED.rawValue:
            .protocolError
        case AMQP_STATUS_SSL_ERROR.rawValue, AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED.rawValue,
            AMQP_STATUS_SSL_PEER_VERIFY_FAILED.rawValue, AMQP_STATUS_SSL_CONNECTION_FAILED.rawValue,
            AMQP_STATUS_SSL_SET_ENGINE_FAILED.rawValue:
            .tlsError
        default: .socketError
        }
    }

    static func connectKind(_ status: Int32, _ err: Int32) -> AMQPError.Kind {
        let k = kind(status)
        if k == .socketError, err == ECONNREFUSED { return .connectionRefused }
        return k
    }

    static func message(_ status: Int32, _ err: Int32) -> String {
        let text = libraryMessage(status)
        let socketish =
            status == AMQP_STATUS_SOCKET_ERROR.rawValue || status == AMQP_STATUS_TCP_ERROR.rawValue
            || status == AMQP_STATUS_CONNECTION_CLOSED.rawValue
        if socketish, err != 0, let e = strerror(err) { return "\(text) (\(String(cString: e)))" }
        return text
    }
}

/// Forbid moving a connection between threads by accident: see the type's documentation.
@available(*, unavailable)
extension AMQPConnection: Sendable {}

/// Log metadata keys used by this module.
public enum AMQPLogKey {
    public static let broker = "amqp.broker"
    public static let error = "amqp.error"
    public static let heartbeat = "amqp.heartbeat"
    public static let frameMax = "amqp.frame_max"
}
