/// A message the worker publishes: a reply, a decision for the feed, a notice, a dead letter.
///
/// The one type for "a message to publish", whether it goes out at once (answers to an input,
/// redone from the input's record if the input is redelivered) or through the outbox (messages a
/// state change obliges the worker to publish: written in the same transaction as the change,
/// deleted only after the broker confirmed them).
public struct OutboundMessage: Sendable, Equatable {
    /// A string-valued AMQP header.
    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public var exchange: String
    public var routingKey: String
    public var body: [UInt8]
    public var correlationID: String?
    /// Replies to an agent's `reply_to` are mandatory, so an unroutable one comes back and is counted.
    public var mandatory: Bool
    /// Properties kept when a rejected message is copied to the dead-letter exchange.
    public var messageID: String?
    public var replyTo: String?
    public var headers: [Header]
    /// Published with `user_id` = the worker's own broker user (RabbitMQ checks it against the
    /// login), so that the receiving worker knows a worker sent it: budget hand-offs and
    /// rebalance requests.
    public var asWorker: Bool
    /// The outbox row that holds this message (delete it once confirmed); nil when it is not in
    /// the outbox.
    public var outboxID: Int64?

    public init(
        exchange: String,
        routingKey: String,
        body: [UInt8],
        correlationID: String? = nil,
        mandatory: Bool = false,
        messageID: String? = nil,
        replyTo: String? = nil,
        headers: [Header] = [],
        asWorker: Bool = false,
        outboxID: Int64? = nil
    ) {
        self.exchange = exchange
        self.routingKey = routingKey
        self.body = body
        self.correlationID = correlationID
        self.mandatory = mandatory
        self.messageID = messageID
        self.replyTo = replyTo
        self.headers = headers
        self.asWorker = asWorker
        self.outboxID = outboxID
    }
}
