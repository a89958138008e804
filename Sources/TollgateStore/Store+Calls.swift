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

    /// Forgets calls (and vote inputs) received before `cutoff`: a redelivery older than that
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
        return calls + votes
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
