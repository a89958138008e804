import Logging
import TollgateAMQP
import TollgateJSON
import TollgateStore

// "Asking the fleet" (docs/wire-protocol.md): queries on `<prefix>.control`, which every running
// worker receives on a server-named queue of its connection and answers at once.
extension WorkerLoop {
    /// At most this many requests per answer page.
    static let pageSize = 500

    /// Answers one query (`{"query":"pending"}`) on its `reply_to`, in pages.
    func answerQuery(_ delivery: AMQPDelivery, _ connection: AMQPConnection) throws {
        if case .success(let object) = parseObject(delivery.body), object["query"]?.stringValue == "rebalance" {
            takeRebalance(object, from: delivery.properties.userId)
            return
        }
        guard let replyTo = delivery.properties.replyTo, !replyTo.isEmpty else {
            logger.debug("a fleet query without reply_to; ignored")
            return
        }
        let correlationID = delivery.properties.correlationId
        var pages: [[UInt8]]
        switch parseObject(delivery.body).map({ $0["query"]?.stringValue }) {
        case .success("pending"?):
            pages = (try? pendingPages()) ?? [queryError("the worker cannot read its database right now")]
        case .success("grants"?):
            pages = (try? grantPages()) ?? [queryError("the worker cannot read its database right now")]
        case .success(let other):
            pages = [
                queryError(
                    other.map { "unknown query '\($0)': this worker answers 'pending' and 'grants'" }
                        ?? "query is missing"
                )
            ]
        case .failure(let problem):
            pages = [queryError("\(problem)")]
        }
        if outage != nil, pages.count == 1 {
            pages = [queryError("the database cannot be written: \(outage?.error.message ?? "")")]
        }
        connection.holdPublishes()
        for page in pages {
            let seq = try send(
                OutboundMessage(exchange: "", routingKey: replyTo, body: page, correlationID: correlationID),
                connection
            )
            settlement.published(seq: seq, for: .init(deliveryTag: nil, outboxID: nil))
        }
        try connection.flushPublishes()
    }

    /// The pending escalations with their votes so far, as answer pages.
    private func pendingPages() throws -> [[UInt8]] {
        let draining = drainPhase != .serving
        return try answerPages(
            key: "pending",
            try store.pendingEscalations(),
            extra: { w in w.objectField("draining", draining) },
            write: { escalation, w in
                let tally = Tally(escalation, votes: try store.votes(requestID: escalation.requestID))
                w.rawValue(gate.noticeBody(escalation, tally: tally))
            }
        )
    }

    /// The standing grants in force (not expired, not revoked, made under the policy version in
    /// force), soonest to expire first, as answer pages.
    private func grantPages() throws -> [[UInt8]] {
        let grants = try store.grantsInForce(now: clock.wallMillis(), policyVersion: gate.policy.versionString)
        return try answerPages(key: "grants", grants) { grant, w in writeGrant(grant, to: &w) }
    }

    /// `items` as answer pages of at most `pageSize`: `{"worker_id", extra..., key: [...], "page", "last"}`
    /// (one empty page when there is nothing).
    private func answerPages<Item>(
        key: String,
        _ items: [Item],
        extra: (inout JSONWriter) -> Void = { _ in },
        write: (Item, inout JSONWriter) throws -> Void
    ) throws -> [[UInt8]] {
        var pages: [[UInt8]] = []
        var start = 0
        repeat {
            var w = JSONWriter(reservingCapacity: 1024)
            w.beginObject()
            w.objectField("worker_id", configuration.workerID)
            extra(&w)
            w.key(key)
            w.beginArray()
            for item in items[start..<min(start + Self.pageSize, items.count)] { try write(item, &w) }
            w.endArray()
            w.objectField("page", pages.count + 1)
            w.objectField("last", start + Self.pageSize >= items.count)
            w.endObject()
            pages.append(w.bytes)
            start += Self.pageSize
        } while start < items.count
        return pages
    }

    /// A worker changed the ring of the consistent-hash exchange: re-home the budgets, if the
    /// request comes from a worker (its broker-vouched `user_id`) other than this one.
    private func takeRebalance(_ request: JSONObject, from publisher: String?) {
        let worker = request["worker_id"]?.stringValue ?? "?"
        guard let publisher, configuration.acceptedWorkerUsers.contains(publisher) else {
            logger.warning(
                "ignored a rebalance request that is not from a worker user",
                metadata: ["user_id": "\(publisher ?? "-")", "worker": "\(worker)"]
            )
            return
        }
        guard worker != configuration.workerID else { return }
        logger.info(
            "re-homing the budgets",
            metadata: ["asked_by": "\(worker)", LogKey.reason: "\(request["reason"]?.stringValue ?? "-")"]
        )
        rehomeRequested = true
        if request["records"]?.boolValue == true { rehomeRecords = true }
    }

    private func queryError(_ text: String) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.objectField("worker_id", configuration.workerID)
        w.objectField("error", text)
        w.objectField("page", 1)
        w.objectField("last", true)
        w.endObject()
        return w.bytes
    }
}
