import Crypto
import Foundation
import Logging
import TollgateJSON
import TollgatePolicy
import TollgateStore

/// A message taken from one of the worker's queues, in Swift terms.
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
    var redelivered: Bool
    /// `x-delivery-count` of quorum queues: how many earlier deliveries were not settled.
    var deliveryCount: Int

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

/// A message to publish because of an input or a state change.
struct Publish {
    var exchange: String
    var routingKey: String
    var body: [UInt8]
    var correlationID: String?
    var mandatory: Bool
    /// Properties of a rejected message that is copied to the dead-letter exchange.
    var messageID: String? = nil
    var replyTo: String? = nil
    var headers: [(String, String)] = []
    /// Set when the message is in the store's outbox: delete that row once confirmed.
    var outboxID: Int64? = nil
}

/// Counters for the progress log and the tests.
public struct WorkerCounters: Sendable, Equatable {
    public var allowed = 0
    public var denied = 0
    public var escalated = 0
    public var invalid = 0
    public var limited = 0
    public var duplicates = 0
    public var votesAccepted = 0
    public var votesRejected = 0
    public var approved = 0
    public var rejectedByPeople = 0
    public var timeouts = 0
    public var unroutable = 0
    public var publishNacks = 0

    public var calls: Int { allowed + denied + escalated + invalid + limited }

    public init() {}
}

/// The decisions of the worker, free of AMQP: takes inputs, reads and writes the store inside
/// the caller's transaction, and says what must be published. The event loop
/// (`WorkerLoop`) does the broker side.
final class Gate {
    private let configuration: WorkerConfiguration
    private let topology: Topology
    private let store: Store
    private let logger: Logger
    var policy: LoadedPolicy
    private(set) var counters = WorkerCounters()
    private let crashingTool = FaultPoints.crashingTool()
    private var requestIDs: RequestIDGenerator

    init(configuration: WorkerConfiguration, store: Store, policy: LoadedPolicy, logger: Logger) {
        self.configuration = configuration
        self.topology = Topology(prefix: configuration.prefix, workerID: configuration.workerID)
        self.store = store
        self.policy = policy
        self.logger = logger
        self.requestIDs = RequestIDGenerator(workerID: configuration.workerID)
    }

    // MARK: - Tool calls

