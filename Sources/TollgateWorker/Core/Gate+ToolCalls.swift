import Logging
import TollgatePolicy
import TollgateStore

// Tool calls: a redelivery or retry is answered from its record; a malformed call is refused;
// the policy decides the rest, and budgets may overrule an allow or an escalation.
extension Gate {
    func handleToolCall(_ input: Inbound, now: Millis) throws -> [OutboundMessage] {
        if input.kind == BudgetHandoff.kind { return try handleHandoff(input, now: now) }
        if input.kind == RehomeMarker.kind { return try handleRehomeMarker(input, now: now) }
        if input.kind == CallRecordsHandoff.kind { return try handleCallRecords(input, now: now) }
        let oversize = sizeProblem(input)
        let parsed: Result<ToolCall, InvalidInput>
        if let oversize {
            parsed = .failure(oversize)
        } else {
            parsed = ToolCall.parse(input.body)
        }
        var named: (agentID: String?, toolName: String?) = (nil, nil)
        switch parsed {
        case .success(let call): named = (call.agentID, call.toolName)
        case .failure: if oversize == nil { named = ToolCall.salvage(input.body) }
        }
        let fingerprint = input.messageID == nil ? input.fingerprint() : nil
        do {
            if let existing = try existingCall(input, agentID: named.agentID ?? "", fingerprint: fingerprint) {
                counters.duplicates += 1
                return try answerAgain(existing, to: input)
            }
            switch admit(input, parsed) {
            case .failure(let problem):
                return try rejectToolCall(
                    input,
                    reason: problem.description,
                    names: named,
                    fingerprint: fingerprint,
                    now: now
                )
            case .success(let call):
                return try decide(call, input: input, fingerprint: fingerprint, now: now)
            }
        } catch let error as StoreError where error.kind == .unreadable {
            return try failClosed(input, names: named, error: error, now: now)
        }
    }

    /// A parsed call that may be evaluated, or why not: malformed, poison, or published with a
    /// routing key other than its agent id (which would let an agent spread its calls over
    /// workers and escape its budget).
    private func admit(_ input: Inbound, _ parsed: Result<ToolCall, InvalidInput>) -> Result<ToolCall, InvalidInput> {
        guard case .success(let call) = parsed else { return parsed }
        if input.deliveryCount >= configuration.deliveryLimit {
            return .failure(
                InvalidInput(
                    "delivered \(input.deliveryCount + 1) times without being settled (it may crash workers); not evaluated"
                )
            )
        }
        if input.routingKey != call.agentID {
            return .failure(
                InvalidInput(
                    "routing key '\(input.routingKey)' is not the agent_id '\(call.agentID)': publish tool calls to \(topology.toolCallsExchange) with routing key = agent_id"
                )
            )
        }
        return .success(call)
    }

