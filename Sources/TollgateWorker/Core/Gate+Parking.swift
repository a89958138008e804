import Logging
import TollgateJSON
import TollgatePolicy
import TollgateStore

// Escalating a call: the escalation, its call record and audit entry in one transaction, and the
// pending answer and the notice for approval bots in the outbox.
extension Gate {
    func park(
        _ input: Inbound,
        call: ToolCall,
        verdict: PolicyDecision,
        requestID: String,
        fingerprint: [UInt8]?,
        now: Millis
    ) throws -> [OutboundMessage] {
        let escalation = try parkedEscalation(call, verdict: verdict, requestID: requestID, input: input, now: now)
        try store.insertEscalation(escalation)
        let pending = DecisionMessage(
            requestID: requestID,
            correlationID: input.correlationID,
            agentID: call.agentID,
            toolName: call.toolName,
            decision: .pending,
            resolution: .policy,
            rule: verdict.rule,
            reason: verdict.reason,
            deadline: escalation.deadline,
            policyVersion: policy.versionString
        )
        let pendingBody = pending.encoded()
        counters.count(.pending, .policy)
        counters.pendingChange += 1
        try store.insertCall(
            CallRecord(
                requestID: requestID,
                agentID: call.agentID,
                messageID: input.messageID,
                fingerprint: fingerprint,
                receivedAt: now,
                decision: .pending,
                reply: pendingBody
            )
        )
        try auditParked(escalation, verdict: verdict, now: now)
        logger.info(
            "escalated a tool call",
            metadata: [
                LogKey.requestID: "\(requestID)", LogKey.agent: "\(call.agentID)", LogKey.tool: "\(call.toolName)",
                LogKey.rule: "\(verdict.rule ?? "-")", "deadline": "\(isoTime(escalation.deadline))",
            ]
        )
        return try enqueue(reply(pendingBody, to: input) + [notice(escalation)])
    }

    private func auditParked(_ escalation: EscalationRecord, verdict: PolicyDecision, now: Millis) throws {
        try auditEscalated(escalation, detail: "\(verdict.reason) (\(Self.terms(escalation)))", now: now)
    }

    /// An `escalated` audit entry: a call parked, or moved to its next approval stage.
    func auditEscalated(_ escalation: EscalationRecord, detail: String, now: Millis) throws {
        try store.appendAudit(
            AuditRecord(
                at: now,
                kind: .escalated,
                requestID: escalation.requestID,
                agentID: escalation.agentID,
                toolName: escalation.toolName,
                decision: Decision.pending.rawValue,
                resolution: nil,
                rule: escalation.rule,
                detail: detail,
                policyVersion: escalation.policyVersion
            )
        )
    }

    /// The `pending.<tool>` notice for approval bots, or with the voters so far the `voted.<tool>` one.
    func notice(_ escalation: EscalationRecord, tally: Tally? = nil, note: String? = nil) -> OutboundMessage {
        OutboundMessage(
            exchange: topology.escalationsExchange,
            routingKey: topology.noticeRoutingKey(tally == nil ? .pending : .voted, toolName: escalation.toolName),
            body: noticeBody(escalation, tally: tally, note: note)
        )
    }

    func noticeBody(_ escalation: EscalationRecord, tally: Tally?, note: String? = nil) -> [UInt8] {
        EscalationNotice(
            escalation: escalation,
            approveViaExchange: topology.approvalsExchange,
            approveViaRoutingKey: configuration.workerID,
            tally: tally.map { ($0.approvals, $0.denials, $0.superseded) },
            note: note
        ).encoded()
    }

    /// The escalation record for a call the policy escalated. The call holds a unit of budget
    /// while it waits (a denial gives it back), so people can never approve past the budget.
    private func parkedEscalation(
        _ call: ToolCall,
        verdict: PolicyDecision,
        requestID: String,
        input: Inbound,
        now: Millis
    ) throws -> EscalationRecord {
        let spec = verdict.escalation ?? EscalationSpec()
        var timeout = spec.timeoutSeconds ?? configuration.defaultEscalationTimeoutSeconds
        var approvers = spec.approvers
        var requiredApprovals = spec.requiredApprovals
        var requiredDenials = spec.requiredDenials
        var timeoutAction: FinalDecision = spec.timeoutAction == .allow ? .allow : .deny
        var stagesJSON: String?
        // Stages: the record starts with the first stage's approvers, quorum and deadline; one
        // deny in any stage ends the request.
        let steps = ApprovalStep.steps(spec.stages, defaultTimeout: configuration.defaultEscalationTimeoutSeconds)
        if let first = steps.first {
            timeout = first.timeoutSeconds
            approvers = first.approvers
            requiredApprovals = first.requiredApprovals
            requiredDenials = 1
            timeoutAction = first.finalTimeoutAction
            stagesJSON = ApprovalStep.encode(steps)
        }
        let charged = policy.maxToolCalls != nil
        if charged { try store.charge(agentID: call.agentID, sessionID: call.sessionID, delta: 1) }
        return EscalationRecord(
            requestID: requestID,
            workerID: configuration.workerID,
            agentID: call.agentID,
            sessionID: call.sessionID,
            toolName: call.toolName,
            argumentsJSON: call.argumentsJSON,
            reason: call.reason,
            rule: verdict.rule,
            message: verdict.reason,
            policyVersion: policy.versionString,
            approvers: approvers,
            requiredApprovals: requiredApprovals,
            requiredDenials: requiredDenials,
            timeoutAction: timeoutAction,
            createdAt: now,
            deadline: Self.deadline(now, seconds: timeout),
            replyTo: input.replyTo,
            correlationID: input.correlationID,
            charged: charged,
            // (The two enums have the same cases; an unknown one would ask for a comment always.)
            requireComment: CommentRequirement(rawValue: spec.requireComment.rawValue) ?? .always,
            callContextJSON: String(decoding: JSONValue.object(call.policyContext()).serialized(), as: UTF8.self),
            maxGrantSeconds: spec.maxGrantSeconds,
            stagesJSON: stagesJSON
        )
    }

    /// `seconds` from `now`, rounded up to a whole second, so that the deadline on the wire is
    /// exactly the stored one.
    static func deadline(_ now: Millis, seconds: Int) -> Millis {
        ((now + Millis(seconds) * 1000 + 999) / 1000) * 1000
    }

    /// The quorum and deadline in words, for the audit entry of a parked call.
    static func terms(_ e: EscalationRecord) -> String {
        let who = e.approvers.isEmpty ? "anyone but the agent" : e.approvers.joined(separator: ", ")
        let stages = e.stagesJSON.flatMap(ApprovalStep.decode)
        let stage = stages.flatMap { e.phase < $0.count ? "\($0[e.phase].label) of a staged approval, " : nil } ?? ""
        return stage
            + "approvals \(e.requiredApprovals), denials \(e.requiredDenials), approvers \(who), deadline \(isoTime(e.deadline)), timeout action \(e.timeoutAction.rawValue)"
            + (e.requireComment == .never ? "" : ", comment required: \(e.requireComment.rawValue)")
            + (e.maxGrantSeconds == 0 ? "" : ", grants up to \(e.maxGrantSeconds) s")
    }
}