    /// Decides one tool call. Must run inside a store transaction.
    func handleToolCall(_ input: Inbound, now: Millis) throws -> [Publish] {
        // 1. A redelivery of a call already decided gets the same answer, and nothing else.
        let tooLarge = input.body.count > configuration.maxMessageBytes
        let parsed: Result<ToolCall, InvalidInput> =
            tooLarge
            ? .failure(
                InvalidInput(
                    "message of \(input.body.count) bytes exceeds the limit of \(configuration.maxMessageBytes) bytes"
                )
            )
            : ToolCall.parse(input.body)
        let agentForKey: String?
        switch parsed {
        case .success(let call): agentForKey = call.agentID
        case .failure: agentForKey = tooLarge ? nil : ToolCall.salvage(input.body).agentID
        }
        let fingerprint = input.messageID == nil ? input.fingerprint() : nil
        if let existing = try existingCall(input, agentID: agentForKey ?? "", fingerprint: fingerprint) {
            counters.duplicates += 1
            return try repeatReply(existing, to: input)
        }

        // 2. Malformed input: dead-lettered with the reason and answered.
        var call: ToolCall
        switch parsed {
        case .failure(let problem):
            return try rejectToolCall(
                input,
                reason: problem.description,
                agentID: agentForKey,
                fingerprint: fingerprint,
                now: now
            )
        case .success(let ok):
            call = ok
        }
        if input.deliveryCount >= configuration.deliveryLimit {
            return try rejectToolCall(
                input,
                reason:
                    "delivered \(input.deliveryCount + 1) times without being settled (it may crash workers); not evaluated",
                agentID: call.agentID,
                fingerprint: fingerprint,
                now: now
            )
        }
        if !input.routingKey.isEmpty, input.routingKey != call.agentID {
            return try rejectToolCall(
                input,
                reason:
                    "routing key '\(input.routingKey)' is not the agent_id '\(call.agentID)': publish tool calls to \(topology.toolCallsExchange) with routing key = agent_id",
                agentID: call.agentID,
                fingerprint: fingerprint,
                now: now
            )
        }

        if let crashingTool, call.toolName == crashingTool { FaultPoints.crash("crash-on-tool \(crashingTool)") }

        // 3. The policy decides; budgets may overrule an allow or an escalation.
        let verdict = policy.decide(call.policyContext(), escalationKeyword: configuration.escalationKeyword)
        let requestID = makeRequestID()
        let session = call.sessionID
        /// Records and publishes a decision made now, without people.
        func decideNow(_ decision: String, resolution: String, reason: String) throws -> [Publish] {
            let message = DecisionMessage(
                requestID: requestID,
                correlationID: input.correlationID,
                agentID: call.agentID,
                toolName: call.toolName,
                decision: decision,
                resolution: resolution,
                rule: verdict.rule,
                reason: reason,
                policyVersion: policy.versionString
            )
            return try finishImmediate(
                input,
                message: message,
                recordAgentID: call.agentID,
                fingerprint: fingerprint,
                now: now
            )
        }
        if verdict.outcome != .deny, let budget = policy.maxToolCalls {
            let used = try store.budgetUsed(agentID: call.agentID, sessionID: session)
            if used >= budget {
                counters.limited += 1
                let scope = session.isEmpty ? "agent \(call.agentID)" : "agent \(call.agentID) in session \(session)"
                return try decideNow(
                    "deny",
                    resolution: "limit",
                    reason: "max_tool_calls budget of \(budget) is spent for \(scope)"
                )
            }
        }

        switch verdict.outcome {
        case .allow:
            counters.allowed += 1
            if policy.maxToolCalls != nil { try store.charge(agentID: call.agentID, sessionID: session, delta: 1) }
            return try decideNow("allow", resolution: "policy", reason: verdict.reason)
        case .deny:
            counters.denied += 1
            return try decideNow("deny", resolution: "policy", reason: verdict.reason)
        case .escalate:
            counters.escalated += 1
            return try park(
                input,
                call: call,
                verdict: verdict,
                requestID: requestID,
                fingerprint: fingerprint,
                now: now
            )
        }
    }

    private func existingCall(_ input: Inbound, agentID: String, fingerprint: [UInt8]?) throws -> CallRecord? {
        if let messageID = input.messageID {
            return try store.call(agentID: agentID, messageID: messageID)
        }
        // Without message_id, only a message the broker marks redelivered is looked up: two
        // identical fresh calls are two calls.
        if input.redelivered, let fingerprint {
            return try store.call(fingerprint: fingerprint)
        }
        return nil
    }

    /// The reply a redelivered call gets: its final decision if it has one by now, else the
    /// reply it got the first time.
    private func repeatReply(_ existing: CallRecord, to input: Inbound) throws -> [Publish] {
        guard input.replyTo != nil else { return [] }
        var body = existing.reply
        if existing.decision == "pending", let final = try store.finalReply(requestID: existing.requestID),
            !final.isEmpty
        {
            body = final
        }
        return reply(body, to: input)
    }

