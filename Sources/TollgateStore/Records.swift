/// Milliseconds since the Unix epoch, the one time unit the store keeps.
public typealias Millis = Int64

/// A tool call the worker has decided (or parked): what a redelivery of the same input must get.
public struct CallRecord: Sendable, Equatable {
    public var requestID: String
    public var agentID: String
    /// The AMQP `message_id` (the agent's idempotency key), when the call had one.
    public var messageID: String?
    /// SHA-256 of the delivery (body and reply properties), kept for calls without `message_id`
    /// so that a redelivery of the same message is recognised.
    public var fingerprint: [UInt8]?
    public var receivedAt: Millis
    /// `allow`, `deny` or `pending`.
    public var decision: String
    /// The exact reply body published for this call.
    public var reply: [UInt8]

    public init(
        requestID: String,
        agentID: String,
        messageID: String?,
        fingerprint: [UInt8]?,
        receivedAt: Millis,
        decision: String,
        reply: [UInt8]
    ) {
        self.requestID = requestID
        self.agentID = agentID
        self.messageID = messageID
        self.fingerprint = fingerprint
        self.receivedAt = receivedAt
        self.decision = decision
        self.reply = reply
    }
}

/// A message that a state change obliges the worker to publish. It is written in the same
/// transaction as the change and deleted only after the broker confirmed it.
public struct OutboxMessage: Sendable, Equatable {
    public var id: Int64
    public var exchange: String
    public var routingKey: String
    public var correlationID: String?
    public var body: [UInt8]
    /// Replies to an agent's `reply_to` are mandatory, so an unroutable one comes back and is counted.
    public var mandatory: Bool

    public init(
        id: Int64 = 0,
        exchange: String,
        routingKey: String,
        correlationID: String?,
        body: [UInt8],
        mandatory: Bool
    ) {
        self.id = id
        self.exchange = exchange
        self.routingKey = routingKey
        self.correlationID = correlationID
        self.body = body
        self.mandatory = mandatory
    }
}

/// The state of an escalated call.
public enum EscalationStatus: String, Sendable {
    case pending
    case allow
    case deny
}

/// A parked tool call waiting for people (or the clock) to decide it.
public struct EscalationRecord: Sendable, Equatable {
    public var requestID: String
    public var workerID: String
    public var agentID: String
    /// `context.session_id` of the call, for budget refunds.
    public var sessionID: String
    public var toolName: String
    /// The call's `arguments` as JSON text (`{}` when absent).
    public var argumentsJSON: String
    public var reason: String?
    public var rule: String?
    public var message: String
    public var policyVersion: String
    public var approvers: [String]
    public var requiredApprovals: Int
    public var requiredDenials: Int
    /// `allow` or `deny`.
    public var timeoutAction: String
    public var createdAt: Millis
    public var deadline: Millis
    public var replyTo: String?
    public var correlationID: String?
    public var status: EscalationStatus
    /// `approved`, `denied` or `timeout` once decided.
    public var resolution: String?
    public var decidedAt: Millis?
    /// Whether the call was charged to the agent's `max_tool_calls` budget when it was parked.
    public var charged: Bool

    public init(
        requestID: String,
        workerID: String,
        agentID: String,
        sessionID: String,
        toolName: String,
        argumentsJSON: String,
        reason: String?,
        rule: String?,
        message: String,
        policyVersion: String,
        approvers: [String],
        requiredApprovals: Int,
        requiredDenials: Int,
        timeoutAction: String,
        createdAt: Millis,
        deadline: Millis,
        replyTo: String?,
        correlationID: String?,
        status: EscalationStatus = .pending,
        resolution: String? = nil,
        decidedAt: Millis? = nil,
        charged: Bool
    ) {
        self.requestID = requestID
        self.workerID = workerID
        self.agentID = agentID
        self.sessionID = sessionID
        self.toolName = toolName
        self.argumentsJSON = argumentsJSON
        self.reason = reason
        self.rule = rule
        self.message = message
        self.policyVersion = policyVersion
        self.approvers = approvers
        self.requiredApprovals = requiredApprovals
        self.requiredDenials = requiredDenials
        self.timeoutAction = timeoutAction
        self.createdAt = createdAt
        self.deadline = deadline
        self.replyTo = replyTo
        self.correlationID = correlationID
        self.status = status
        self.resolution = resolution
        self.decidedAt = decidedAt
        self.charged = charged
    }
}

/// An accepted vote on an escalation.
public struct VoteRecord: Sendable, Equatable {
    public var requestID: String
    public var voter: String
    /// `approve` or `deny`.
    public var decision: String
    public var comment: String?
    public var at: Millis

    public init(requestID: String, voter: String, decision: String, comment: String?, at: Millis) {
        self.requestID = requestID
        self.voter = voter
        self.decision = decision
        self.comment = comment
        self.at = at
    }
}

/// A vote message the worker has handled, so a redelivery gets the same answer and is not
/// counted again.
public struct VoteInputRecord: Sendable, Equatable {
    public var publisher: String
    public var messageID: String?
    public var fingerprint: [UInt8]?
    public var receivedAt: Millis
    /// The answer published to the vote's `reply_to` (empty when it had none).
    public var reply: [UInt8]

    public init(publisher: String, messageID: String?, fingerprint: [UInt8]?, receivedAt: Millis, reply: [UInt8]) {
        self.publisher = publisher
        self.messageID = messageID
        self.fingerprint = fingerprint
        self.receivedAt = receivedAt
        self.reply = reply
    }
}
