import Foundation
import Logging
import Synchronization
import TollgateAMQP

/// A reusable AMQP load generator for Tollgate's benchmarks.
///
/// Two connections, each on a thread of its own:
/// - the **publisher** sends `messages` messages to `exchange`/`routingKey` with publisher
///   confirms, keeping at most `confirmWindow` unconfirmed (pipelined, never one round trip per
///   message), at full speed or at `ratePerSecond`; each carries `reply_to` and a correlation id
///   `"<index>:<publish-monotonic-ns>"`;
/// - the **collector** consumes the reply queue (a server-named exclusive queue unless
///   `replyQueue` names one) and records, per distinct message index, the latency from publish to
///   reply receipt into a histogram.
///
/// Throughput is distinct replies / (last reply - first publish). The system under test must echo
/// the correlation id: as the `correlation_id` property (the default `correlationId` reader), or
/// anywhere else a custom reader finds it (e.g. in a JSON body).
struct LoadGenerator: Sendable {
    struct Configuration: Sendable {
        var connection: AMQPConfiguration
        var exchange: String = ""
        var routingKey: String
        var replyQueue: String? = nil
        var messages: Int
        var confirmWindow: Int = 1000
        /// At most this many messages published but not yet answered (closed loop); nil = no limit,
        /// the queue in front of the system under test may then grow without bound.
        var maxInFlight: Int? = nil
        var ratePerSecond: Double? = nil
        /// Template for every message; `replyTo` and `correlationId` are filled in.
        var properties = AMQPProperties(contentType: "application/json", deliveryMode: AMQPProperties.persistent)
        /// The body of message `index`.
        var body: @Sendable (Int) -> [UInt8]
        /// Where a reply carries the correlation id.
        var correlationId: @Sendable (AMQPDelivery) -> String? = { $0.properties.correlationId }
        /// Give up when no new reply arrived for this long.
        var idleTimeout: Duration = .seconds(30)
        /// Routing key of message `index` (e.g. its agent id); nil: `routingKey` for all.
        var routingKeyFor: (@Sendable (Int) -> String)? = nil
        /// `message_id` of message `index`; nil: none.
        var messageIdFor: (@Sendable (Int) -> String)? = nil
        /// Send `reply_to` (off when the answer reaches the reply queue by another path, e.g. a
        /// vote whose final decision goes to the agent's queue).
        var setReplyTo = true
        /// Matches a reply that does not carry this message's correlation id to the index of the
        /// message that caused it (nil: not a reply to count); the latency is then measured from
        /// the publish time the publisher recorded. nil: match by `correlationId`.
        var replyIndex: (@Sendable (AMQPDelivery) -> Int?)? = nil
        /// Called on the collector's thread with the first reply to each message.
        var onReply: (@Sendable (Int, AMQPDelivery) -> Void)? = nil
    }

    struct Result: Sendable {
        var messages: Int
        var replies: Int
        var duplicateReplies: Int
        var unknownReplies: Int
        var nacked: Int
        var returned: Int
        /// First publish to last distinct reply.
        var elapsed: Duration
        /// First publish to last publish confirmed.
        var publishElapsed: Duration
        var latency: LatencyHistogram
        var messagesPerSecond: Double { elapsed > .zero ? Double(replies) / elapsed.seconds : 0 }
        var publishedPerSecond: Double { publishElapsed > .zero ? Double(messages) / publishElapsed.seconds : 0 }
    }

    var configuration: Configuration
    var logger: Logger

    func run() async throws -> Result {
        let config = configuration
        let logger = logger
        let replyQueueReady = OneShot<String>()
        let publisherDone = StopFlag()
        let publisherFailed = StopFlag()
        let replies = Counter()
        let sentAt = PublishTimes(count: config.messages)

        async let collected = onThread("load-collector") {
            try Self.collect(
                config,
                logger: logger,
                ready: replyQueueReady,
                publisherDone: publisherDone,
                publisherFailed: publisherFailed,
                replies: replies,
                sentAt: sentAt
            )
        }
        let replyQueue: String
        do {
            replyQueue = try await replyQueueReady.value
        } catch {
            publisherDone.set()
            _ = try? await collected
            throw error
        }
        let published: PublishStats
        do {
            published = try await onThread("load-publisher") {
                defer { publisherDone.set() }
                return try Self.publish(
                    config,
                    replyQueue: replyQueue,
                    logger: logger,
                    replies: replies,
                    sentAt: sentAt
                )
            }
        } catch {
            publisherFailed.set()
            _ = try? await collected
            throw error
        }
        let c = try await collected
        let start = published.firstPublishNanos
        return Result(
            messages: config.messages,
            replies: c.replies,
            duplicateReplies: c.duplicates,
            unknownReplies: c.unknown,
            nacked: published.nacked,
            returned: published.returned,
            elapsed: .nanoseconds(Int64(c.lastReplyNanos > start ? c.lastReplyNanos - start : 0)),
            publishElapsed: .nanoseconds(Int64(published.lastConfirmNanos - start)),
            latency: c.latency
        )
    }