    /// Records and publishes a decision that needs no one: the call record (for redeliveries),
    /// the audit entry, the reply and the decision feed. `recordAgentID` keys the call record
    /// (empty when a malformed call names no agent).
    private func finishImmediate(
        _ input: Inbound,
        message: DecisionMessage,
        recordAgentID: String,
        fingerprint: [UInt8]?,
        now: Millis
    ) throws -> [Publish] {
        let body = message.encoded()
        try store.insertCall(
            CallRecord(
                requestID: message.requestID ?? "",
                agentID: recordAgentID,
                messageID: input.messageID,
                fingerprint: fingerprint,
                receivedAt: now,
                decision: message.decision,
                reply: body
            )
        )
        try store.appendAudit(
            AuditRecord(
                at: now,
                kind: .decision,
                requestID: message.requestID,
                agentID: message.agentID,
                toolName: message.toolName,
                decision: message.decision,
                resolution: message.resolution,
                rule: message.rule,
                detail: message.reason,
                policyVersion: message.policyVersion
            )
        )
        let feed = Publish(
            exchange: topology.decisionsExchange,
            routingKey: "\(message.decision).\(message.toolName ?? "_invalid")",
            body: body,
            correlationID: input.correlationID,
            mandatory: false
        )
        return reply(body, to: input) + [feed]
    }

    /// Answers a malformed (or poison) call `deny`/`invalid` and dead-letters it.
    private func rejectToolCall(
        _ input: Inbound,
        reason: String,
        agentID: String?,
        fingerprint: [UInt8]?,
        now: Millis
    ) throws -> [Publish] {
        counters.invalid += 1
        let names: (agentID: String?, toolName: String?) =
            input.body.count > configuration.maxMessageBytes ? (nil, nil) : ToolCall.salvage(input.body)
        let requestID = makeRequestID()
        let message = DecisionMessage(
            requestID: requestID,
            correlationID: input.correlationID,
            agentID: agentID ?? names.agentID,
            toolName: names.toolName,
            decision: "deny",
            resolution: "invalid",
            rule: nil,
            reason: reason,
            policyVersion: policy.versionString
        )
        logger.warning(
            "rejected a malformed tool call",
            metadata: [
                LogKey.reason: "\(reason)", LogKey.agent: "\(message.agentID ?? "-")",
                LogKey.messageID: "\(input.messageID ?? "-")", LogKey.requestID: "\(requestID)",
            ]
        )
        return try [deadLetter(input, reason: reason, queue: topology.toolCallsQueue)]
            + finishImmediate(input, message: message, recordAgentID: agentID ?? "", fingerprint: fingerprint, now: now)
    }

    /// A copy of a rejected message for the dead-letter queue, with the reason in
    /// `x-tollgate-error`.
    private func deadLetter(_ input: Inbound, reason: String, queue: String) -> Publish {
        var headers = [("x-tollgate-error", reason), ("x-tollgate-queue", queue)]
        // The original user_id cannot be republished (RabbitMQ checks it against Tollgate's
        // login), so it travels as a header.
        if let userID = input.userID { headers.append(("x-tollgate-user-id", userID)) }
        return Publish(
            exchange: topology.deadExchange,
            routingKey: input.routingKey,
            body: input.body,
            correlationID: input.correlationID,
            mandatory: false,
            messageID: input.messageID,
            replyTo: input.replyTo,
            headers: headers
        )
    }

    // MARK: - Escalations

