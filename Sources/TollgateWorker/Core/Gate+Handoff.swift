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
    /// The sender's database and re-homing: when the hand-off comes back to the database that
    /// sent it, the count it carried is no longer in transit there.
    var databaseID: String?
    var epoch: Int?

    func encoded() -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.objectField("agent_id", agentID)
        w.objectField("session_id", sessionID)
        w.objectField("used", used)
        w.objectField("from_worker", fromWorker)
        if let databaseID, let epoch {
            w.objectField("database_id", databaseID)
            w.objectField("epoch", epoch)
        }
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
        let origin = RehomeMarker.origin(object)
        return .success(
            BudgetHandoff(
                agentID: agent,
                sessionID: session,
                used: Int(used),
                fromWorker: from,
                databaseID: origin?.databaseID,
                epoch: origin?.epoch
            )
        )
    }
}

/// Published by a re-homing worker to its own shard queue after the hand-offs: every hand-off of
/// that re-homing that the ring routed back to this worker is ahead of it in the queue (one
/// channel, one queue: RabbitMQ keeps their order), so when it arrives, the counts still in
/// transit went to other workers and stop counting here.
struct RehomeMarker: Equatable {
    static let kind = "rehome-marker"

    var databaseID: String
    var epoch: Int
    var fromWorker: String

