import CSQLite
import Foundation

/// How hard SQLite works to make a commit survive a power cut.
public enum StoreDurability: String, Sendable, CaseIterable {
    /// fsync on every commit (WAL, `synchronous=FULL`): a committed decision survives a power cut.
    case full
    /// fsync at checkpoints only (WAL, `synchronous=NORMAL`): survives a crash of the worker
    /// process, may lose the last commits on a power cut.
    case normal
}

/// Tollgate's state in one SQLite file: what the worker must remember so that a redelivered
/// input is harmless (calls, vote inputs), budgets, parked escalations and their votes, the
/// outbox of messages still to be confirmed by the broker, and the hash-chained audit trail.
///
/// Not `Sendable`: one instance belongs to one thread (the worker's event loop, or a command).
public final class Store {
    public static let schemaVersion = 1

    let db: SQLiteDatabase
    public var path: String { db.path }

    /// The last audit entry inside the current transaction.
    private var auditHead: (seq: Int64, hash: [UInt8]) = (0, AuditRecord.genesisHash)
    private var auditHeadMoved = false
    private var inTransaction = false

    /// Opens (and creates or migrates) the database.
    ///
    /// - Parameter workerID: when given, the database is bound to this worker on first use and
    ///   refused to any other: pending escalations and the outbox belong to the worker whose
    ///   queues receive their votes.
    public init(path: String, workerID: String? = nil, durability: StoreDurability = .full) throws(StoreError) {
        db = try SQLiteDatabase(path: path)
        do {
            try db.execute("PRAGMA journal_mode=WAL")
            try db.execute("PRAGMA synchronous=\(durability == .full ? "FULL" : "NORMAL")")
            try db.execute("PRAGMA foreign_keys=OFF")
            try db.execute("PRAGMA temp_store=MEMORY")
            try migrate()
            if let workerID { try bind(to: workerID) }
        } catch {
            db.close()
            throw error
        }
    }

    /// Opens an existing database for reading only (the `pending` and `audit` commands), which
    /// works while a worker writes to it.
    public init(readingExisting path: String) throws(StoreError) {
        guard FileManager.default.fileExists(atPath: path) else {
            throw StoreError(kind: .open, message: "no database at \(path): give the --db the worker uses")
        }
        db = try SQLiteDatabase(path: path, readOnly: true)
        let version = try metaValue("schema_version")
        guard version != nil else {
            db.close()
            throw StoreError(kind: .mismatch, message: "\(path) is not a Tollgate database (no schema_version)")
        }
    }

    public func close() { db.close() }

    // MARK: - Schema