    struct PublishStats: Sendable {
        var firstPublishNanos: UInt64 = 0
        var lastConfirmNanos: UInt64 = 0
        var nacked = 0
        var returned = 0
    }

    private static func publish(
        _ config: Configuration,
        replyQueue: String,
        logger: Logger,
        replies: Counter,
        sentAt: PublishTimes
    ) throws -> PublishStats {
        var connection = config.connection
        connection.connectionName = connection.connectionName ?? "tollgate-bench load publisher"
        let c = try AMQPConnection(configuration: connection, logger: logger)
        defer { c.close() }
        try c.confirmSelect()
        var stats = PublishStats()
        var tracker = ConfirmTracker(count: config.messages)
        func handle(_ event: AMQPEvent) {
            switch event {
            case .publishAck(let n, let multiple): tracker.confirm(n, multiple: multiple)
            case .publishNack(let n, let multiple):
                stats.nacked += tracker.confirm(n, multiple: multiple)
            case .returned: stats.returned += 1
            default: break
            }
        }
        var properties = config.properties
        properties.replyTo = config.setReplyTo ? replyQueue : nil
        let window = max(1, config.confirmWindow)
        let interval = config.ratePerSecond.map { UInt64(1e9 / $0) }
        for index in 0..<config.messages {
            while Int(tracker.published - tracker.confirmed) >= window {
                guard let event = try c.nextEvent(timeout: .seconds(30)) else {
                    throw BenchError("no publisher confirm for 30 s (\(tracker.confirmed) of \(tracker.published))")
                }
                handle(event)
            }
            if let limit = config.maxInFlight, index - replies.value >= limit {
                let giveUp = monotonicNanos() + UInt64(config.idleTimeout.seconds * 1e9)
                while index - replies.value >= limit {
                    if let event = try c.nextEvent(timeout: .milliseconds(1)) { handle(event) }
                    if monotonicNanos() > giveUp {
                        throw BenchError("no reply for \(config.idleTimeout) with \(limit) messages in flight")
                    }
                }
            }
            if let interval {
                let due = stats.firstPublishNanos + UInt64(index) * interval
                while stats.firstPublishNanos != 0, case let now = monotonicNanos(), now < due {
                    if let event = try c.nextEvent(timeout: .nanoseconds(Int64(due - now))) { handle(event) }
                }
            } else if index & 63 == 0 {
                while let event = try c.nextEvent(timeout: .zero) { handle(event) }
            }
            let body = config.body(index)
            let now = monotonicNanos()
            if index == 0 { stats.firstPublishNanos = now }
            properties.correlationId = "\(index):\(now)"
            if let messageIdFor = config.messageIdFor { properties.messageId = messageIdFor(index) }
            if config.replyIndex != nil { sentAt.record(index, now) }
            _ = try c.publish(
                exchange: config.exchange,
                routingKey: config.routingKeyFor?(index) ?? config.routingKey,
                body: body,
                properties: properties
            )
            tracker.published += 1
        }
        while tracker.confirmed < tracker.published {
            guard let event = try c.nextEvent(timeout: .seconds(30)) else {
                throw BenchError("no publisher confirm for 30 s (\(tracker.confirmed) of \(tracker.published))")
            }
            handle(event)
        }
        stats.lastConfirmNanos = monotonicNanos()
        return stats
    }

    struct CollectStats: Sendable {
        var replies = 0
        var duplicates = 0
        var unknown = 0
        var lastReplyNanos: UInt64 = 0
        var latency = LatencyHistogram()
    }

