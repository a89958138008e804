/// The basic-class properties of a message. Unset properties are nil.
public struct AMQPProperties: Sendable, Hashable {
    public var contentType: String?
    public var contentEncoding: String?
    public var headers: AMQPTable?
    /// 1 = transient, 2 = persistent (`AMQPProperties.persistent`).
    public var deliveryMode: UInt8?
    public var priority: UInt8?
    public var correlationId: String?
    public var replyTo: String?
    /// Per-message TTL in milliseconds, as a decimal string ("60000").
    public var expiration: String?
    public var messageId: String?
    /// Seconds since the Unix epoch.
    public var timestamp: UInt64?
    public var type: String?
    /// RabbitMQ refuses a publish whose user_id differs from the connection's user (channel closed, 406).
    public var userId: String?
    public var appId: String?

    public static let transient: UInt8 = 1
    public static let persistent: UInt8 = 2

    public init(
        contentType: String? = nil,
        contentEncoding: String? = nil,
        headers: AMQPTable? = nil,
        deliveryMode: UInt8? = nil,
        priority: UInt8? = nil,
        correlationId: String? = nil,
        replyTo: String? = nil,
        expiration: String? = nil,
        messageId: String? = nil,
        timestamp: UInt64? = nil,
        type: String? = nil,
        userId: String? = nil,
        appId: String? = nil
    ) {
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.headers = headers
        self.deliveryMode = deliveryMode
        self.priority = priority
        self.correlationId = correlationId
        self.replyTo = replyTo
        self.expiration = expiration
        self.messageId = messageId
        self.timestamp = timestamp
        self.type = type
        self.userId = userId
        self.appId = appId
    }
}

/// A message the broker delivered to one of this connection's consumers. Ack, nack or reject
/// it by `deliveryTag` on the same connection.
public struct AMQPDelivery: Sendable {
    public var consumerTag: String
    public var deliveryTag: UInt64
    /// The broker delivered it before (to this or another consumer) without an ack.
    public var redelivered: Bool
    public var exchange: String
    public var routingKey: String
    public var properties: AMQPProperties
    public var body: [UInt8]

    public init(
        consumerTag: String,
        deliveryTag: UInt64,
        redelivered: Bool,
        exchange: String,
        routingKey: String,
        properties: AMQPProperties,
        body: [UInt8]
    ) {
        self.consumerTag = consumerTag
        self.deliveryTag = deliveryTag
        self.redelivered = redelivered
        self.exchange = exchange
        self.routingKey = routingKey
        self.properties = properties
        self.body = body
    }

    /// Quorum queues count deliveries after the first in header `x-delivery-count`.
    public var deliveryCount: Int? { properties.headers?["x-delivery-count"]?.intValue }
}

/// A mandatory publish the broker could not route (basic.return). In confirm mode the broker
/// still acks that publish, after the return.
public struct AMQPReturn: Sendable {
    public var replyCode: UInt16
    public var replyText: String
    public var exchange: String
    public var routingKey: String
    public var properties: AMQPProperties
    public var body: [UInt8]

    public init(
        replyCode: UInt16,
        replyText: String,
        exchange: String,
        routingKey: String,
        properties: AMQPProperties,
        body: [UInt8]
    ) {
        self.replyCode = replyCode
        self.replyText = replyText
        self.exchange = exchange
        self.routingKey = routingKey
        self.properties = properties
        self.body = body
    }
}

/// What `AMQPConnection.nextEvent(timeout:)` hands back.
public enum AMQPEvent: Sendable {
    /// A message for one of this connection's consumers.
    case delivery(AMQPDelivery)
    /// Publisher confirm: the broker took responsibility for publish `sequence` (and every earlier
    /// unconfirmed one when `multiple`). For persistent messages to durable/quorum queues this means
    /// they are on disk (on a quorum majority).
    case publishAck(UInt64, multiple: Bool)
    /// The broker could not take publish `sequence` (and earlier ones when `multiple`): publish again.
    case publishNack(UInt64, multiple: Bool)
    /// A mandatory publish that no queue took. Its `publishAck` follows.
    case returned(AMQPReturn)
    /// The broker cancelled this consumer (its queue was deleted, or the node holding it went away).
    case consumerCancelled(String)
    /// The broker stopped reading from this connection (resource alarm: memory or disk); publishes
    /// will stall until `unblocked`. The text is the broker's reason.
    case blocked(String)
    case unblocked
}