    func encoded() -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.objectField("database_id", databaseID)
        w.objectField("epoch", epoch)
        w.objectField("from_worker", fromWorker)
        w.endObject()
        return w.bytes
    }

    static func parse(_ body: [UInt8]) -> Result<RehomeMarker, InvalidInput> {
        guard case .success(let object) = parseObject(body), let origin = origin(object),
            let from = object["from_worker"]?.stringValue
        else {
            return .failure(InvalidInput("a re-homing marker needs database_id, epoch and from_worker"))
        }
        return .success(RehomeMarker(databaseID: origin.databaseID, epoch: origin.epoch, fromWorker: from))
    }

    /// `database_id` and `epoch`, when both are there and well-formed.
    static func origin(_ object: JSONObject) -> (databaseID: String, epoch: Int)? {
        guard let database = object["database_id"]?.stringValue, !database.isEmpty,
            let epoch = object["epoch"]?.intValue, epoch > 0, epoch <= Int64(Int32.max)
        else { return nil }
        return (database, Int(epoch))
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
        if let refusal = notFromWorker(publisher, "a budget hand-off") {
            return try refuseHandoff(input, refusal, now: now)
        }
        guard input.routingKey == handoff.agentID, let messageID = input.messageID else {
            return try refuseHandoff(input, "a budget hand-off needs routing key = agent_id and a message_id", now: now)
        }
        guard try store.recordHandoff(messageID: messageID, at: now) else { return [] }
        try store.charge(agentID: handoff.agentID, sessionID: handoff.sessionID, delta: handoff.used)
        if let epoch = handoff.epoch, handoff.databaseID == (try store.databaseID()) {
            try store.budgetArrived(agentID: handoff.agentID, sessionID: handoff.sessionID, epoch: epoch)
        }
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

    /// The end of one of this worker's re-homings: only from a worker user, only for this
    /// database. A refused one is dead-lettered with the reason and audited, and changes nothing.
    func handleRehomeMarker(_ input: Inbound, now: Millis) throws -> [OutboundMessage] {
        let publisher = input.userID ?? ""
        let marker: RehomeMarker
        switch RehomeMarker.parse(input.body) {
        case .failure(let problem): return try refuseHandoff(input, "\(problem)", now: now)
        case .success(let parsed): marker = parsed
        }
        if let refusal = notFromWorker(publisher, "a re-homing marker") {
            return try refuseHandoff(input, refusal, now: now)
        }
        guard marker.databaseID == (try store.databaseID()) else {
            return try refuseHandoff(
                input,
                "a re-homing marker of database \(marker.databaseID), not this worker's: not applied",
                now: now
            )
        }
        let ended = try store.endTransit(throughEpoch: marker.epoch)
        if ended > 0 {
            logger.info(
                "budgets handed to other workers stop counting here",
                metadata: ["epoch": "\(marker.epoch)", "budgets": "\(ended)"]
            )
        }
        return []
    }

    /// Why `what` from `publisher` is refused when the publisher is not a worker user; nil when it is.
    func notFromWorker(_ publisher: String, _ what: String) -> String? {
        guard !configuration.acceptedWorkerUsers.contains(publisher) else { return nil }
        return
            "\(what) from '\(publisher.isEmpty ? "no user_id" : publisher)', which is not a worker user (--worker-user): not applied"
    }

    func refuseHandoff(_ input: Inbound, _ reason: String, now: Millis) throws -> [OutboundMessage] {
        logger.warning("refused a hand-off", metadata: [LogKey.reason: "\(reason)"])
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

    /// Re-homes every budget this worker counts (inside a transaction): the rows move into
    /// transit and each goes, through the outbox, to the consistent-hash exchange with routing
    /// key = agent id, so it reaches the worker that owns the agent now (this one included, which
    /// adds it back). A marker to this worker's own shard queue follows them. Until a count comes
    /// back or the marker arrives, it still counts here, so the calls already queued here (ahead
    /// of the hand-offs) are decided against it. Every count is conserved: the outbox publishes
    /// it even after a crash, and the receiver applies each message id once. Returns the
    /// messages to publish. A draining worker (`leaving`: its queue is empty and unbound, so it
    /// decides no more calls) forgets the counts at once and sends no marker.
    ///
    /// With `records` (the ring really changed: a worker joined for the first time or drained),
    /// the recent call records go the same way (`callRecordHandoffs`); `budgets: false` hands
    /// only them.
    func rehome(
        databaseID: String,
        leaving: Bool = false,
        budgets: Bool = true,
        records: Bool = false,
        now: Millis = 0
    ) throws -> [OutboundMessage] {
        let counts = budgets ? try store.budgets() : []
        let recordsDue = records && configuration.handoffRecordsSeconds > 0
        guard !counts.isEmpty || recordsDue else { return [] }
        let epoch = try store.nextRehomeEpoch()
        // The budgets go first: they are small, and calls wait for them.
        let records = recordsDue ? try callRecordHandoffs(databaseID: databaseID, epoch: epoch, now: now) : []
        guard !counts.isEmpty else { return try enqueue(records) }
        try store.sendBudgets(epoch: epoch)
        if leaving { try store.endTransit(throughEpoch: epoch) }
        counters.handoffsSent += counts.count
        var messages = counts.map { budget in
            OutboundMessage(
                exchange: topology.toolCallsExchange,
                routingKey: budget.agentID,
                body: BudgetHandoff(
                    agentID: budget.agentID,
                    sessionID: budget.sessionID,
                    used: budget.used,
                    fromWorker: configuration.workerID,
                    databaseID: databaseID,
                    epoch: epoch
                ).encoded(),
                mandatory: true,
                messageID: "handoff:\(databaseID):\(epoch):\(budget.agentID):\(budget.sessionID)",
                headers: [.init("x-tollgate-kind", BudgetHandoff.kind)],
                asWorker: true
            )
        }
        messages += records
        if !leaving {
            messages.append(markerOfRehoming(databaseID: databaseID, epoch: epoch))
        }
        logger.info(
            "handing the budgets to the workers that own the agents now",
            metadata: ["budgets": "\(counts.count)"]
        )
        return try enqueue(messages)
    }

    /// The marker that follows a re-homing's hand-offs into this worker's own shard queue.
    private func markerOfRehoming(databaseID: String, epoch: Int) -> OutboundMessage {
        OutboundMessage(
            exchange: "",
            routingKey: topology.toolCallsQueue,
            body: RehomeMarker(databaseID: databaseID, epoch: epoch, fromWorker: configuration.workerID).encoded(),
            mandatory: true,
            messageID: "rehome:\(databaseID):\(epoch)",
            headers: [.init("x-tollgate-kind", RehomeMarker.kind)],
            asWorker: true
        )
    }
}
