/// A notice the bridge holds: taken from its queue, not yet acked.
public struct HeldNotice: Sendable, Equatable {
    /// The broker's delivery tag (unique on one connection).
    public var tag: UInt64
    /// Notices with the same key are delivered in the order they arrived: the request id.
    public var key: String
    /// `pending.transfer_funds`, `resolved.transfer_funds`, ...
    public var routingKey: String
    public var body: [UInt8]
    /// When the worker published it (the AMQP timestamp), else when the bridge first took it.
    public var publishedAtMillis: Int64
    /// Stable across retries and redeliveries, for receivers that drop repeats.
    public var deliveryID: String
    /// Attempts made so far (while this connection of the bridge holds it).
    public var attempts = 0
    /// The request the notice is about (its `request_id`, or a revoked grant's id), if it names one.
    public var requestID: String?
    /// The notice's AMQP timestamp as published, kept on its dead letter.
    public var timestamp: UInt64?

    public init(
        tag: UInt64,
        key: String,
        routingKey: String,
        body: [UInt8],
        publishedAtMillis: Int64,
        deliveryID: String
    ) {
        self.tag = tag
        self.key = key
        self.routingKey = routingKey
        self.body = body
        self.publishedAtMillis = publishedAtMillis
        self.deliveryID = deliveryID
    }

    /// `pending`, `voted`, `resolved`, `limited`, `revoked`.
    public var event: String { String(routingKey.prefix { $0 != "." }) }
}

/// The order of one target's deliveries, without sockets or clocks: notices of one request go
/// out one at a time, in the order the broker delivered them; notices of different requests go
/// out side by side. Only the first held notice of each request is ever being attempted (or
/// waiting for its retry); the rest wait behind it.
public struct DeliveryLine: Sendable {
    private var lines: [String: [HeldNotice]] = [:]
    private var keyOfTag: [UInt64: String] = [:]

    public init() {}

    /// Takes a notice; returns it when it may be attempted now (nothing of its request is ahead).
    public mutating func receive(_ notice: HeldNotice) -> HeldNotice? {
        keyOfTag[notice.tag] = notice.key
        lines[notice.key, default: []].append(notice)
        return lines[notice.key]!.count == 1 ? notice : nil
    }

    /// The notice being attempted for this tag (the head of its request's line), if any.
    public func head(_ tag: UInt64) -> HeldNotice? {
        guard let key = keyOfTag[tag], let first = lines[key]?.first, first.tag == tag else { return nil }
        return first
    }

    /// Counts an attempt of the head with this tag; returns it with its new count.
    public mutating func recordAttempt(_ tag: UInt64) -> HeldNotice? {
        guard let key = keyOfTag[tag], lines[key]?.first?.tag == tag else { return nil }
        lines[key]![0].attempts += 1
        return lines[key]![0]
    }

    /// The head with this tag is done (delivered or given up on): returns the next notice of its
    /// request, now to be attempted.
    public mutating func finish(_ tag: UInt64) -> HeldNotice? {
        guard let key = keyOfTag.removeValue(forKey: tag), var line = lines[key], line.first?.tag == tag else {
            return nil
        }
        line.removeFirst()
        lines[key] = line.isEmpty ? nil : line
        return line.first
    }

    /// Forgets everything (the connection is gone; the broker delivers all of it again).
    public mutating func reset() {
        lines = [:]
        keyOfTag = [:]
    }

    /// Notices held.
    public var count: Int { keyOfTag.count }

    /// The age of the oldest held notice, in milliseconds at `nowMillis`; nil when none is held.
    public func oldestAgeMillis(nowMillis: Int64) -> Int64? {
        var oldest: Int64?
        for line in lines.values {
            for notice in line where oldest == nil || notice.publishedAtMillis < oldest! {
                oldest = notice.publishedAtMillis
            }
        }
        return oldest.map { max(nowMillis - $0, 0) }
    }
}
