// Tool calls already decided or parked: how a redelivered or retried call is recognised.
extension Store {
    private static let callColumns = "request_id, agent_id, message_id, fingerprint, received_at, decision, reply"

    public func call(agentID: String, messageID: String) throws(StoreError) -> CallRecord? {
        try db.first(
            "SELECT \(Self.callColumns) FROM calls WHERE agent_id = ?1 AND message_id = ?2",
            [.text(agentID), .text(messageID)],
            Self.callRecord
        )
    }

    public func call(fingerprint: [UInt8]) throws(StoreError) -> CallRecord? {
        try db.first(
            "SELECT \(Self.callColumns) FROM calls WHERE fingerprint = ?1 ORDER BY seq DESC LIMIT 1",
            [.blob(fingerprint)],
            Self.callRecord
        )
    }

    private static func callRecord(_ row: SQLiteRow) throws(StoreError) -> CallRecord {
        CallRecord(
            requestID: try row.string(0),
            agentID: try row.string(1),
            messageID: try row.optionalString(2),
            fingerprint: try row.optionalBlob(3),
            receivedAt: try row.int64(4),
            decision: try row.value(5, as: Decision.self),
            reply: try row.blob(6)
        )
    }

    public func insertCall(_ call: CallRecord) throws(StoreError) {
        try db.run(
            "INSERT INTO calls(\(Self.callColumns)) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            [
                .text(call.requestID), .text(call.agentID), .text(call.messageID), .blob(call.fingerprint),
                .integer(call.receivedAt), .text(call.decision.rawValue), .blob(call.reply),
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
    public func budgetUsed(agentID: String, sessionID: String) throws(StoreError) -> Int {
        try db.first(
            "SELECT used FROM budgets WHERE agent_id = ?1 AND session_id = ?2",
            [.text(agentID), .text(sessionID)]
        ) { row throws(StoreError) in try row.int(0) } ?? 0
    }

    /// Every agent's and session's count of charged calls that is above zero.
    public func budgets() throws(StoreError) -> [(agentID: String, sessionID: String, used: Int)] {
        try db.all("SELECT agent_id, session_id, used FROM budgets WHERE used > 0 ORDER BY agent_id, session_id") {
            row throws(StoreError) in (try row.string(0), try row.string(1), try row.int(2))
        }
    }

    /// Forgets every count (they are being handed to the workers that own the agents now).
    public func deleteBudgets() throws(StoreError) {
        try db.run("DELETE FROM budgets")
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