    private func park(
        _ input: Inbound,
        call: ToolCall,
        verdict: PolicyVerdict,
        requestID: String,
        fingerprint: [UInt8]?,
        now: Millis
    ) throws -> [Publish] {
        let terms = verdict.escalation
        let timeout = terms.timeoutSeconds ?? configuration.defaultEscalationTimeoutSeconds
        // Whole seconds, so the deadline on the wire is exactly the stored one.
        let deadline = ((now + Millis(timeout) * 1000 + 999) / 1000) * 1000
        let charged = policy.maxToolCalls != nil
        if charged {
            // The call holds a unit of budget while it waits; a denial gives it back.
            try store.charge(agentID: call.agentID, sessionID: call.sessionID, delta: 1)
        }
        let argumentsJSON =
            call.arguments.map { String(decoding: JSONValue.object($0).serialized(), as: UTF8.self) } ?? "{}"
        let record = EscalationRecord(
            requestID: requestID,
            workerID: configuration.workerID,
            agentID: call.agentID,
            sessionID: call.sessionID,
            toolName: call.toolName,
            argumentsJSON: argumentsJSON,
            reason: call.reason,
            rule: verdict.rule,
            message: verdict.reason,
            policyVersion: policy.versionString,
            approvers: terms.approvers,
            requiredApprovals: terms.requiredApprovals,
            requiredDenials: terms.requiredDenials,
            timeoutAction: terms.timeoutAction,
            createdAt: now,
            deadline: deadline,
            replyTo: input.replyTo,
            correlationID: input.correlationID,
            charged: charged
        )
        try store.insertEscalation(record)
        let pending = DecisionMessage(
            requestID: requestID,
            correlationID: input.correlationID,
            agentID: call.agentID,
            toolName: call.toolName,
            decision: "pending",
            resolution: "policy",
            rule: verdict.rule,
            reason: verdict.reason,
            deadline: deadline,
            policyVersion: policy.versionString
        )
        let pendingBody = pending.encoded()
        try store.insertCall(
            CallRecord(
                requestID: requestID,
                agentID: call.agentID,
                messageID: input.messageID,
                fingerprint: fingerprint,
                receivedAt: now,
                decision: "pending",
                reply: pendingBody
            )
        )
        try store.appendAudit(
            AuditRecord(
                at: now,
                kind: .escalated,
                requestID: requestID,
                agentID: call.agentID,
                toolName: call.toolName,
                decision: "pending",
                resolution: nil,
                rule: verdict.rule,
                detail:
                    "\(verdict.reason) (approvals \(terms.requiredApprovals), denials \(terms.requiredDenials), approvers \(terms.approvers.isEmpty ? "anyone but the agent" : terms.approvers.joined(separator: ", ")), deadline \(isoTime(deadline)), timeout action \(terms.timeoutAction))",
                policyVersion: policy.versionString
            )
        )
        let notice = EscalationNotice(
            requestID: requestID,
            agentID: call.agentID,
            toolName: call.toolName,
            argumentsJSON: argumentsJSON,
            reason: call.reason,
            rule: verdict.rule,
            message: verdict.reason,
            createdAt: now,
            deadline: deadline,
            timeoutAction: terms.timeoutAction,
            requiredApprovals: terms.requiredApprovals,
            requiredDenials: terms.requiredDenials,
            approvers: terms.approvers,
            approveViaExchange: topology.approvalsExchange,
            approveViaRoutingKey: configuration.workerID,
            policyVersion: policy.versionString
        )
        var outbox: [OutboxMessage] = []
        if let replyTo = input.replyTo {
            outbox.append(
                OutboxMessage(
                    exchange: "",
                    routingKey: replyTo,
                    correlationID: input.correlationID,
                    body: pendingBody,
                    mandatory: true
                )
            )
        }
        outbox.append(
            OutboxMessage(
                exchange: topology.escalationsExchange,
                routingKey: "pending.\(call.toolName)",
                correlationID: nil,
                body: notice.encoded(),
                mandatory: false
            )
        )
        logger.info(
            "escalated a tool call",
            metadata: [
                LogKey.requestID: "\(requestID)", LogKey.agent: "\(call.agentID)", LogKey.tool: "\(call.toolName)",
                LogKey.rule: "\(verdict.rule ?? "-")", "deadline": "\(isoTime(deadline))",
            ]
        )
        return try enqueue(outbox)
    }

    /// Writes messages to the outbox (same transaction as the change that causes them) and
    /// returns them ready to publish.
    private func enqueue(_ messages: [OutboxMessage]) throws -> [Publish] {
        var publishes: [Publish] = []
        for message in messages {
            let id = try store.enqueue(message)
            publishes.append(Publish(outbox: message, id: id))
        }
        return publishes
    }