    private static func collect(
        _ config: Configuration,
        logger: Logger,
        ready: OneShot<String>,
        publisherDone: StopFlag,
        publisherFailed: StopFlag,
        replies: Counter,
        sentAt: PublishTimes
    ) throws -> CollectStats {
        var connection = config.connection
        connection.connectionName = connection.connectionName ?? "tollgate-bench load collector"
        let c: AMQPConnection
        do {
            c = try AMQPConnection(configuration: connection, logger: logger)
            let queue: String
            if let name = config.replyQueue {
                queue = name
            } else {
                queue = try c.queueDeclare("", durable: false, exclusive: true, autoDelete: true).name
            }
            try c.basicQos(prefetchCount: 0)
            try c.basicConsume(queue: queue, noAck: true)
            ready.fulfill(.success(queue))
        } catch {
            ready.fulfill(.failure(error))
            throw error
        }
        defer { c.close() }
        var stats = CollectStats()
        var seen = [Bool](repeating: false, count: config.messages)
        var lastProgress = monotonicNanos()
        let idleLimit = UInt64(config.idleTimeout.seconds * 1e9)
        while stats.replies < config.messages, !publisherFailed.isSet {
            guard let event = try c.nextEvent(timeout: .milliseconds(200)) else {
                let idle = monotonicNanos() - lastProgress
                // Before the publisher is done a slow start is fine; after, give up when idle.
                if idle > idleLimit, publisherDone.isSet || idle > 4 * idleLimit {
                    logger.warning("load collector: no reply for \(config.idleTimeout), giving up")
                    break
                }
                continue
            }
            guard case .delivery(let d) = event else { continue }
            let now = monotonicNanos()
            let match: (Int, UInt64)?
            if let replyIndex = config.replyIndex {
                match = replyIndex(d).flatMap { $0 >= 0 && $0 < config.messages ? ($0, sentAt[$0]) : nil }
            } else {
                match = config.correlationId(d).flatMap(Self.parse)
            }
            guard let (index, sent) = match, index >= 0, index < config.messages else {
                stats.unknown += 1
                continue
            }
            if seen[index] {
                stats.duplicates += 1
                continue
            }
            seen[index] = true
            stats.replies += 1
            replies.increment()
            stats.lastReplyNanos = now
            lastProgress = now
            stats.latency.record(now > sent ? now - sent : 0)
            config.onReply?(index, d)
        }
        return stats
    }

    /// "<index>:<nanos>" without Foundation or allocation.
    static func parse(_ id: String) -> (Int, UInt64)? {
        var index = 0
        var nanos: UInt64 = 0
        var seenColon = false
        var digits = 0
        for b in id.utf8 {
            if b == UInt8(ascii: ":") {
                guard !seenColon, digits > 0 else { return nil }
                seenColon = true
                digits = 0
                continue
            }
            guard b >= 48, b <= 57 else { return nil }
            let d = Int(b - 48)
            if seenColon { nanos = nanos &* 10 &+ UInt64(d) } else { index = index &* 10 &+ d }
            digits += 1
        }
        return seenColon && digits > 0 ? (index, nanos) : nil
    }
}

/// Which publish sequence numbers (1...count) are confirmed, for acks that may be `multiple`.
struct ConfirmTracker {
    private var done: [Bool]
    private var lowest: UInt64 = 1  // every sequence below this is confirmed
    private(set) var confirmed: UInt64 = 0
    var published: UInt64 = 0

    init(count: Int) { done = [Bool](repeating: false, count: count + 2) }

    /// Marks `n` (and all earlier ones if `multiple`); returns how many were newly confirmed.
    @discardableResult
    mutating func confirm(_ n: UInt64, multiple: Bool) -> Int {
        guard n < UInt64(done.count) else { return 0 }
        var newly = 0
        if multiple {
            var s = lowest
            while s <= n {
                if !done[Int(s)] {
                    done[Int(s)] = true
                    newly += 1
                }
                s += 1
            }
        } else if !done[Int(n)] {
            done[Int(n)] = true
            newly = 1
        }
        while lowest < UInt64(done.count), done[Int(lowest)] { lowest += 1 }
        confirmed += UInt64(newly)
        return newly
    }
}

/// When each message was published, for replies matched by `replyIndex` (written by the
/// publisher before the publish, read by the collector after the reply).
final class PublishTimes: Sendable {
    private let times: Mutex<[UInt64]>

    init(count: Int) { times = Mutex([UInt64](repeating: 0, count: count)) }

    func record(_ index: Int, _ nanos: UInt64) { times.withLock { $0[index] = nanos } }

    subscript(index: Int) -> UInt64 { times.withLock { $0[index] } }
}