    private func migrate() throws(StoreError) {
        try db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID")
        if let existing = try metaValue("schema_version") {
            guard Int(existing) == Self.schemaVersion else {
                throw StoreError(
                    kind: .mismatch,
                    message:
                        "\(db.path) has schema version \(existing); this tollgate knows version \(Self.schemaVersion)"
                )
            }
            return
        }
        try db.execute(
            """
            BEGIN IMMEDIATE;
            CREATE TABLE calls (
                seq INTEGER PRIMARY KEY,
                request_id TEXT NOT NULL,
                agent_id TEXT NOT NULL,
                message_id TEXT,
                fingerprint BLOB,
                received_at INTEGER NOT NULL,
                decision TEXT NOT NULL,
                reply BLOB NOT NULL
            );
            CREATE UNIQUE INDEX calls_by_message ON calls(agent_id, message_id) WHERE message_id IS NOT NULL;
            CREATE INDEX calls_by_fingerprint ON calls(fingerprint) WHERE fingerprint IS NOT NULL;
            CREATE INDEX calls_by_time ON calls(received_at);
            CREATE TABLE budgets (
                agent_id TEXT NOT NULL,
                session_id TEXT NOT NULL,
                used INTEGER NOT NULL,
                PRIMARY KEY (agent_id, session_id)
            ) WITHOUT ROWID;
            CREATE TABLE escalations (
                request_id TEXT PRIMARY KEY,
                worker_id TEXT NOT NULL,
                agent_id TEXT NOT NULL,
                session_id TEXT NOT NULL,
                tool_name TEXT NOT NULL,
                arguments TEXT NOT NULL,
                reason TEXT,
                rule TEXT,
                message TEXT NOT NULL,
                policy_version TEXT NOT NULL,
                approvers TEXT NOT NULL,
                required_approvals INTEGER NOT NULL,
                required_denials INTEGER NOT NULL,
                timeout_action TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                deadline INTEGER NOT NULL,
                reply_to TEXT,
                correlation_id TEXT,
                status TEXT NOT NULL,
                resolution TEXT,
                decided_at INTEGER,
                charged INTEGER NOT NULL,
                final_reply BLOB
            );
            CREATE INDEX escalations_due ON escalations(deadline) WHERE status = 'pending';
            CREATE TABLE votes (
                request_id TEXT NOT NULL,
                voter TEXT NOT NULL,
                decision TEXT NOT NULL,
                comment TEXT,
                at INTEGER NOT NULL,
                PRIMARY KEY (request_id, voter)
            ) WITHOUT ROWID;
            CREATE TABLE vote_inputs (
                seq INTEGER PRIMARY KEY,
                publisher TEXT NOT NULL,
                message_id TEXT,
                fingerprint BLOB,
                received_at INTEGER NOT NULL,
                reply BLOB NOT NULL
            );
            CREATE UNIQUE INDEX vote_inputs_by_message ON vote_inputs(publisher, message_id) WHERE message_id IS NOT NULL;
            CREATE INDEX vote_inputs_by_fingerprint ON vote_inputs(fingerprint) WHERE fingerprint IS NOT NULL;
            CREATE INDEX vote_inputs_by_time ON vote_inputs(received_at);
            CREATE TABLE outbox (
                id INTEGER PRIMARY KEY,
                exchange TEXT NOT NULL,
                routing_key TEXT NOT NULL,
                correlation_id TEXT,
                body BLOB NOT NULL,
                mandatory INTEGER NOT NULL
            );
            CREATE TABLE audit (
                seq INTEGER PRIMARY KEY,
                at INTEGER NOT NULL,
                kind TEXT NOT NULL,
                request_id TEXT,
                agent_id TEXT,
                tool_name TEXT,
                decision TEXT,
                resolution TEXT,
                rule TEXT,
                voter TEXT,
                accepted INTEGER,
                detail TEXT,
                policy_version TEXT,
                prev_hash BLOB NOT NULL,
                hash BLOB NOT NULL
            );
            INSERT INTO meta(key, value) VALUES ('schema_version', '\(Self.schemaVersion)');
            COMMIT;
            """
        )
    }

    private func bind(to workerID: String) throws(StoreError) {
        if let owner = try metaValue("worker_id") {
            guard owner == workerID else {
                throw StoreError(
                    kind: .mismatch,
                    message: "\(db.path) belongs to worker '\(owner)', not '\(workerID)': "
                        + "each worker keeps its own database (its escalations are voted on through its own queue); "
                        + "start this worker with --worker-id \(owner) or give it another --db"
                )
            }
        } else {
            try setMeta("worker_id", workerID)
        }
    }

    func metaValue(_ key: String) throws(StoreError) -> String? {
        let stmt = try db.statement("SELECT value FROM meta WHERE key = ?1")
        stmt.bind(1, key)
        defer { stmt.reset() }
        return try stmt.step() ? stmt.string(0) : nil
    }

    func setMeta(_ key: String, _ value: String) throws(StoreError) {
        try db.statement(
            "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
        )
        .bind(1, key).bind(2, value).run()
    }

    /// The worker this database belongs to, if bound.
    public func ownerWorkerID() throws(StoreError) -> String? { try metaValue("worker_id") }

    // MARK: - Transactions