    /// Decides a parked call for good: stores it, audits it and queues the final decision for
    /// the agent, the decision feed and the approval bots.
    private func finalize(
        _ escalation: EscalationRecord,
        allow: Bool,
        resolution: String,
        deciders: [String],
        reason: String,
        now: Millis
    ) throws -> [Publish] {
        let message = DecisionMessage(
            requestID: escalation.requestID,
            correlationID: escalation.correlationID,
            agentID: escalation.agentID,
            toolName: escalation.toolName,
            decision: allow ? "allow" : "deny",
            resolution: resolution,
            rule: escalation.rule,
            reason: reason,
            approvers: deciders,
            deadline: escalation.deadline,
            policyVersion: escalation.policyVersion
        )
        let body = message.encoded()
        guard
            try store.decideEscalation(
                requestID: escalation.requestID,
                status: allow ? .allow : .deny,
                resolution: resolution,
                at: now,
                finalReply: body
            )
        else {
            return []
        }
        if !allow, escalation.charged {
            try store.charge(agentID: escalation.agentID, sessionID: escalation.sessionID, delta: -1)
        }
        try store.appendAudit(
            AuditRecord(
                at: now,
                kind: .decision,
                requestID: escalation.requestID,
                agentID: escalation.agentID,
                toolName: escalation.toolName,
                decision: message.decision,
                resolution: resolution,
                rule: escalation.rule,
                voter: deciders.isEmpty ? nil : deciders.joined(separator: ","),
                detail: reason,
                policyVersion: escalation.policyVersion
            )
        )
        logger.info(
            "decided an escalated call",
            metadata: [
                LogKey.requestID: "\(escalation.requestID)", LogKey.decision: "\(message.decision)",
                "resolution": "\(resolution)", "by": "\(deciders.isEmpty ? "-" : deciders.joined(separator: ","))",
            ]
        )
        var outbox: [OutboxMessage] = []
        if let replyTo = escalation.replyTo {
            outbox.append(
                OutboxMessage(
                    exchange: "",
                    routingKey: replyTo,
                    correlationID: escalation.correlationID,
                    body: body,
                    mandatory: true
                )
            )
        }
        outbox.append(
            OutboxMessage(
                exchange: topology.decisionsExchange,
                routingKey: "\(message.decision).\(escalation.toolName)",
                correlationID: escalation.correlationID,
                body: body,
                mandatory: false
            )
        )
        outbox.append(
            OutboxMessage(
                exchange: topology.escalationsExchange,
                routingKey: "resolved.\(escalation.toolName)",
                correlationID: escalation.correlationID,
                body: body,
                mandatory: false
            )
        )
        return try enqueue(outbox)
    }

    /// Decides every pending escalation whose deadline has passed with its timeout action.
    func handleDeadlines(now: Millis, limit: Int = 500) throws -> [Publish] {
        var publishes: [Publish] = []
        for escalation in try store.dueEscalations(now: now, limit: limit) {
            counters.timeouts += 1
            let allow = escalation.timeoutAction == "allow"
            let waited = max(0, (escalation.deadline - escalation.createdAt + 500) / 1000)
            publishes += try finalize(
                escalation,
                allow: allow,
                resolution: "timeout",
                deciders: [],
                reason: "no decision within \(waited) s: timeout action \(escalation.timeoutAction) applied",
                now: now
            )
        }
        return publishes
    }

    // MARK: - Votes

