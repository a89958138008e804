import Logging
import TollgateJSON
import TollgateStore

// Decisions made at once, without people: recorded (for redeliveries), audited, answered and
// put on the decision feed; refused calls are also dead-lettered with the reason.
extension Gate {
    /// Records and publishes a decision that needs no one. `recordAgentID` keys the call record
    /// (empty when a malformed call names no agent).
    func finishImmediate(
        _ input: Inbound,
        _ message: DecisionMessage,
        recordAgentID: String,
        fingerprint: [UInt8]?,
        now: Millis,
        recordCall: Bool = true
    ) throws -> [OutboundMessage] {
        let body = signed(message, now: now).encoded()
        counters.count(message.decision, message.resolution)
        if recordCall {
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
        }
        try store.appendAudit(
            AuditRecord(
                at: now,
                kind: .decision,
                requestID: message.requestID,
                agentID: message.agentID,
                toolName: message.toolName,
                decision: message.decision.rawValue,
                resolution: message.resolution.rawValue,
                rule: message.rule,
                voter: message.approvers.isEmpty ? nil : message.approvers.joined(separator: ","),
                detail: message.reason,
                policyVersion: message.policyVersion
            )
        )
        let feed = feedMessages(
            body,
            decision: message.decision,
            toolName: message.toolName,
            correlationID: input.correlationID
        )
        return reply(body, to: input) + feed
    }

    /// The message with its receipt when it allows and receipts are on.
    func signed(_ message: DecisionMessage, now: Millis) -> DecisionMessage {
        guard let signer = configuration.receipts, message.decision == .allow else { return message }
        var message = message
        let arguments: JSONValue
        if let stored = message.argumentsJSON {
            arguments = (try? JSONValue.parse(Array(stored.utf8))) ?? .object(JSONObject())
        } else {
            arguments = .object(message.callArguments ?? JSONObject())
        }
        message.receipt = signer.receipt(for: message, arguments: arguments, at: now)
        return message
    }

    /// Answers a malformed (or poison) call `deny`/`invalid` and dead-letters it.
    func rejectToolCall(
        _ input: Inbound,
        reason: String,
        names: (agentID: String?, toolName: String?),
        fingerprint: [UInt8]?,
        now: Millis,
        recordCall: Bool = true
    ) throws -> [OutboundMessage] {
        counters.invalid += 1
        let requestID = makeRequestID()
        let message = DecisionMessage(
            requestID: requestID,
            correlationID: input.correlationID,
            agentID: names.agentID,
            toolName: names.toolName,
            decision: .deny,
            resolution: .invalid,
            rule: nil,
            reason: reason,
            policyVersion: policy.versionString
        )
        logger.warning(
            "rejected a malformed tool call",
            metadata: [
                LogKey.reason: "\(reason)", LogKey.agent: "\(names.agentID ?? "-")",
                LogKey.messageID: "\(input.messageID ?? "-")", LogKey.requestID: "\(requestID)",
            ]
        )
        let answer = try finishImmediate(
            input,
            message,
            recordAgentID: names.agentID ?? "",
            fingerprint: fingerprint,
            now: now,
            recordCall: recordCall
        )
        return [deadLetter(input, reason: reason, queue: topology.toolCallsQueue)] + answer
    }

    /// A call whose own record in the store cannot be read: denied (a record that cannot be
    /// read never widens what is allowed), dead-lettered with the reason, and logged as an
    /// error for an operator. No new record is written (the unreadable one keeps its place).
    func failClosed(
        _ input: Inbound,
        names: (agentID: String?, toolName: String?),
        error: StoreError,
        now: Millis
    ) throws -> [OutboundMessage] {
        logger.error(
            "a record of this call cannot be read; denied (fail closed)",
            metadata: [LogKey.error: "\(error)", LogKey.messageID: "\(input.messageID ?? "-")"]
        )
        return try rejectToolCall(
            input,
            reason: "the worker cannot read its record of this call (\(error.message)): denied (fail closed)",
            names: names,
            fingerprint: nil,
            now: now,
            recordCall: false
        )
    }

    /// A copy of a rejected message for the dead-letter queue, with the reason in
    /// `x-tollgate-error`.
    func deadLetter(_ input: Inbound, reason: String, queue: String) -> OutboundMessage {
        var headers = [OutboundMessage.Header("x-tollgate-error", reason), .init("x-tollgate-queue", queue)]
        // The original user_id cannot be republished (RabbitMQ checks it against Tollgate's
        // login), so it travels as a header.
        if let userID = input.userID { headers.append(.init("x-tollgate-user-id", userID)) }
        return OutboundMessage(
            exchange: topology.deadExchange,
            routingKey: input.routingKey,
            body: input.body,
            correlationID: input.correlationID,
            messageID: input.messageID,
            replyTo: input.replyTo,
            headers: headers
        )
    }
}

extension Gate {
    /// Refuses an input that could not be handled at all (see `WorkerLoop.refuseUnhandleable`):
    /// a tool call is answered `deny`/`invalid`, a vote `accepted: false`; both are dead-lettered
    /// with the reason and audited. Nothing else is written.
    func refuse(_ input: Inbound, reason: String, now: Millis) throws -> [OutboundMessage] {
        switch input.source {
        case .toolCall:
            return try rejectToolCall(
                input,
                reason: reason,
                names: (nil, nil),
                fingerprint: nil,
                now: now,
                recordCall: false
            )
        case .vote:
            counters.votesRejected += 1
            try store.appendAudit(
                AuditRecord(
                    at: now,
                    kind: .vote,
                    requestID: nil,
                    agentID: nil,
                    toolName: nil,
                    decision: nil,
                    resolution: nil,
                    rule: nil,
                    voter: input.userID,
                    accepted: false,
                    detail: reason,
                    policyVersion: nil
                )
            )
            let answer = VoteReply(requestID: Vote.salvageRequestID(input.body), accepted: false, error: reason)
            return [deadLetter(input, reason: reason, queue: topology.approvalsQueue)]
                + reply(answer.encoded(), to: input)
        }
    }
}
