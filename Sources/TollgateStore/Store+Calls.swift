// Tool calls already decided or parked: how a redelivered or retried call is recognised.
extension Store {
    static let callColumns = "request_id, agent_id, message_id, fingerprint, received_at, decision, reply, adopted_from"
    // Built once: statements are cached by their text, and every decision runs these.
    private static let callByMessageSQL = "SELECT \(callColumns) FROM calls WHERE agent_id = ?1 AND message_id = ?2"
    private static let callByFingerprintSQL =
        "SELECT \(callColumns) FROM calls WHERE fingerprint = ?1 ORDER BY seq DESC LIMIT 1"
    private static let insertCallSQL = "INSERT INTO calls(\(callColumns)) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"

    public func call(agentID: String, messageID: String) throws(StoreError) -> CallRecord? {
        try db.first(
            Self.callByMessageSQL,
            [.text(agentID), .text(messageID)],
            Self.callRecord
        )
    }

    public func call(fingerprint: [UInt8]) throws(StoreError) -> CallRecord? {
        try db.first(
            Self.callByFingerprintSQL,
            [.blob(fingerprint)],
            Self.callRecord
        )
    }

    static func callRecord(_ row: SQLiteRow) throws(StoreError) -> CallRecord {
        CallRecord(
            requestID: try row.string(0),
            agentID: try row.string(1),
            messageID: try row.optionalString(2),
            fingerprint: try row.optionalBlob(3),
            receivedAt: try row.int64(4),
            decision: try row.value(5, as: Decision.self),
            reply: try row.blob(6),
            adoptedFrom: try row.optionalString(7)
        )
    }

    public func insertCall(_ call: CallRecord) throws(StoreError) {
        try db.run(
            Self.insertCallSQL,
            [
                .text(call.requestID), .text(call.agentID), .text(call.messageID), .blob(call.fingerprint),
                .integer(call.receivedAt), .text(call.decision.rawValue), .blob(call.reply),
                .text(call.adoptedFrom),
            ]
        )
    }

    /// Forgets calls (and vote inputs and applied hand-offs) received before `cutoff`: a redelivery older than that
    /// is no longer recognised. The audit trail is never pruned.
    @discardableResult
    public func pruneInputs(receivedBefore cutoff: Millis, limit: Int = 10_000) throws(StoreError) -> Int {
        let bounds: [SQLiteValue] = [.integer(cutoff), .integer(limit)]
        let calls = try db.run(
            "DELETE FROM calls WHERE seq IN (SELECT seq FROM calls WHERE received_at < ?1 ORDER BY received_at LIMIT ?2)",
            bounds
        )
        let votes = try db.run(
            "DELETE FROM vote_inputs WHERE seq IN (SELECT seq FROM vote_inputs WHERE received_at < ?1 ORDER BY received_at LIMIT ?2)",
            bounds
        )
        let handoffs = try db.run(
            "DELETE FROM handoffs WHERE message_id IN (SELECT message_id FROM handoffs WHERE received_at < ?1 LIMIT ?2)",
            bounds
        )
        return calls + votes + handoffs
    }
}

// Budgets (`max_tool_calls`) per agent and session.
extension Store {
    /// The calls charged to an agent and session here, counts on their way to another owner
    /// included (see `sendBudgets(epoch:)`).
    public func budgetUsed(agentID: String, sessionID: String) throws(StoreError) -> Int {
        try db.first(
            """
            SELECT coalesce((SELECT used FROM budgets WHERE agent_id = ?1 AND session_id = ?2), 0)
                + coalesce((SELECT sum(used) FROM budgets_in_transit WHERE agent_id = ?1 AND session_id = ?2), 0)
            """,
            [.text(agentID), .text(sessionID)]
        ) { row throws(StoreError) in try row.int(0) } ?? 0
    }

    /// Every agent's and session's count of charged calls that is above zero.
    public func budgets() throws(StoreError) -> [(agentID: String, sessionID: String, used: Int)] {
        try db.all("SELECT agent_id, session_id, used FROM budgets WHERE used > 0 ORDER BY agent_id, session_id") {
            row throws(StoreError) in (try row.string(0), try row.string(1), try row.int(2))
        }
    }

    /// Moves every count into transit under `epoch` (they are being handed to the workers that
    /// own the agents now). A count in transit still counts here (`budgetUsed`) until its
    /// hand-off comes back here (`budgetArrived`) or the epoch's marker says every hand-off
    /// that would come back has (`endTransit`): calls already queued here are never decided
    /// against a count that left.
    public func sendBudgets(epoch: Int) throws(StoreError) {
        try db.run(
            """
            INSERT OR REPLACE INTO budgets_in_transit(agent_id, session_id, epoch, used)
            SELECT agent_id, session_id, ?1, used FROM budgets WHERE used > 0
            """,
            [.integer(Int64(epoch))]
        )
        try db.run("DELETE FROM budgets")
    }

    /// This worker's own hand-off of `epoch` came back to it: the count it carried is no longer
    /// in transit.
    public func budgetArrived(agentID: String, sessionID: String, epoch: Int) throws(StoreError) {
        try db.run(
            "DELETE FROM budgets_in_transit WHERE agent_id = ?1 AND session_id = ?2 AND epoch = ?3",
            [.text(agentID), .text(sessionID), .integer(Int64(epoch))]
        )
    }

    /// Every hand-off of re-homings up to `epoch` that was routed here has arrived: what is still
    /// in transit went to other workers and no longer counts here. Returns the rows ended.
    @discardableResult
    public func endTransit(throughEpoch epoch: Int) throws(StoreError) -> Int {
        try db.run("DELETE FROM budgets_in_transit WHERE epoch <= ?1", [.integer(Int64(epoch))])
    }

    /// Counts in transit (agent, session, epoch, used), for tests and diagnostics.
    public func budgetsInTransit() throws(StoreError) -> [(agentID: String, sessionID: String, epoch: Int, used: Int)] {
        try db.all(
            "SELECT agent_id, session_id, epoch, used FROM budgets_in_transit ORDER BY agent_id, session_id, epoch"
        ) { row throws(StoreError) in (try row.string(0), try row.string(1), try row.int(2), try row.int(3)) }
    }

    /// The next number of a re-homing of the budgets (kept in meta, so ids never repeat).
    public func nextRehomeEpoch() throws(StoreError) -> Int {
        let next = (try metaValue("rehome_epoch").flatMap { Int($0) } ?? 0) + 1
        try setMeta("rehome_epoch", "\(next)")
        return next
    }

    /// Records a budget hand-off by its message id; false when it was applied before.
    public func recordHandoff(messageID: String, at: Millis) throws(StoreError) -> Bool {
        try db.run(
            "INSERT OR IGNORE INTO handoffs(message_id, received_at) VALUES (?1, ?2)",
            [.text(messageID), .integer(at)]
        ) == 1
    }

    /// Adds `delta` (negative to refund) to an agent's count of charged calls.
    public func charge(agentID: String, sessionID: String, delta: Int) throws(StoreError) {
        try db.run(
            """
            INSERT INTO budgets(agent_id, session_id, used) VALUES (?1, ?2, max(?3, 0))
            ON CONFLICT(agent_id, session_id) DO UPDATE SET used = max(used + ?3, 0)
            """,
            [.text(agentID), .text(sessionID), .integer(delta)]
        )
    }
}
