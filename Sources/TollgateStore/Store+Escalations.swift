import Foundation

// Parked calls, their final decisions, and who else waits for them.
extension Store {
    private static let escalationColumns = """
        request_id, worker_id, agent_id, session_id, tool_name, arguments, reason, rule, message, policy_version,
        approvers, required_approvals, required_denials, timeout_action, created_at, deadline, reply_to,
        correlation_id, status, resolution, decided_at, charged, require_comment, call_context, round, max_grant_seconds, stages, phase
        """
    private static let insertEscalationSQL: String = {
        let count = escalationColumns.split(separator: ",").count
        let placeholders = (1...count).map { "?\($0)" }.joined(separator: ", ")
        return "INSERT INTO escalations(\(escalationColumns)) VALUES (\(placeholders))"
    }()
    private static let escalationByIDSQL = "SELECT \(escalationColumns) FROM escalations WHERE request_id = ?1"

    public func insertEscalation(_ e: EscalationRecord) throws(StoreError) {
        let values: [SQLiteValue] = [
            .text(e.requestID), .text(e.workerID), .text(e.agentID), .text(e.sessionID), .text(e.toolName),
            .text(e.argumentsJSON), .text(e.reason), .text(e.rule), .text(e.message), .text(e.policyVersion),
            .text(Self.encodeList(e.approvers)), .integer(e.requiredApprovals), .integer(e.requiredDenials),
            .text(e.timeoutAction.rawValue), .integer(e.createdAt), .integer(e.deadline), .text(e.replyTo),
            .text(e.correlationID), .text(e.status.rawValue), .text(e.resolution?.rawValue), .integer(e.decidedAt),
            .bool(e.charged), .text(e.requireComment.rawValue), .text(e.callContextJSON), .integer(e.round),
            .integer(e.maxGrantSeconds), .text(e.stagesJSON), .integer(e.phase),
        ]
        try db.run(Self.insertEscalationSQL, values)
    }

    /// The escalation, or nil when this database holds none with that id. A row that cannot be
    /// read throws `unreadable`: it is never read as pending with an empty approvers list.
    public func escalation(requestID: String) throws(StoreError) -> EscalationRecord? {
        try db.first(
            Self.escalationByIDSQL,
            [.text(requestID)],
            Self.escalationRecord
        )
    }

    /// Pending escalations, earliest deadline first.
    public func pendingEscalations(limit: Int = .max) throws(StoreError) -> [EscalationRecord] {
        try db.all(
            "SELECT \(Self.escalationColumns) FROM escalations WHERE status = 'pending' ORDER BY deadline LIMIT ?1",
            [.integer(limit)],
            Self.escalationRecord
        )
    }

    /// The ids of pending escalations whose deadline is at or before `now`, earliest first.
    /// (Ids, not records: a record that cannot be read must still be decided, closed.)
    public func dueEscalationIDs(now: Millis, limit: Int) throws(StoreError) -> [String] {
        try db.all(
            "SELECT request_id FROM escalations WHERE status = 'pending' AND deadline <= ?1 ORDER BY deadline LIMIT ?2",
            [.integer(now), .integer(limit)]
        ) { row throws(StoreError) in try row.string(0) }
    }

    /// The earliest deadline of a pending escalation (one index probe).
    public func nextDeadline() throws(StoreError) -> Millis? {
        try db.first("SELECT min(deadline) FROM escalations WHERE status = 'pending'") { row throws(StoreError) in
            try row.optionalInt64(0)
        } ?? nil
    }

    public func pendingCount() throws(StoreError) -> Int {
        try db.first("SELECT count(*) FROM escalations WHERE status = 'pending'") { row throws(StoreError) in
            try row.int(0)
        } ?? 0
    }

