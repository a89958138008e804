import Crypto
import TollgateStore

/// A message taken from one of the worker's queues, in Swift terms, with the broker's
/// properties normalised: an empty `message_id`, `reply_to` or `correlation_id` counts as absent.
struct Inbound {
    enum Source {
        case toolCall
        case vote
    }

    var source: Source
    var deliveryTag: UInt64
    var body: [UInt8]
    var routingKey: String
    var replyTo: String?
    var correlationID: String?
    var messageID: String?
    /// The AMQP `user_id` property, which RabbitMQ checks against the publisher's login.
    var userID: String?
    /// The broker delivered this message before without an ack, or the worker committed its
    /// handling and published nothing of it (a batch whose sync failed): either way what its
    /// first handling caused may not all have been published.
    var redelivered: Bool
    /// How many earlier deliveries were not settled: the quorum queue's `x-delivery-count`,
    /// trusted only on a message the broker marks redelivered (on a first delivery the header
    /// can only be the publisher's).
    var deliveryCount: Int
    /// `x-tollgate-kind`: `budget-handoff` for a worker's hand-off of a budget, `rehome-marker` for
    /// the end of this worker's re-homing; nil for a tool call.
    var kind: String?
    /// When the loop took it from the socket (monotonic milliseconds), for the decision latency.
    var receivedAt: Int64 = 0

    init(
        source: Source,
        deliveryTag: UInt64 = 0,
        body: [UInt8],
        routingKey: String,
        replyTo: String? = nil,
        correlationID: String? = nil,
        messageID: String? = nil,
        userID: String? = nil,
        redelivered: Bool = false,
        deliveryCountHeader: Int? = nil,
        kind: String? = nil,
        receivedAt: Int64 = 0
    ) {
        func present(_ text: String?) -> String? { text?.isEmpty == false ? text : nil }
        self.source = source
        self.deliveryTag = deliveryTag
        self.body = body
        self.routingKey = routingKey
        self.replyTo = present(replyTo)
        self.correlationID = present(correlationID)
        self.messageID = present(messageID)
        self.userID = present(userID)
        self.redelivered = redelivered
        self.deliveryCount = redelivered ? max(0, deliveryCountHeader ?? 0) : 0
        self.kind = kind
        self.receivedAt = receivedAt
    }

    /// SHA-256 over everything that identifies this message, used to recognise a redelivery
    /// of a message that has no `message_id`.
    func fingerprint() -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: [source == .toolCall ? 1 : 2])
        for part in [userID, replyTo, correlationID] {
            let bytes = Array((part ?? "").utf8)
            hasher.update(
                data: [UInt8(truncatingIfNeeded: bytes.count >> 8), UInt8(truncatingIfNeeded: bytes.count)] + bytes
            )
        }
        hasher.update(data: body)
        return Array(hasher.finalize())
    }
}