    /// Applies one vote. Must run inside a store transaction.
    func handleVote(_ input: Inbound, now: Millis) throws -> [Publish] {
        let publisher = input.userID ?? ""
        let fingerprint = input.messageID == nil ? input.fingerprint() : nil
        if let messageID = input.messageID, let seen = try store.voteInput(publisher: publisher, messageID: messageID) {
            counters.duplicates += 1
            return reply(seen.reply, to: input)
        }
        if input.messageID == nil, input.redelivered, let fingerprint,
            let seen = try store.voteInput(fingerprint: fingerprint)
        {
            counters.duplicates += 1
            return reply(seen.reply, to: input)
        }

        var publishes: [Publish] = []
        let answer: VoteReply
        switch evaluateVote(input, now: now) {
        case .invalid(let problem, let requestID):
            counters.votesRejected += 1
            answer = VoteReply(requestID: requestID, accepted: false, error: problem)
            publishes.append(deadLetter(input, reason: problem, queue: topology.approvalsQueue))
            try auditVote(
                input,
                requestID: requestID,
                escalation: nil,
                voter: input.userID,
                decision: nil,
                accepted: false,
                detail: problem,
                now: now
            )
        case .rejected(let problem, let vote, let escalation, let voter):
            counters.votesRejected += 1
            answer = VoteReply(requestID: vote.requestID, accepted: false, error: problem)
            try auditVote(
                input,
                requestID: vote.requestID,
                escalation: escalation,
                voter: voter,
                decision: vote.decision,
                accepted: false,
                detail: problem,
                now: now
            )
            logger.notice(
                "rejected a vote",
                metadata: [
                    LogKey.requestID: "\(vote.requestID)", "voter": "\(voter ?? "-")", LogKey.reason: "\(problem)",
                ]
            )
        case .accepted(let vote, let escalation, let voter, let gatewayNote):
            counters.votesAccepted += 1
            try store.insertVote(
                VoteRecord(
                    requestID: vote.requestID,
                    voter: voter,
                    decision: vote.decision,
                    comment: vote.comment,
                    at: now
                )
            )
            var detail = vote.comment ?? ""
            if let gatewayNote { detail = detail.isEmpty ? gatewayNote : "\(detail) (\(gatewayNote))" }
            try auditVote(
                input,
                requestID: vote.requestID,
                escalation: escalation,
                voter: voter,
                decision: vote.decision,
                accepted: true,
                detail: detail.isEmpty ? nil : detail,
                now: now
            )
            let votes = try store.votes(requestID: vote.requestID)
            let approvers = votes.filter { $0.decision == "approve" }.map(\.voter)
            let deniers = votes.filter { $0.decision == "deny" }.map(\.voter)
            var status = "pending"
            if deniers.count >= escalation.requiredDenials {
                counters.rejectedByPeople += 1
                status = "deny"
                publishes += try finalize(
                    escalation,
                    allow: false,
                    resolution: "denied",
                    deciders: deniers,
                    reason: "denied by \(deniers.joined(separator: ", "))" + (vote.comment.map { ": \($0)" } ?? ""),
                    now: now
                )
            } else if approvers.count >= escalation.requiredApprovals {
                counters.approved += 1
                status = "allow"
                publishes += try finalize(
                    escalation,
                    allow: true,
                    resolution: "approved",
                    deciders: approvers,
                    reason: "approved by \(approvers.joined(separator: ", "))" + (vote.comment.map { ": \($0)" } ?? ""),
                    now: now
                )
            }
            answer = VoteReply(requestID: vote.requestID, accepted: true, status: status)
        }
        let replyBody = input.replyTo == nil ? [] : answer.encoded()
        try store.insertVoteInput(
            VoteInputRecord(
                publisher: publisher,
                messageID: input.messageID,
                fingerprint: fingerprint,
                receivedAt: now,
                reply: replyBody
            )
        )
        publishes += reply(replyBody, to: input)
        return publishes
    }

    private enum VoteOutcome {
        case invalid(String, requestID: String?)
        case rejected(String, Vote, EscalationRecord?, voter: String?)
        case accepted(Vote, EscalationRecord, voter: String, gatewayNote: String?)
    }

