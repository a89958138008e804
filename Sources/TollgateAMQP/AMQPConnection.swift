import CRabbitMQ
#if canImport(Glibc)
import Glibc
#endif
import Logging

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
///
/// **State.** `connecting` (socket open, logging in) becomes `open` or `failed`; `open` becomes
/// `failed` (an error) or `closed` (`close()`); `failed` becomes `closed`. Nothing else: an
/// illegal transition stops the process with its reason. The files beside this one hold the
/// concerns: `+Open` (socket, TLS, login), `+Topology`, `+Consume`, `+Publish` (with
/// `FrameWriter`), `+Events` (reading frames), `+Errors` (mapping rabbitmq-c's errors).
public final class AMQPConnection {
    public let configuration: AMQPConfiguration
    /// Heartbeat interval and frame size agreed with the broker.
    public internal(set) var heartbeatSeconds: Int = 0
    public internal(set) var frameMax: Int = 0
    /// The broker's connection.start properties (`product`, `version`, `capabilities`, ...).
    public internal(set) var serverProperties = AMQPTable()

    /// The live parts of a connection that is logging in or open.
    final class Session {
        let handle: amqp_connection_state_t
        /// Coalesced publishing on plain TCP (nil for TLS): see `FrameWriter`.
        var writer: FrameWriter?
        /// Publisher confirms: nil until `confirmSelect()`, then the next sequence number.
        var nextSequence: UInt64?
        /// Publishes are held in `writer` until `flushPublishes()` (`holdPublishes()`).
        var holding = false

        init(handle: amqp_connection_state_t) { self.handle = handle }

        /// Frees the library state and the writer's buffers.
        func destroy() {
            amqp_destroy_connection(handle)
            writer?.deallocate()
            writer = nil
        }
    }

    enum State {
        case connecting(Session)
        case open(Session)
        /// An error closed it; later calls say which.
        case failed(AMQPError)
        case closed

        var name: String {
            switch self {
            case .connecting: "connecting"
            case .open: "open"
            case .failed: "failed"
            case .closed: "closed"
            }
        }

        /// The session of a connection that is logging in or open.
        var session: Session? {
            switch self {
            case .connecting(let session), .open(let session): session
            case .failed, .closed: nil
            }
        }
    }

    private(set) var state: State = .closed
    var logger: Logger
    let arena = Arena()
    var consumerTags = StringCache()
    var exchanges = StringCache()
    var routingKeys = StringCache()
    var propertyCaches = PropertyStringCaches()

    static let channel: amqp_channel_t = 1

    /// Opens the socket (TCP, or TLS for `amqps://`), logs in and opens the channel.
    public init(configuration: AMQPConfiguration, logger: Logger) throws(AMQPError) {
        self.configuration = configuration
        self.logger = logger
        self.logger[metadataKey: AMQPLogKey.broker] = "\(configuration.url)"
        guard let handle = amqp_new_connection() else {
            throw AMQPError(.socketError, message: "out of memory", context: "creating a connection")
        }
        let session = Session(handle: handle)
        state = .connecting(session)
        do {
            try open(session)
        } catch {
            // `fail` already moved the state to failed and freed the session.
            if case .connecting = state { move(to: .failed(error), destroying: session) }
            logger.debug("AMQP connection failed", metadata: [AMQPLogKey.error: "\(error)"])
            throw error
        }
        move(to: .open(session))
        logger.debug(
            "AMQP connection open",
            metadata: [AMQPLogKey.heartbeat: "\(heartbeatSeconds)", AMQPLogKey.frameMax: "\(frameMax)"]
        )
    }

    deinit {
        close()
    }

    /// True while the connection can be used: logged in, and neither failed nor closed.
    public var isOpen: Bool {
        if case .open = state { return true }
        return false
    }

    /// Moves to `next`, checking that the transition is one the type allows; `destroying` frees
    /// a session that the new state no longer holds.
    func move(to next: State, destroying session: Session? = nil) {
        switch (state, next) {
        case (.connecting, .open), (.connecting, .failed), (.connecting, .closed),
            (.open, .failed), (.open, .closed), (.failed, .closed):
            break
        default:
            preconditionFailure("AMQPConnection: illegal transition from \(state.name) to \(next.name)")
        }
        state = next
        session?.destroy()
    }

    /// Closes the channel and the connection politely (bounded by 5 s or `rpcTimeout`) and frees the
    /// library state. Safe to call more than once; `deinit` calls it.
    public func close() {
        switch state {
        case .closed:
            return
        case .failed:
            move(to: .closed)
        case .connecting(let session):
            move(to: .closed, destroying: session)
        case .open(let session):
            let st = session.handle
            _ = flushHeld(session)
            // Do not let a broker that vanished unnoticed hold up shutdown for the full rpcTimeout.
            var closeTimeout = timeval(min(configuration.rpcTimeout, .seconds(5)))
            _ = amqp_set_rpc_timeout(st, &closeTimeout)
            _ = amqp_channel_close(st, Self.channel, AMQP_REPLY_SUCCESS)
            _ = amqp_connection_close(st, AMQP_REPLY_SUCCESS)
            move(to: .closed, destroying: session)
            logger.debug("AMQP connection closed")
        }
    }

    /// The session for a call, after writing held publishes (unless `flushingHeld` is false: a
    /// publish), so that they never wait behind a call.
    func usable(_ context: @autoclosure () -> String, flushingHeld: Bool = true) throws(AMQPError) -> Session {
        switch state {
        case .open(let session), .connecting(let session):
            if flushingHeld, let writer = session.writer, writer.heldCount > 0 {
                let status = flushHeld(session)
                if status != AMQP_STATUS_OK.rawValue { throw fail(status, "writing held publishes") }
            }
            return session
        case .failed(let error):
            throw AMQPError(
                .closed,
                message: "after an earlier error: \(error)",
                context: context(),
                endpoint: configuration.url.endpoint
            )
        case .closed:
            throw AMQPError(
                .closed,
                message: "closed by close()",
                context: context(),
                endpoint: configuration.url.endpoint
            )
        }
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
