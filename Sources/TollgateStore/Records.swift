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
    public var decision: Decision
    /// The exact reply body published for this call.
    public var reply: [UInt8]
    /// The `database_id` of the worker that decided the call, when the record was handed here
    /// by it (the agent moved on a ring change); nil for this worker's own calls.
    public var adoptedFrom: String?

    public init(
        requestID: String,
        agentID: String,
        messageID: String?,
        fingerprint: [UInt8]?,
        receivedAt: Millis,
        decision: Decision,
        reply: [UInt8],
        adoptedFrom: String? = nil
    ) {
        self.requestID = requestID
        self.agentID = agentID
        self.messageID = messageID
        self.fingerprint = fingerprint
        self.receivedAt = receivedAt
        self.decision = decision
        self.reply = reply
        self.adoptedFrom = adoptedFrom
    }
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
    /// Who may vote; empty: anyone but the requesting agent.
    public var approvers: [String]
    public var requiredApprovals: Int
    public var requiredDenials: Int
    public var timeoutAction: FinalDecision
    public var createdAt: Millis
    public var deadline: Millis
    /// Where the agent that made the call waits for the final decision.
    public var replyTo: String?
    public var correlationID: String?
    public var status: EscalationStatus
    /// `approved`, `denied` or `timeout` once decided.
    public var resolution: Resolution?
    public var decidedAt: Millis?
    /// Whether the call was charged to the agent's `max_tool_calls` budget when it was parked.
    public var charged: Bool
    /// When a vote needs a comment.
    public var requireComment: CommentRequirement
    /// The call as the policy saw it (JSON object text), to evaluate an edited call; nil for
    /// escalations parked before schema version 5 (they cannot be edited).
    public var callContextJSON: String?
    /// 0, and one more for each accepted edit of the arguments.
    public var round: Int
    /// The longest standing grant an approval may ask for (the rule's
    /// `escalation.max_grant_seconds`); 0: none.
    public var maxGrantSeconds: Int
    /// The steps of a staged approval (JSON text, read by the worker); nil without stages.
    public var stagesJSON: String?
    /// The step it is in: `approvers`, the quorum, `deadline` and `timeoutAction` are that step's.
    public var phase: Int

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
        timeoutAction: FinalDecision,
        createdAt: Millis,
        deadline: Millis,
        replyTo: String?,
        correlationID: String?,
        status: EscalationStatus = .pending,
        resolution: Resolution? = nil,
        decidedAt: Millis? = nil,
        charged: Bool,
        requireComment: CommentRequirement = .never,
        callContextJSON: String? = nil,
        round: Int = 0,
        maxGrantSeconds: Int = 0,
        stagesJSON: String? = nil,
        phase: Int = 0
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
        self.requireComment = requireComment
        self.callContextJSON = callContextJSON
        self.round = round
        self.maxGrantSeconds = maxGrantSeconds
        self.stagesJSON = stagesJSON
        self.phase = phase
    }
}

/// Someone else waiting for an escalation's final decision: an agent that retried its call with
/// the same `message_id` from a new `reply_to` (a restarted agent with a new private queue) or
/// with a new `correlation_id`.
public struct WaiterRecord: Sendable, Equatable, Hashable {
    public var replyTo: String
    public var correlationID: String?

    public init(replyTo: String, correlationID: String?) {
        self.replyTo = replyTo
        self.correlationID = correlationID
    }
}

/// An accepted vote on an escalation.
public struct VoteRecord: Sendable, Equatable {
    public var requestID: String
    public var voter: String
    public var decision: VoteChoice
    public var comment: String?
    public var at: Millis
    /// The escalation's round the vote was cast in: only votes of the current round count.
    public var round: Int
    /// The edited arguments (JSON text) of the approval that started its round.
    public var argumentsJSON: String?
    /// The standing grant an approval asks for.
    public var grant: GrantRequest?
    /// The step of a staged approval it was cast in (0 without stages).
    public var phase: Int

    public init(
        requestID: String,
        voter: String,
        decision: VoteChoice,
        comment: String?,
        at: Millis,
        round: Int = 0,
        argumentsJSON: String? = nil,
        grant: GrantRequest? = nil,
        phase: Int = 0
    ) {
        self.requestID = requestID
        self.voter = voter
        self.decision = decision
        self.comment = comment
        self.at = at
        self.round = round
        self.argumentsJSON = argumentsJSON
        self.grant = grant
        self.phase = phase
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

/// The standing grant an approving vote asks for.
public struct GrantRequest: Sendable, Equatable {
    public var scope: GrantScope
    public var ttlSeconds: Int

    public init(scope: GrantScope, ttlSeconds: Int) {
        self.scope = scope
        self.ttlSeconds = ttlSeconds
    }
}

/// A standing grant: until it expires (or is revoked), the agent's calls of the tool that the
/// same rule of the same policy version escalates are allowed without asking, in the session
/// (`sessionID`) or anywhere (`sessionID` nil).
public struct GrantRecord: Sendable, Equatable {
    public var grantID: String
    public var agentID: String
    /// The session it covers; nil for scope `agent`.
    public var sessionID: String?
    public var toolName: String
    public var rule: String?
    public var policyVersion: String
    /// The people whose approvals made it.
    public var approvers: [String]
    /// The request whose approval made it.
    public var requestID: String
    public var createdAt: Millis
    public var expiresAt: Millis
    public var revokedAt: Millis?
    public var revokedBy: String?

    public init(
        grantID: String,
        agentID: String,
        sessionID: String?,
        toolName: String,
        rule: String?,
        policyVersion: String,
        approvers: [String],
        requestID: String,
        createdAt: Millis,
        expiresAt: Millis,
        revokedAt: Millis? = nil,
        revokedBy: String? = nil
    ) {
        self.grantID = grantID
        self.agentID = agentID
        self.sessionID = sessionID
        self.toolName = toolName
        self.rule = rule
        self.policyVersion = policyVersion
        self.approvers = approvers
        self.requestID = requestID
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
        self.revokedBy = revokedBy
    }

    public var scope: GrantScope { sessionID == nil ? .agent : .session }
}