    /// Runs `body` in one write transaction (`BEGIN IMMEDIATE` ... `COMMIT`); rolls back and
    /// rethrows when `body` throws. Every write method below must be called inside one.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        precondition(!inTransaction, "nested Store.transaction")
        try db.execute("BEGIN IMMEDIATE")
        inTransaction = true
        defer { inTransaction = false }
        do {
            auditHead = try loadAuditHead()
            auditHeadMoved = false
            let result = try body()
            if auditHeadMoved {
                // The head is also kept in meta: deleting the newest entries then shows as a
                // chain that ends before its recorded head.
                try setMeta("audit_head", "\(auditHead.seq):\(auditHead.hash.hexString)")
            }
            try db.execute("COMMIT")
            return result
        } catch {
            try? db.execute("ROLLBACK")
            throw error
        }
    }

    // MARK: - Calls (idempotency)

    public func call(agentID: String, messageID: String) throws(StoreError) -> CallRecord? {
        let stmt = try db.statement(
            "SELECT request_id, agent_id, message_id, fingerprint, received_at, decision, reply FROM calls WHERE agent_id = ?1 AND message_id = ?2"
        )
        stmt.bind(1, agentID).bind(2, messageID)
        defer { stmt.reset() }
        return try stmt.step() ? Self.callRecord(stmt) : nil
    }

    public func call(fingerprint: [UInt8]) throws(StoreError) -> CallRecord? {
        let stmt = try db.statement(
            "SELECT request_id, agent_id, message_id, fingerprint, received_at, decision, reply FROM calls WHERE fingerprint = ?1 ORDER BY seq DESC LIMIT 1"
        )
        stmt.bind(1, blob: fingerprint)
        defer { stmt.reset() }
        return try stmt.step() ? Self.callRecord(stmt) : nil
    }

    private static func callRecord(_ stmt: SQLiteStatement) -> CallRecord {
        CallRecord(
            requestID: stmt.string(0),
            agentID: stmt.string(1),
            messageID: stmt.optionalString(2),
            fingerprint: stmt.optionalBlob(3),
            receivedAt: stmt.int64(4),
            decision: stmt.string(5),
            reply: stmt.blob(6)
        )
    }

    public func insertCall(_ call: CallRecord) throws(StoreError) {
        try db.statement(
            "INSERT INTO calls(request_id, agent_id, message_id, fingerprint, received_at, decision, reply) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        )
        .bind(1, call.requestID).bind(2, call.agentID).bind(3, call.messageID).bind(4, blob: call.fingerprint)
        .bind(5, call.receivedAt).bind(6, call.decision).bind(7, blob: call.reply)
        .run()
    }

    /// Forgets calls (and vote inputs) received before `cutoff`: a redelivery older than that
    /// is no longer recognised. The audit trail is never pruned.
    @discardableResult
    public func pruneInputs(receivedBefore cutoff: Millis, limit: Int = 10_000) throws(StoreError) -> Int {
        try db.statement(
            "DELETE FROM calls WHERE seq IN (SELECT seq FROM calls WHERE received_at < ?1 ORDER BY received_at LIMIT ?2)"
        )
        .bind(1, cutoff).bind(2, limit).run()
        var removed = db.changes
        try db.statement(
            "DELETE FROM vote_inputs WHERE seq IN (SELECT seq FROM vote_inputs WHERE received_at < ?1 ORDER BY received_at LIMIT ?2)"
        )
        .bind(1, cutoff).bind(2, limit).run()
        removed += db.changes
        return removed
    }

    // MARK: - Budgets

    public func budgetUsed(agentID: String, sessionID: String) throws(StoreError) -> Int {
        let stmt = try db.statement("SELECT used FROM budgets WHERE agent_id = ?1 AND session_id = ?2")
        stmt.bind(1, agentID).bind(2, sessionID)
        defer { stmt.reset() }
        return try stmt.step() ? stmt.int(0) : 0
    }

    /// Adds `delta` (negative to refund) to an agent's count of charged calls.
    public func charge(agentID: String, sessionID: String, delta: Int) throws(StoreError) {
        try db.statement(
            """
            INSERT INTO budgets(agent_id, session_id, used) VALUES (?1, ?2, max(?3, 0))
            ON CONFLICT(agent_id, session_id) DO UPDATE SET used = max(used + ?3, 0)
            """
        )
        .bind(1, agentID).bind(2, sessionID).bind(3, delta).run()
    }

    // MARK: - Escalations

    private static let escalationColumns = """
        request_id, worker_id, agent_id, session_id, tool_name, arguments, reason, rule, message, policy_version,
        approvers, required_approvals, required_denials, timeout_action, created_at, deadline, reply_to,
        correlation_id, status, resolution, decided_at, charged
        """

    public func insertEscalation(_ e: EscalationRecord) throws(StoreError) {
        try db.statement(
            "INSERT INTO escalations(\(Self.escalationColumns)) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)"
        )
        .bind(1, e.requestID).bind(2, e.workerID).bind(3, e.agentID).bind(4, e.sessionID).bind(5, e.toolName)
        .bind(6, e.argumentsJSON).bind(7, e.reason).bind(8, e.rule).bind(9, e.message).bind(10, e.policyVersion)
        .bind(11, Self.encodeList(e.approvers)).bind(12, e.requiredApprovals).bind(13, e.requiredDenials)
        .bind(14, e.timeoutAction).bind(15, e.createdAt).bind(16, e.deadline).bind(17, e.replyTo)
        .bind(18, e.correlationID).bind(19, e.status.rawValue).bind(20, e.resolution).bind(21, e.decidedAt)
        .bind(22, e.charged)
        .run()
    }

    public func escalation(requestID: String) throws(StoreError) -> EscalationRecord? {
        let stmt = try db.statement("SELECT \(Self.escalationColumns) FROM escalations WHERE request_id = ?1")
        stmt.bind(1, requestID)
        defer { stmt.reset() }
        return try stmt.step() ? Self.escalationRecord(stmt) : nil
    }

    /// Pending escalations, earliest deadline first.
    public func pendingEscalations(limit: Int = .max) throws(StoreError) -> [EscalationRecord] {
        let stmt = try db.statement(
            "SELECT \(Self.escalationColumns) FROM escalations WHERE status = 'pending' ORDER BY deadline LIMIT ?1"
        )
        stmt.bind(1, limit)
        defer { stmt.reset() }
        var result: [EscalationRecord] = []
        while try stmt.step() { result.append(Self.escalationRecord(stmt)) }
        return result
    }

    /// Pending escalations whose deadline is at or before `now`, earliest first.
    public func dueEscalations(now: Millis, limit: Int) throws(StoreError) -> [EscalationRecord] {
        let stmt = try db.statement(
            "SELECT \(Self.escalationColumns) FROM escalations WHERE status = 'pending' AND deadline <= ?1 ORDER BY deadline LIMIT ?2"
        )
        stmt.bind(1, now).bind(2, limit)
        defer { stmt.reset() }
        var result: [EscalationRecord] = []
        while try stmt.step() { result.append(Self.escalationRecord(stmt)) }
        return result
    }

    /// The earliest deadline of a pending escalation (one index probe).
    public func nextDeadline() throws(StoreError) -> Millis? {
        let stmt = try db.statement("SELECT min(deadline) FROM escalations WHERE status = 'pending'")
        defer { stmt.reset() }
        guard try stmt.step(), !stmt.isNull(0) else { return nil }
        return stmt.int64(0)
    }

    public func pendingCount() throws(StoreError) -> Int {
        let stmt = try db.statement("SELECT count(*) FROM escalations WHERE status = 'pending'")
        defer { stmt.reset() }
        return try stmt.step() ? stmt.int(0) : 0
    }

    /// Marks a pending escalation decided, keeping the final decision's body for redeliveries of
    /// the call. Returns false (and changes nothing) when it was not pending any more: a request
    /// is never decided twice.
    @discardableResult
    public func decideEscalation(
        requestID: String,
        status: EscalationStatus,
        resolution: String,
        at: Millis,
        finalReply: [UInt8] = []
    ) throws(StoreError) -> Bool {
        precondition(status != .pending)
        try db.statement(
            "UPDATE escalations SET status = ?2, resolution = ?3, decided_at = ?4, final_reply = ?5 WHERE request_id = ?1 AND status = 'pending'"
        )
        .bind(1, requestID).bind(2, status.rawValue).bind(3, resolution).bind(4, at).bind(5, blob: finalReply).run()
        return db.changes == 1
    }

    /// The body of the final decision of a decided escalation.
    public func finalReply(requestID: String) throws(StoreError) -> [UInt8]? {
        let stmt = try db.statement("SELECT final_reply FROM escalations WHERE request_id = ?1 AND status != 'pending'")
        stmt.bind(1, requestID)
        defer { stmt.reset() }
        return try stmt.step() ? stmt.optionalBlob(0) : nil
    }

    private static func escalationRecord(_ s: SQLiteStatement) -> EscalationRecord {
        EscalationRecord(
            requestID: s.string(0),
            workerID: s.string(1),
            agentID: s.string(2),
            sessionID: s.string(3),
            toolName: s.string(4),
            argumentsJSON: s.string(5),
            reason: s.optionalString(6),
            rule: s.optionalString(7),
            message: s.string(8),
            policyVersion: s.string(9),
            approvers: decodeList(s.string(10)),
            requiredApprovals: s.int(11),
            requiredDenials: s.int(12),
            timeoutAction: s.string(13),
            createdAt: s.int64(14),
            deadline: s.int64(15),
            replyTo: s.optionalString(16),
            correlationID: s.optionalString(17),
            status: EscalationStatus(rawValue: s.string(18)) ?? .pending,
            resolution: s.optionalString(19),
            decidedAt: s.optionalInt64(20),
            charged: s.int(21) != 0
        )
    }

    static func encodeList(_ list: [String]) -> String {
        // JSON text, so the column is readable with the sqlite3 shell and `json_each`.
        (try? String(decoding: JSONEncoder().encode(list), as: UTF8.self)) ?? "[]"
    }

    static func decodeList(_ text: String) -> [String] {
        (try? JSONDecoder().decode([String].self, from: Data(text.utf8))) ?? []
    }

    // MARK: - Votes

    public func votes(requestID: String) throws(StoreError) -> [VoteRecord] {
        let stmt = try db.statement(
            "SELECT request_id, voter, decision, comment, at FROM votes WHERE request_id = ?1 ORDER BY at, voter"
        )
        stmt.bind(1, requestID)
        defer { stmt.reset() }
        var result: [VoteRecord] = []
        while try stmt.step() {
            result.append(
                VoteRecord(
                    requestID: stmt.string(0),
                    voter: stmt.string(1),
                    decision: stmt.string(2),
                    comment: stmt.optionalString(3),
                    at: stmt.int64(4)
                )
            )
        }
        return result
    }

    /// Records an accepted vote. Returns false when this voter already voted on the request.
    @discardableResult
    public func insertVote(_ vote: VoteRecord) throws(StoreError) -> Bool {
        try db.statement(
            "INSERT OR IGNORE INTO votes(request_id, voter, decision, comment, at) VALUES (?1, ?2, ?3, ?4, ?5)"
        )
        .bind(1, vote.requestID).bind(2, vote.voter).bind(3, vote.decision).bind(4, vote.comment).bind(5, vote.at)
        .run()
        return db.changes == 1
    }

    public func voteInput(publisher: String, messageID: String) throws(StoreError) -> VoteInputRecord? {
        let stmt = try db.statement(
            "SELECT publisher, message_id, fingerprint, received_at, reply FROM vote_inputs WHERE publisher = ?1 AND message_id = ?2"
        )
        stmt.bind(1, publisher).bind(2, messageID)
        defer { stmt.reset() }
        return try stmt.step() ? Self.voteInputRecord(stmt) : nil
    }

    public func voteInput(fingerprint: [UInt8]) throws(StoreError) -> VoteInputRecord? {
        let stmt = try db.statement(
            "SELECT publisher, message_id, fingerprint, received_at, reply FROM vote_inputs WHERE fingerprint = ?1 ORDER BY seq DESC LIMIT 1"
        )
        stmt.bind(1, blob: fingerprint)
        defer { stmt.reset() }
        return try stmt.step() ? Self.voteInputRecord(stmt) : nil
    }

    private static func voteInputRecord(_ s: SQLiteStatement) -> VoteInputRecord {
        VoteInputRecord(
            publisher: s.string(0),
            messageID: s.optionalString(1),
            fingerprint: s.optionalBlob(2),
            receivedAt: s.int64(3),
            reply: s.blob(4)
        )
    }

    public func insertVoteInput(_ input: VoteInputRecord) throws(StoreError) {
        try db.statement(
            "INSERT OR IGNORE INTO vote_inputs(publisher, message_id, fingerprint, received_at, reply) VALUES (?1, ?2, ?3, ?4, ?5)"
        )
        .bind(1, input.publisher).bind(2, input.messageID).bind(3, blob: input.fingerprint).bind(4, input.receivedAt)
        .bind(5, blob: input.reply)
        .run()
    }

    // MARK: - Outbox

    /// Adds a message to publish; returns its id.
    @discardableResult
    public func enqueue(_ message: OutboxMessage) throws(StoreError) -> Int64 {
        try db.statement(
            "INSERT INTO outbox(exchange, routing_key, correlation_id, body, mandatory) VALUES (?1, ?2, ?3, ?4, ?5)"
        )
        .bind(1, message.exchange).bind(2, message.routingKey).bind(3, message.correlationID)
        .bind(4, blob: message.body).bind(5, message.mandatory)
        .run()
        return db.lastInsertRowID
    }

    /// Messages not yet confirmed, oldest first.
    public func outbox(limit: Int = .max) throws(StoreError) -> [OutboxMessage] {
        let stmt = try db.statement(
            "SELECT id, exchange, routing_key, correlation_id, body, mandatory FROM outbox ORDER BY id LIMIT ?1"
        )
        stmt.bind(1, limit)
        defer { stmt.reset() }
        var result: [OutboxMessage] = []
        while try stmt.step() {
            result.append(
                OutboxMessage(
                    id: stmt.int64(0),
                    exchange: stmt.string(1),
                    routingKey: stmt.string(2),
                    correlationID: stmt.optionalString(3),
                    body: stmt.blob(4),
                    mandatory: stmt.int(5) != 0
                )
            )
        }
        return result
    }

    /// Deletes outbox messages the broker confirmed.
    public func deleteOutbox(ids: some Sequence<Int64>) throws(StoreError) {
        let stmt = try db.statement("DELETE FROM outbox WHERE id = ?1")
        for id in ids {
            try stmt.bind(1, id).run()
        }
    }

    public func outboxCount() throws(StoreError) -> Int {
        let stmt = try db.statement("SELECT count(*) FROM outbox")
        defer { stmt.reset() }
        return try stmt.step() ? stmt.int(0) : 0
    }

    // MARK: - Audit

    private func loadAuditHead() throws(StoreError) -> (seq: Int64, hash: [UInt8]) {
        let stmt = try db.statement("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
        defer { stmt.reset() }
        return try stmt.step() ? (stmt.int64(0), stmt.blob(1)) : (0, AuditRecord.genesisHash)
    }

    /// Appends an entry to the chain (inside a transaction) and returns it with its sequence
    /// number and hashes.
    @discardableResult
    public func appendAudit(_ record: AuditRecord) throws(StoreError) -> AuditRecord {
        precondition(inTransaction, "appendAudit outside a transaction")
        var record = record
        record.seq = auditHead.seq + 1
        record.previousHash = auditHead.hash
        record.hash = record.computeHash()
        try db.statement(
            """
            INSERT INTO audit(seq, at, kind, request_id, agent_id, tool_name, decision, resolution, rule, voter, accepted,
                              detail, policy_version, prev_hash, hash)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
            """
        )
        .bind(1, record.seq).bind(2, record.at).bind(3, record.kind.rawValue).bind(4, record.requestID)
        .bind(5, record.agentID).bind(6, record.toolName).bind(7, record.decision).bind(8, record.resolution)
        .bind(9, record.rule).bind(10, record.voter).bind(11, record.accepted.map { $0 ? 1 : 0 })
        .bind(12, record.detail).bind(13, record.policyVersion).bind(14, blob: record.previousHash)
        .bind(15, blob: record.hash)
        .run()
        auditHead = (record.seq, record.hash)
        auditHeadMoved = true
        return record
    }

    /// Calls `body` with every audit entry in chain order (streaming; constant memory).
    public func forEachAudit(fromSeq: Int64 = 1, _ body: (AuditRecord) throws -> Void) throws {
        let stmt = try db.statement(
            """
            SELECT seq, at, kind, request_id, agent_id, tool_name, decision, resolution, rule, voter, accepted,
                   detail, policy_version, prev_hash, hash
            FROM audit WHERE seq >= ?1 ORDER BY seq
            """
        )
        stmt.bind(1, fromSeq)
        defer { stmt.reset() }
        while try stmt.step() {
            let record = AuditRecord(
                seq: stmt.int64(0),
                at: stmt.int64(1),
                kind: AuditRecord.Kind(rawValue: stmt.string(2)),
                requestID: stmt.optionalString(3),
                agentID: stmt.optionalString(4),
                toolName: stmt.optionalString(5),
                decision: stmt.optionalString(6),
                resolution: stmt.optionalString(7),
                rule: stmt.optionalString(8),
                voter: stmt.optionalString(9),
                accepted: stmt.optionalInt64(10).map { $0 != 0 },
                detail: stmt.optionalString(11),
                policyVersion: stmt.optionalString(12),
                previousHash: stmt.blob(13),
                hash: stmt.blob(14)
            )
            try body(record)
        }
    }

    /// Walks the whole chain and names the first entry that was edited, removed or reordered.
    public func verifyAudit() throws -> AuditVerification {
        var expectedSeq: Int64 = 1
        var previous = AuditRecord.genesisHash
        var problem: String?
        var badSeq: Int64?
        var checked: Int64 = 0
        struct Stop: Error {}
        do {
            try forEachAudit { record in
                if record.seq != expectedSeq {
                    if record.seq > expectedSeq {
                        problem =
                            "entry \(expectedSeq) is missing: the chain jumps from entry \(expectedSeq - 1) to \(record.seq)"
                    } else {
                        problem = "entry \(record.seq) is out of order: expected entry \(expectedSeq)"
                    }
                    badSeq = expectedSeq
                    throw Stop()
                }
                if record.previousHash != previous {
                    problem =
                        "entry \(record.seq) does not follow entry \(record.seq - 1): an entry before it was removed, replaced or reordered"
                    badSeq = record.seq
                    throw Stop()
                }
                if record.computeHash() != record.hash {
                    problem = "entry \(record.seq) was edited: its content does not match its hash"
                    badSeq = record.seq
                    throw Stop()
                }
                previous = record.hash
                expectedSeq += 1
                checked += 1
            }
        } catch is Stop {}
        let headSeq = expectedSeq - 1
        if problem == nil, let head = try metaValue("audit_head") {
            let parts = head.split(separator: ":")
            if parts.count == 2, let recordedSeq = Int64(parts[0]) {
                if recordedSeq > headSeq {
                    problem =
                        "entries \(headSeq + 1) to \(recordedSeq) were removed: the chain ends at entry \(headSeq) but its recorded head is entry \(recordedSeq)"
                    badSeq = headSeq + 1
                } else if recordedSeq == headSeq, String(parts[1]) != previous.hexString {
                    problem = "entry \(headSeq) was replaced: its hash differs from the recorded head"
                    badSeq = headSeq
                }
            }
        }
        return AuditVerification(
            checked: checked,
            headSeq: headSeq,
            headHash: previous.hexString,
            problem: problem,
            firstBadSeq: badSeq
        )
    }
}
