import Logging
import TollgateJSON
import TollgateStore

/// A worker's recent call records of one agent, handed through the consistent-hash exchange
/// (routing key = agent id) to the worker that owns the agent after a ring change: a retry with
/// the same `message_id` that reaches the new owner is answered as it was first answered, with
/// the same `request_id`, instead of being decided again.
struct CallRecordsHandoff: Equatable {
    static let kind = "call-records"
    /// Records per message, at most (a message stays far below `--max-message-bytes`).
    static let chunk = 100

    struct Entry: Equatable {
        var messageID: String
        var requestID: String
        var decision: Decision
        var receivedAt: Millis
        /// The reply body the call got (its final decision when it has one).
        var reply: [UInt8]
    }

    var agentID: String
    var fromWorker: String
    var databaseID: String
    var records: [Entry]

    func encoded() -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 512 * records.count + 128)
        w.beginObject()
        w.objectField("agent_id", agentID)
        w.objectField("from_worker", fromWorker)
        w.objectField("database_id", databaseID)
        w.key("records")
        w.beginArray()
        for record in records {
            w.beginObject()
            w.objectField("message_id", record.messageID)
            w.objectField("request_id", record.requestID)
            w.objectField("decision", record.decision.rawValue)
            w.objectField("received_at", Int(record.receivedAt))
            w.objectField("reply", String(decoding: record.reply, as: UTF8.self))
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.bytes
    }

    static func parse(_ body: [UInt8]) -> Result<CallRecordsHandoff, InvalidInput> {
        let object: JSONObject
        switch parseObject(body) {
        case .failure(let problem): return .failure(problem)
        case .success(let parsed): object = parsed
        }
        guard let agent = object["agent_id"]?.stringValue, !agent.isEmpty,
            let from = object["from_worker"]?.stringValue,
            let database = object["database_id"]?.stringValue, !database.isEmpty,
            case .array(let items)? = object["records"]
        else {
            return .failure(InvalidInput("call records need agent_id, from_worker, database_id and records"))
        }
        var records: [Entry] = []
        records.reserveCapacity(items.count)
        for item in items {
            guard case .object(let fields) = item,
                let messageID = fields["message_id"]?.stringValue,
                let requestID = fields["request_id"]?.stringValue, !requestID.isEmpty,
                let decision = fields["decision"]?.stringValue.flatMap(Decision.init(rawValue:)),
                let receivedAt = fields["received_at"]?.intValue,
                let reply = fields["reply"]?.stringValue, !reply.isEmpty
            else {
                return .failure(
                    InvalidInput("a call record needs message_id, request_id, decision, received_at and reply")
                )
            }
            records.append(
                Entry(
                    messageID: messageID,
                    requestID: requestID,
                    decision: decision,
                    receivedAt: receivedAt,
                    reply: Array(reply.utf8)
                )
            )
        }
        return .success(CallRecordsHandoff(agentID: agent, fromWorker: from, databaseID: database, records: records))
    }
}

extension Gate {
    /// Keeps the records another worker handed here: only from a broker-vouched worker user, with
    /// routing key = agent id, once per message id. A record of this worker's own wins; an
    /// adopted pending one takes its final decision, which then also goes to the retries that
    /// asked here meanwhile. Records this worker handed itself (the agent stayed) change nothing.
    func handleCallRecords(_ input: Inbound, now: Millis) throws -> [OutboundMessage] {
        let handoff: CallRecordsHandoff
        switch CallRecordsHandoff.parse(input.body) {
        case .failure(let problem):
            return try refuseHandoff(input, "malformed call records: \(problem)", now: now)
        case .success(let parsed): handoff = parsed
        }
        if let refusal = notFromWorker(input.userID ?? "", "call records") {
            return try refuseHandoff(input, refusal, now: now)
        }
        guard input.routingKey == handoff.agentID, let messageID = input.messageID else {
            return try refuseHandoff(input, "call records need routing key = agent_id and a message_id", now: now)
        }
        guard handoff.databaseID != (try store.databaseID()) else { return [] }
        guard try store.recordHandoff(messageID: messageID, at: now) else { return [] }
        var adopted = 0
        var messages: [OutboundMessage] = []
        for entry in handoff.records {
            let record = CallRecord(
                requestID: entry.requestID,
                agentID: handoff.agentID,
                messageID: entry.messageID,
                fingerprint: nil,
                receivedAt: entry.receivedAt,
                decision: entry.decision,
                reply: entry.reply,
                adoptedFrom: handoff.databaseID
            )
            switch try store.adoptCall(record) {
            case .inserted: adopted += 1
            case .finalized:
                adopted += 1
                messages += try finalToAdoptedWaiters(entry)
            case .unchanged: break
            }
        }
        counters.recordsAdopted += adopted
        if adopted > 0 {
            logger.info(
                "took over call records",
                metadata: [
                    LogKey.agent: "\(handoff.agentID)", "records": "\(adopted)", "from": "\(handoff.fromWorker)",
                ]
            )
        }
        return try enqueue(messages)
    }

