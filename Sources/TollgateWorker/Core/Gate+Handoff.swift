import Logging
import TollgateJSON
import TollgateStore

/// A draining worker's hand-over of one agent's (and session's) spent budget to the worker that
/// now owns the agent, published through the consistent-hash exchange with routing key = agent id.
struct BudgetHandoff: Equatable {
    static let kind = "budget-handoff"

    var agentID: String
    var sessionID: String
    var used: Int
    var fromWorker: String

    func encoded() -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.objectField("agent_id", agentID)
        w.objectField("session_id", sessionID)
        w.objectField("used", used)
        w.objectField("from_worker", fromWorker)
        w.endObject()
        return w.bytes
    }

    static func parse(_ body: [UInt8]) -> Result<BudgetHandoff, InvalidInput> {
        let object: JSONObject
        switch parseObject(body) {
        case .failure(let problem): return .failure(problem)
        case .success(let parsed): object = parsed
        }
        var fields = FieldReader(object)
        let agent = fields.requiredString("agent_id", maxBytes: ToolCall.maxNameBytes)
        let session = fields.optionalString("session_id") ?? ""
        let from = fields.requiredString("from_worker", maxBytes: 255)
        if let failure = fields.failure { return .failure(failure) }
        guard let used = object["used"]?.intValue, used >= 0, used <= Int64(Int32.max) else {
            return .failure(InvalidInput("used must be a non-negative integer"))
        }
        guard let agent, let from else { return .failure(InvalidInput("agent_id and from_worker are required")) }
        return .success(BudgetHandoff(agentID: agent, sessionID: session, used: Int(used), fromWorker: from))
    }
}

extension Gate {
    /// Applies a hand-off: only from a broker-vouched worker user, only ever adding, once per
    /// message id. A refused one is dead-lettered with the reason and audited.
    func handleHandoff(_ input: Inbound, now: Millis) throws -> [OutboundMessage] {
        let publisher = input.userID ?? ""
        let handoff: BudgetHandoff
        switch BudgetHandoff.parse(input.body) {
        case .failure(let problem):
            return try refuseHandoff(input, "a malformed budget hand-off: \(problem)", now: now)
        case .success(let parsed): handoff = parsed
        }
        guard configuration.acceptedWorkerUsers.contains(publisher) else {
            return try refuseHandoff(
                input,
                "a budget hand-off from '\(publisher.isEmpty ? "no user_id" : publisher)', which is not a worker user (--worker-user): not applied",
                now: now
            )
        }
        guard input.routingKey == handoff.agentID, let messageID = input.messageID else {
            return try refuseHandoff(input, "a budget hand-off needs routing key = agent_id and a message_id", now: now)
        }
        guard try store.recordHandoff(messageID: messageID, at: now) else { return [] }
        try store.charge(agentID: handoff.agentID, sessionID: handoff.sessionID, delta: handoff.used)
        counters.handoffsReceived += 1
        let scope =
            handoff.sessionID.isEmpty
            ? "agent \(handoff.agentID)" : "agent \(handoff.agentID) in session \(handoff.sessionID)"
        try store.appendAudit(
            AuditRecord(
                at: now,
                kind: .handoff,
                requestID: nil,
                agentID: handoff.agentID,
                toolName: nil,
                decision: nil,
                resolution: nil,
                rule: nil,
                voter: publisher,
                accepted: true,
                detail: "budget of \(scope): +\(handoff.used) from worker \(handoff.fromWorker)",
                policyVersion: nil
            )
        )
        logger.info(
            "took over a budget",
            metadata: [LogKey.agent: "\(handoff.agentID)", "used": "\(handoff.used)", "from": "\(handoff.fromWorker)"]
        )
        return []
    }

    private func refuseHandoff(_ input: Inbound, _ reason: String, now: Millis) throws -> [OutboundMessage] {
        logger.warning("refused a budget hand-off", metadata: [LogKey.reason: "\(reason)"])
        try store.appendAudit(
            AuditRecord(
                at: now,
                kind: .handoff,
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
        return [deadLetter(input, reason: reason, queue: topology.toolCallsQueue)]
    }

    /// Re-homes every budget this worker counts (inside a transaction): the rows are deleted and
    /// each goes, through the outbox, to the consistent-hash exchange with routing key = agent
    /// id, so it reaches the worker that owns the agent now (this one included, which adds it
    /// back). Every count is conserved: the outbox publishes it even after a crash, and the
    /// receiver applies each message id once. Returns the messages to publish.
    func rehome(databaseID: String) throws -> [OutboundMessage] {
        let budgets = try store.budgets()
        guard !budgets.isEmpty else { return [] }
        let epoch = try store.nextRehomeEpoch()
        try store.deleteBudgets()
        counters.handoffsSent += budgets.count
        let messages = budgets.map { budget in
            OutboundMessage(
                exchange: topology.toolCallsExchange,
                routingKey: budget.agentID,
                body: BudgetHandoff(
                    agentID: budget.agentID,
                    sessionID: budget.sessionID,
                    used: budget.used,
                    fromWorker: configuration.workerID
                ).encoded(),
                mandatory: true,
                messageID: "handoff:\(databaseID):\(epoch):\(budget.agentID):\(budget.sessionID)",
                headers: [.init("x-tollgate-kind", BudgetHandoff.kind)],
                asWorker: true
            )
        }
        logger.info(
            "handing the budgets to the workers that own the agents now",
            metadata: ["budgets": "\(budgets.count)"]
        )
        return try enqueue(messages)
    }
}
