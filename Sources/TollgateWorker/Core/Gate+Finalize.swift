import Logging
import TollgateStore

// Final decisions of escalated calls, by people or by the clock: stored once (a request is
// never decided twice), audited, and queued for the agent (and everyone else who asked), the
// decision feed and the approval bots.
extension Gate {
    func finalize(
        _ escalation: EscalationRecord,
        _ decision: FinalDecision,
        resolution: Resolution,
        deciders: [String],
        reason: String,
        now: Millis
    ) throws -> [OutboundMessage] {
        let votes = try store.votes(requestID: escalation.requestID)
        let grant = resolution == .approved ? grantMade(by: deciders, of: escalation, votes: votes, now: now) : nil
        let message = signed(
            DecisionMessage(
                requestID: escalation.requestID,
                correlationID: escalation.correlationID,
                agentID: escalation.agentID,
                toolName: escalation.toolName,
                decision: Decision(decision),
                resolution: resolution,
                rule: escalation.rule,
                reason: reason,
                approvers: deciders,
                deadline: escalation.deadline,
                policyVersion: escalation.policyVersion,
                votes: votes,
                argumentsJSON: escalation.argumentsJSON,
                round: escalation.round,
                grant: grant,
                steps: escalation.stagesJSON.flatMap(ApprovalStep.decode)
            ),
            now: now
        )
        let body = message.encoded()
        guard
            try store.decideEscalation(
                requestID: escalation.requestID,
                decision: decision,
                resolution: resolution,
                at: now,
                finalReply: body
            )
        else { return [] }
        if let grant { try recordGrant(grant, now: now) }
        counters.count(Decision(decision), resolution)
        counters.pendingChange -= 1
        if decision == .deny, escalation.charged {
            try store.charge(agentID: escalation.agentID, sessionID: escalation.sessionID, delta: -1)
        }
        try store.appendAudit(
            AuditRecord(
                at: now,
                kind: .decision,
                requestID: escalation.requestID,
                agentID: escalation.agentID,
                toolName: escalation.toolName,
                decision: decision.rawValue,
                resolution: resolution.rawValue,
                rule: escalation.rule,
                voter: deciders.isEmpty ? nil : deciders.joined(separator: ","),
                detail: reason,
                policyVersion: escalation.policyVersion
            )
        )
        logger.info(
            "decided an escalated call",
            metadata: [
                LogKey.requestID: "\(escalation.requestID)", LogKey.decision: "\(decision.rawValue)",
                LogKey.resolution: "\(resolution.rawValue)",
                "by": "\(deciders.isEmpty ? "-" : deciders.joined(separator: ","))",
            ]
        )
        let handed = try handedFinal(escalation, decision, body: body)
        return try enqueue(try finalMessages(escalation, message: message, body: body) + handed)
    }

    /// The final decision for the agent's `reply_to`, every waiter, the feed and the bots.
    private func finalMessages(
        _ escalation: EscalationRecord,
        message: DecisionMessage,
        body: [UInt8]
    ) throws
        -> [OutboundMessage]
    {
        var messages: [OutboundMessage] = []
        if let replyTo = escalation.replyTo {
            messages.append(replyMessage(body, replyTo: replyTo, correlationID: escalation.correlationID))
        }
        for waiter in try store.waiters(requestID: escalation.requestID) {
            var addressed = message
            addressed.correlationID = waiter.correlationID
            messages.append(
                replyMessage(addressed.encoded(), replyTo: waiter.replyTo, correlationID: waiter.correlationID)
            )
        }
        try store.removeWaiters(requestID: escalation.requestID)
        messages += feedMessages(
            body,
            decision: message.decision,
            toolName: escalation.toolName,
            correlationID: escalation.correlationID
        )
        messages.append(
            OutboundMessage(
                exchange: topology.escalationsExchange,
                routingKey: topology.noticeRoutingKey(.resolved, toolName: escalation.toolName),
                body: body,
                correlationID: escalation.correlationID
            )
        )
        return messages
    }

    /// Decides every pending escalation whose deadline has passed with its timeout action. An
    /// escalation whose record cannot be read is decided `deny` (fail closed) and logged.
    func handleDeadlines(now: Millis, limit: Int = 500) throws -> [OutboundMessage] {
        var messages: [OutboundMessage] = []
        for requestID in try store.dueEscalationIDs(now: now, limit: limit) {
            counters.timeouts += 1
            let escalation: EscalationRecord
            do {
                guard let found = try store.escalation(requestID: requestID) else { continue }
                escalation = found
            } catch {
                // (`catch ... where` on a typed-throws body hangs the Swift 6.3 compiler.)
                guard error.kind == .unreadable else { throw error }
                try decideUnreadable(requestID, error: error, now: now)
                counters.pendingChange -= 1
                continue
            }
            let staged: [ApprovalStep]?
            do {
                staged = try steps(of: escalation)
            } catch {
                // Stages that cannot be read: denied at the deadline (fail closed).
                messages += try finalize(
                    escalation,
                    .deny,
                    resolution: .timeout,
                    deciders: [],
                    reason:
                        "the worker cannot read the approval stages of this request: denied at its deadline (fail closed)",
                    now: now
                )
                continue
            }
            if let staged {
                messages += try stageTimedOut(escalation, steps: staged, now: now)
                continue
            }
            let waited = max(0, (escalation.deadline - escalation.createdAt + 500) / 1000)
            messages += try finalize(
                escalation,
                escalation.timeoutAction,
                resolution: .timeout,
                deciders: [],
                reason: "no decision within \(waited) s: timeout action \(escalation.timeoutAction.rawValue) applied",
                now: now
            )
        }
        return messages
    }

    /// A due escalation whose row cannot be read: marked denied, audited and logged. Nobody can
    /// be told (its `reply_to` is part of what cannot be read); a redelivery of the call gets
    /// nothing final either, only its first answer.
    private func decideUnreadable(_ requestID: String, error: StoreError, now: Millis) throws {
        let reason = "the worker cannot read this escalation (\(error.message)): denied at its deadline (fail closed)"
        logger.error(
            "an escalation cannot be read; denied (fail closed)",
            metadata: [
                LogKey.requestID: "\(requestID)", LogKey.error: "\(error)",
            ]
        )
        try store.decideEscalation(requestID: requestID, decision: .deny, resolution: .timeout, at: now)
        try store.appendAudit(
            AuditRecord(
                at: now,
                kind: .decision,
                requestID: requestID,
                agentID: nil,
                toolName: nil,
                decision: FinalDecision.deny.rawValue,
                resolution: Resolution.timeout.rawValue,
                rule: nil,
                detail: reason,
                policyVersion: nil
            )
        )
    }
}