    /// The final decision of an adopted request, for each retry that reached this worker while
    /// it was pending elsewhere and asked from another `reply_to` or `correlation_id`.
    private func finalToAdoptedWaiters(_ entry: CallRecordsHandoff.Entry) throws -> [OutboundMessage] {
        let waiters = try store.waiters(requestID: entry.requestID)
        guard !waiters.isEmpty else { return [] }
        try store.removeWaiters(requestID: entry.requestID)
        return waiters.map { waiter in
            replyMessage(
                answering(entry.reply, correlationID: waiter.correlationID),
                replyTo: waiter.replyTo,
                correlationID: waiter.correlationID
            )
        }
    }

    /// A retry of an adopted call that is pending at the worker that parked it, from a
    /// `reply_to` or `correlation_id` the record does not name: it gets the final decision when
    /// that worker hands it here.
    func rememberAdoptedWaiter(_ input: Inbound, _ record: CallRecord) throws {
        guard let replyTo = input.replyTo, !replyTo.isEmpty else { return }
        try addWaiter(WaiterRecord(replyTo: replyTo, correlationID: input.correlationID), requestID: record.requestID)
    }

    /// Hand-offs of this worker's call records received in the last `--handoff-records`
    /// seconds, one message (or more, of `CallRecordsHandoff.chunk` records) per agent, to the
    /// worker that owns the agent now. The pending ones are remembered, so that their final
    /// decision follows them (`handedFinal`).
    func callRecordHandoffs(databaseID: String, epoch: Int, now: Millis) throws -> [OutboundMessage] {
        guard configuration.handoffRecordsSeconds > 0 else { return [] }
        let records = try store.recentCalls(since: now - Millis(configuration.handoffRecordsSeconds) * 1000)
        guard !records.isEmpty else { return [] }
        try store.markHanded(records.filter { $0.decision == .pending && $0.adoptedFrom == nil })
        var messages: [OutboundMessage] = []
        var start = 0
        while start < records.count {
            let agent = records[start].agentID
            var end = start
            while end < records.count, records[end].agentID == agent, end - start < CallRecordsHandoff.chunk {
                end += 1
            }
            let entries = records[start..<end].map { record in
                CallRecordsHandoff.Entry(
                    messageID: record.messageID ?? "",
                    requestID: record.requestID,
                    decision: record.decision,
                    receivedAt: record.receivedAt,
                    reply: record.reply
                )
            }
            messages.append(
                callRecordsMessage(
                    CallRecordsHandoff(
                        agentID: agent,
                        fromWorker: configuration.workerID,
                        databaseID: databaseID,
                        records: entries
                    ),
                    messageID: "records:\(databaseID):\(epoch):\(agent):\(start)"
                )
            )
            start = end
        }
        counters.recordsHanded += records.count
        logger.info(
            "handing the recent call records to the workers that own the agents now",
            metadata: ["records": "\(records.count)", "messages": "\(messages.count)"]
        )
        return messages
    }

    /// The final decision of a request this worker handed away while it was pending, handed
    /// after it (nothing when it was not handed).
    func handedFinal(
        _ escalation: EscalationRecord,
        _ decision: FinalDecision,
        body: [UInt8]
    ) throws
        -> [OutboundMessage]
    {
        guard let handed = try store.takeHanded(requestID: escalation.requestID) else { return [] }
        let databaseID = try store.databaseID()
        let entry = CallRecordsHandoff.Entry(
            messageID: handed.messageID,
            requestID: escalation.requestID,
            decision: Decision(decision),
            receivedAt: handed.receivedAt,
            reply: body
        )
        let handoff = CallRecordsHandoff(
            agentID: escalation.agentID,
            fromWorker: configuration.workerID,
            databaseID: databaseID,
            records: [entry]
        )
        return [callRecordsMessage(handoff, messageID: "record:\(databaseID):\(escalation.requestID)")]
    }

    private func callRecordsMessage(_ handoff: CallRecordsHandoff, messageID: String) -> OutboundMessage {
        OutboundMessage(
            exchange: topology.toolCallsExchange,
            routingKey: handoff.agentID,
            body: handoff.encoded(),
            mandatory: true,
            messageID: messageID,
            headers: [.init("x-tollgate-kind", CallRecordsHandoff.kind)],
            asWorker: true
        )
    }
}