    /// The policy's decision, overruled by the budget when it is spent.
    private func decide(
        _ call: ToolCall,
        input: Inbound,
        fingerprint: [UInt8]?,
        now: Millis
    ) throws
        -> [OutboundMessage]
    {
        if let crashingTool, call.toolName == crashingTool { FaultPoints.crash("crash-on-tool \(crashingTool)") }
        let verdict = policy.decide(call.policyContext(), escalationKeyword: configuration.escalationKeyword)
        let requestID = makeRequestID()
        let decided = ImmediateDecision(
            call: call,
            verdict: verdict,
            requestID: requestID,
            policyVersion: policy.versionString
        )
        if verdict.outcome != .deny, let budget = policy.maxToolCalls {
            let session = call.sessionID
            if try store.budgetUsed(agentID: call.agentID, sessionID: session) >= budget {
                counters.limited += 1
                let scope = session.isEmpty ? "agent \(call.agentID)" : "agent \(call.agentID) in session \(session)"
                let message = decided.message(
                    .deny,
                    .limit,
                    reason: "max_tool_calls budget of \(budget) is spent for \(scope)",
                    correlationID: input.correlationID
                )
                return try finishImmediate(
                    input,
                    message,
                    recordAgentID: call.agentID,
                    fingerprint: fingerprint,
                    now: now
                )
            }
        }
        switch verdict.outcome {
        case .allow:
            counters.allowed += 1
            if policy.maxToolCalls != nil {
                try store.charge(agentID: call.agentID, sessionID: call.sessionID, delta: 1)
            }
            let message = decided.message(.allow, .policy, reason: verdict.reason, correlationID: input.correlationID)
            return try finishImmediate(input, message, recordAgentID: call.agentID, fingerprint: fingerprint, now: now)
        case .deny:
            counters.denied += 1
            let message = decided.message(.deny, .policy, reason: verdict.reason, correlationID: input.correlationID)
            return try finishImmediate(input, message, recordAgentID: call.agentID, fingerprint: fingerprint, now: now)
        case .escalate:
            if let grant = try grantCovering(call, verdict: verdict, now: now) {
                counters.granted += 1
                if policy.maxToolCalls != nil {
                    try store.charge(agentID: call.agentID, sessionID: call.sessionID, delta: 1)
                }
                var message = decided.message(
                    .allow,
                    .grant,
                    reason:
                        "allowed by standing grant \(grant.grantID) of \(grant.approvers.joined(separator: ", ")) (\(verdict.reason); made on request \(grant.requestID), until \(isoTime(grant.expiresAt)))",
                    correlationID: input.correlationID
                )
                message.approvers = grant.approvers
                message.grant = grant
                return try finishImmediate(
                    input,
                    message,
                    recordAgentID: call.agentID,
                    fingerprint: fingerprint,
                    now: now
                )
            }
            if let hit = try limitReached(call, verdict: verdict, now: now) {
                return try limitEscalation(input, decided: decided, hit: hit, fingerprint: fingerprint, now: now)
            }
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

    /// The answer to a call seen before, addressed to this message's `reply_to` and
    /// `correlation_id`: its final decision if it has one by now, else the answer it got.
    ///
    /// A message the broker *redelivers* may be one whose first handling was committed but not
    /// all published (the worker died in between): it also gets the decision feed's copy and,
    /// for a refused call, the dead letter again. (A fresh retry with the same `message_id` gets
    /// only its reply: the original message was either acked, after all its publishes were
    /// confirmed, or is redelivered itself.) A retry of a parked call from another `reply_to` or
    /// with another `correlation_id` is remembered: the final decision goes there too.
    private func answerAgain(_ existing: CallRecord, to input: Inbound) throws -> [OutboundMessage] {
        guard existing.decision == .pending else {
            var messages = reply(answering(existing.reply, correlationID: input.correlationID), to: input)
            // An adopted record's feed copy and dead letter were published by the worker that
            // decided it.
            if input.redelivered, existing.adoptedFrom == nil, let stored = StoredDecision(existing.reply) {
                messages += feedMessages(
                    existing.reply,
                    decision: existing.decision,
                    toolName: stored.toolName,
                    correlationID: stored.correlationID
                )
                if stored.resolution == .invalid {
                    messages.append(
                        deadLetter(input, reason: stored.reason ?? "invalid", queue: topology.toolCallsQueue)
                    )
                }
            }
            return messages
        }
        if existing.adoptedFrom != nil {
            // Pending at the worker that parked it: its final decision is handed here after it.
            try rememberAdoptedWaiter(input, existing)
            return reply(answering(existing.reply, correlationID: input.correlationID), to: input)
        }
        if let final = try store.finalReply(requestID: existing.requestID), !final.isEmpty {
            return reply(answering(final, correlationID: input.correlationID), to: input)
        }
        try rememberWaiter(input, requestID: existing.requestID)
        return reply(answering(existing.reply, correlationID: input.correlationID), to: input)
    }

    /// At most this many extra waiters per request: a client retrying in a loop with fresh
    /// queues cannot make the final decision fan out without end.
    static let maxWaiters = 16

    private func rememberWaiter(_ input: Inbound, requestID: String) throws {
        guard let replyTo = input.replyTo, let escalation = try store.escalation(requestID: requestID) else { return }
        let waiter = WaiterRecord(replyTo: replyTo, correlationID: input.correlationID)
        if escalation.replyTo == waiter.replyTo, escalation.correlationID == waiter.correlationID { return }
        try addWaiter(waiter, requestID: requestID)
    }

    /// Remembers a waiter for a request's final decision, once, and at most `maxWaiters` of them.
    func addWaiter(_ waiter: WaiterRecord, requestID: String) throws {
        let known = try store.waiters(requestID: requestID)
        guard !known.contains(waiter) else { return }
        guard known.count < Self.maxWaiters else {
            logger.warning(
                "too many retries from other reply queues; this one gets no final decision",
                metadata: [LogKey.requestID: "\(requestID)", "reply_to": "\(waiter.replyTo)"]
            )
            return
        }
        try store.addWaiter(waiter, requestID: requestID)
    }
}

/// The parts of a decision made at once that do not depend on how it was reached.
struct ImmediateDecision {
    let call: ToolCall
    let verdict: PolicyDecision
    let requestID: String
    let policyVersion: String

    func message(
        _ decision: Decision,
        _ resolution: Resolution,
        reason: String,
        correlationID: String?
    )
        -> DecisionMessage
    {
        DecisionMessage(
            requestID: requestID,
            correlationID: correlationID,
            agentID: call.agentID,
            toolName: call.toolName,
            decision: decision,
            resolution: resolution,
            rule: verdict.rule,
            reason: reason,
            policyVersion: policyVersion,
            callArguments: call.arguments
        )
    }
}