    /// The agent's escalations waiting for people: those of `rule`, or all of them when `rule`
    /// is nil (escalation fatigue, `max_pending_per_agent`).
    ///
    /// The index is named: without statistics (the worker never runs ANALYZE) SQLite would pick
    /// the agent's whole history through `escalations_by_agent_time` and read every row of it.
    public func pendingCount(agentID: String, rule: String? = nil) throws(StoreError) -> Int {
        try db.first(Self.pendingCountSQL(rule: rule), [.text(agentID)] + (rule.map { [.text($0)] } ?? [])) {
            row throws(StoreError) in try row.int(0)
        } ?? 0
    }

    static func pendingCountSQL(rule: String?) -> String {
        "SELECT count(*) FROM escalations INDEXED BY escalations_pending_by_agent WHERE agent_id = ?1 AND status = 'pending'"
            + (rule == nil ? "" : " AND rule = ?2")
    }

    /// The agent's escalations made at or after `since`: those of `rule`, or all of them when
    /// `rule` is nil (escalation fatigue, `max_new_per_agent` in its window).
    public func escalationCount(agentID: String, since: Millis, rule: String? = nil) throws(StoreError) -> Int {
        try db.first(
            Self.escalationCountSQL(rule: rule),
            [.text(agentID), .integer(since)] + (rule.map { [.text($0)] } ?? [])
        ) { row throws(StoreError) in try row.int(0) } ?? 0
    }

    static func escalationCountSQL(rule: String?) -> String {
        "SELECT count(*) FROM escalations INDEXED BY escalations_by_agent_time WHERE agent_id = ?1 AND created_at >= ?2"
            + (rule == nil ? "" : " AND rule = ?3")
    }

    /// SQLite's plan for a statement, one line per step (for tests of the indexes).
    func queryPlan(_ sql: String, _ bindings: [SQLiteValue]) throws(StoreError) -> [String] {
        try db.all("EXPLAIN QUERY PLAN " + sql, bindings) { row throws(StoreError) in try row.string(3) }
    }

    /// Moves every pending deadline by `delta` milliseconds (after a step of the wall clock, so
    /// that each keeps the wait it had left). Returns how many moved.
    @discardableResult
    public func shiftPendingDeadlines(by delta: Millis) throws(StoreError) -> Int {
        try db.run("UPDATE escalations SET deadline = deadline + ?1 WHERE status = 'pending'", [.integer(delta)])
    }

    /// Marks a pending escalation decided, keeping the final decision's body for redeliveries of
    /// the call. Returns false (and changes nothing) when it was not pending any more: a request
    /// is never decided twice.
    @discardableResult
    public func decideEscalation(
        requestID: String,
        decision: FinalDecision,
        resolution: Resolution,
        at: Millis,
        finalReply: [UInt8] = []
    ) throws(StoreError) -> Bool {
        let changed = try db.run(
            "UPDATE escalations SET status = ?2, resolution = ?3, decided_at = ?4, final_reply = ?5 WHERE request_id = ?1 AND status = 'pending'",
            [
                .text(requestID), .text(EscalationStatus(decision).rawValue), .text(resolution.rawValue),
                .integer(at), .blob(finalReply),
            ]
        )
        return changed == 1
    }

    /// Replaces the arguments of a pending escalation after an accepted edit and moves it to
    /// round `round + 1`. Returns false (and changes nothing) when it is not pending in `round`
    /// any more.
    @discardableResult
    public func editEscalation(requestID: String, argumentsJSON: String, round: Int) throws(StoreError) -> Bool {
        let changed = try db.run(
            "UPDATE escalations SET arguments = ?2, round = round + 1 WHERE request_id = ?1 AND status = 'pending' AND round = ?3",
            [.text(requestID), .text(argumentsJSON), .integer(round)]
        )
        return changed == 1
    }