    private func evaluateVote(_ input: Inbound, now: Millis) -> VoteOutcome {
        if input.body.count > configuration.maxMessageBytes {
            return .invalid(
                "message of \(input.body.count) bytes exceeds the limit of \(configuration.maxMessageBytes) bytes",
                requestID: nil
            )
        }
        let vote: Vote
        switch Vote.parse(input.body) {
        case .failure(let problem): return .invalid(problem.description, requestID: Vote.salvageRequestID(input.body))
        case .success(let parsed): vote = parsed
        }
        guard let userID = input.userID, !userID.isEmpty else {
            return .rejected(
                "vote has no user_id property: publish it with user_id set to your RabbitMQ user name (the broker checks it)",
                vote,
                nil,
                voter: nil
            )
        }
        var voter = userID
        var gatewayNote: String?
        if let approver = vote.approver {
            if configuration.trustedGateways.contains(userID) {
                voter = approver
                gatewayNote = "via trusted gateway \(userID)"
            } else {
                gatewayNote = "approver field '\(approver)' ignored: \(userID) is not a trusted gateway"
            }
        }
        let escalation: EscalationRecord?
        do {
            escalation = try store.escalation(requestID: vote.requestID)
        } catch {
            return .rejected("the worker could not read request \(vote.requestID): \(error)", vote, nil, voter: voter)
        }
        guard let escalation else {
            return .rejected(
                "request \(vote.requestID) is not held by worker \(configuration.workerID)",
                vote,
                nil,
                voter: voter
            )
        }
        guard escalation.status == .pending else {
            return .rejected(
                "request \(vote.requestID) is already decided: \(escalation.status.rawValue) (\(escalation.resolution ?? "-"))",
                vote,
                escalation,
                voter: voter
            )
        }
        if voter == escalation.agentID {
            return .rejected(
                "\(voter) is the agent that made the request and cannot vote on it",
                vote,
                escalation,
                voter: voter
            )
        }
        if !escalation.approvers.isEmpty, !escalation.approvers.contains(voter) {
            return .rejected(
                "\(voter) is not an approver of this request (approvers: \(escalation.approvers.joined(separator: ", ")))",
                vote,
                escalation,
                voter: voter
            )
        }
        do {
            if try store.votes(requestID: vote.requestID).contains(where: { $0.voter == voter }) {
                return .rejected(
                    "\(voter) has already voted on request \(vote.requestID)",
                    vote,
                    escalation,
                    voter: voter
                )
            }
        } catch {
            return .rejected(
                "the worker could not read the votes of \(vote.requestID): \(error)",
                vote,
                escalation,
                voter: voter
            )
        }
        return .accepted(vote, escalation, voter: voter, gatewayNote: gatewayNote)
    }

    private func auditVote(
        _ input: Inbound,
        requestID: String?,
        escalation: EscalationRecord?,
        voter: String?,
        decision: String?,
        accepted: Bool,
        detail: String?,
        now: Millis
    ) throws {
        try store.appendAudit(
            AuditRecord(
                at: now,
                kind: .vote,
                requestID: requestID,
                agentID: escalation?.agentID,
                toolName: escalation?.toolName,
                decision: decision,
                resolution: nil,
                rule: escalation?.rule,
                voter: voter,
                accepted: accepted,
                detail: detail,
                policyVersion: escalation?.policyVersion
            )
        )
    }

    private func reply(_ body: [UInt8], to input: Inbound) -> [Publish] {
        guard let replyTo = input.replyTo, !body.isEmpty else { return [] }
        return [
            Publish(exchange: "", routingKey: replyTo, body: body, correlationID: input.correlationID, mandatory: true)
        ]
    }

    // MARK: -

    private func makeRequestID() -> String { requestIDs.next() }

    func countUnroutable() { counters.unroutable += 1 }
    func countPublishNack() { counters.publishNacks += 1 }
}

extension Publish {
    init(outbox message: OutboxMessage, id: Int64) {
        self.init(
            exchange: message.exchange,
            routingKey: message.routingKey,
            body: message.body,
            correlationID: message.correlationID,
            mandatory: message.mandatory,
            outboxID: id
        )
    }
}

/// Names of log metadata keys, so logs can be searched consistently.
enum LogKey {
    static let agent = "agent"
    static let tool = "tool"
    static let requestID = "request_id"
    static let messageID = "message_id"
    static let reason = "reason"
    static let rule = "rule"
    static let decision = "decision"
    static let error = "error"
}