    /// Moves a pending staged escalation from step `from` to the next step it reaches (the next
    /// stage, or the fallback group of this one): its approvers, quorum, deadline and timeout
    /// action become that step's. Returns false (and changes nothing) when it is not pending in
    /// step `from` any more.
    @discardableResult
    public func advanceEscalation(
        requestID: String,
        from: Int,
        to phase: Int,
        approvers: [String],
        requiredApprovals: Int,
        deadline: Millis,
        timeoutAction: FinalDecision
    ) throws(StoreError) -> Bool {
        try db.run(
            """
            UPDATE escalations SET phase = ?3, approvers = ?4, required_approvals = ?5, deadline = ?6, timeout_action = ?7
            WHERE request_id = ?1 AND status = 'pending' AND phase = ?2
            """,
            [
                .text(requestID), .integer(from), .integer(phase), .text(Self.encodeList(approvers)),
                .integer(requiredApprovals), .integer(deadline), .text(timeoutAction.rawValue),
            ]
        ) == 1
    }

    /// The body of the final decision of a decided escalation.
    public func finalReply(requestID: String) throws(StoreError) -> [UInt8]? {
        try db.first(
            "SELECT final_reply FROM escalations WHERE request_id = ?1 AND status != 'pending'",
            [.text(requestID)]
        ) { row throws(StoreError) in try row.optionalBlob(0) } ?? nil
    }

    private static func escalationRecord(_ row: SQLiteRow) throws(StoreError) -> EscalationRecord {
        EscalationRecord(
            requestID: try row.string(0),
            workerID: try row.string(1),
            agentID: try row.string(2),
            sessionID: try row.string(3),
            toolName: try row.string(4),
            argumentsJSON: try row.string(5),
            reason: try row.optionalString(6),
            rule: try row.optionalString(7),
            message: try row.string(8),
            policyVersion: try row.string(9),
            approvers: try decodeList(try row.string(10), column: "approvers"),
            requiredApprovals: try row.int(11),
            requiredDenials: try row.int(12),
            timeoutAction: try row.value(13, as: FinalDecision.self),
            createdAt: try row.int64(14),
            deadline: try row.int64(15),
            replyTo: try row.optionalString(16),
            correlationID: try row.optionalString(17),
            status: try row.value(18, as: EscalationStatus.self),
            resolution: row.isNull(19) ? nil : try row.value(19, as: Resolution.self),
            decidedAt: try row.optionalInt64(20),
            charged: try row.bool(21),
            requireComment: try row.value(22, as: CommentRequirement.self),
            callContextJSON: try row.optionalString(23),
            round: try row.int(24),
            maxGrantSeconds: try row.int(25),
            stagesJSON: try row.optionalString(26),
            phase: try row.int(27)
        )
    }

    /// A list of strings as JSON text, so the column is readable with the sqlite3 shell and
    /// `json_each`.
    static func encodeList(_ list: [String]) -> String {
        // Encoding an array of strings cannot fail.
        (try? String(decoding: JSONEncoder().encode(list), as: UTF8.self)) ?? "[]"
    }

    static func decodeList(_ text: String, column: String) throws(StoreError) -> [String] {
        do {
            return try JSONDecoder().decode([String].self, from: Data(text.utf8))
        } catch {
            throw StoreError(kind: .unreadable, message: "column \(column) holds '\(text)', not a JSON list of strings")
        }
    }

    // MARK: Waiters

    /// Everyone besides the original caller waiting for a request's final decision, oldest first.
    public func waiters(requestID: String) throws(StoreError) -> [WaiterRecord] {
        try db.all(
            "SELECT reply_to, correlation_id FROM waiters WHERE request_id = ?1 ORDER BY seq",
            [.text(requestID)]
        ) { row throws(StoreError) in
            WaiterRecord(replyTo: try row.string(0), correlationID: try row.optionalString(1))
        }
    }

    public func addWaiter(_ waiter: WaiterRecord, requestID: String) throws(StoreError) {
        try db.run(
            "INSERT INTO waiters(request_id, reply_to, correlation_id) VALUES (?1, ?2, ?3)",
            [.text(requestID), .text(waiter.replyTo), .text(waiter.correlationID)]
        )
    }
}

extension Store {
    /// Forgets the waiters of a request once its final decision is in the outbox.
    public func removeWaiters(requestID: String) throws(StoreError) {
        try db.run("DELETE FROM waiters WHERE request_id = ?1", [.text(requestID)])
    }
}
