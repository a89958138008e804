// The hash-chained audit trail: appended inside transactions, read and verified by commands.
extension Store {
    private static let auditColumns = """
        seq, at, kind, request_id, agent_id, tool_name, decision, resolution, rule, voter, accepted,
        detail, policy_version, prev_hash, hash
        """

    private static let insertAuditSQL =
        "INSERT INTO audit(\(auditColumns)) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"

    func loadAuditHead() throws(StoreError) -> (seq: Int64, hash: [UInt8]) {
        try db.first("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1") { row throws(StoreError) in
            (try row.int64(0), try row.blob(1))
        } ?? (0, AuditRecord.genesisHash)
    }

    /// Appends an entry to the chain (inside a transaction) and returns it with its sequence
    /// number and hashes.
    @discardableResult
    public func appendAudit(_ record: consuming AuditRecord) throws(StoreError) -> AuditRecord {
        precondition(inTransaction, "appendAudit outside a transaction")
        var record = record
        record.seq = auditHead.seq + 1
        record.previousHash = auditHead.hash
        record.hash = record.computeHash()
        try db.run(
            Self.insertAuditSQL,
            [
                .integer(record.seq), .integer(record.at), .text(record.kind.rawValue), .text(record.requestID),
                .text(record.agentID), .text(record.toolName), .text(record.decision), .text(record.resolution),
                .text(record.rule), .text(record.voter), .integer(record.accepted.map { $0 ? 1 : 0 }),
                .text(record.detail), .text(record.policyVersion), .blob(record.previousHash), .blob(record.hash),
            ]
        )
        auditHead = (record.seq, record.hash)
        auditHeadMoved = true
        return record
    }

    /// Calls `body` with every audit entry in chain order (streaming; constant memory).
    public func forEachAudit(fromSeq: Int64 = 1, _ body: (AuditRecord) throws -> Void) throws {
        try db.forEach("SELECT \(Self.auditColumns) FROM audit WHERE seq >= ?1 ORDER BY seq", [.integer(fromSeq)]) {
            row in
            try body(try Self.auditRecord(row))
        }
    }

    private static func auditRecord(_ row: SQLiteRow) throws(StoreError) -> AuditRecord {
        AuditRecord(
            seq: try row.int64(0),
            at: try row.int64(1),
            kind: AuditRecord.Kind(rawValue: try row.string(2)),
            requestID: try row.optionalString(3),
            agentID: try row.optionalString(4),
            toolName: try row.optionalString(5),
            decision: try row.optionalString(6),
            resolution: try row.optionalString(7),
            rule: try row.optionalString(8),
            voter: try row.optionalString(9),
            accepted: try row.optionalInt64(10).map { $0 != 0 },
            detail: try row.optionalString(11),
            policyVersion: try row.optionalString(12),
            previousHash: try row.blob(13),
            hash: try row.blob(14)
        )
    }

    /// Walks the whole chain and names the first entry that was edited, removed or reordered.
    public func verifyAudit() throws -> AuditVerification {
        var walk = AuditWalk()
        struct Stop: Error {}
        do {
            try forEachAudit { record in
                if !walk.check(record) { throw Stop() }
            }
        } catch is Stop {}
        if walk.problem == nil, let head = try metaValue("audit_head") { walk.checkRecordedHead(head) }
        return walk.result
    }
}

/// The checks of `verifyAudit`, entry by entry.
private struct AuditWalk {
    var expectedSeq: Int64 = 1
    var previous = AuditRecord.genesisHash
    var problem: String?
    var badSeq: Int64?
    var checked: Int64 = 0

    /// False at the first entry that breaks the chain.
    mutating func check(_ record: AuditRecord) -> Bool {
        if record.seq != expectedSeq {
            problem =
                record.seq > expectedSeq
                ? "entry \(expectedSeq) is missing: the chain jumps from entry \(expectedSeq - 1) to \(record.seq)"
                : "entry \(record.seq) is out of order: expected entry \(expectedSeq)"
            badSeq = expectedSeq
            return false
        }
        if record.previousHash != previous {
            problem =
                "entry \(record.seq) does not follow entry \(record.seq - 1): an entry before it was removed, replaced or reordered"
            badSeq = record.seq
            return false
        }
        if record.computeHash() != record.hash {
            problem = "entry \(record.seq) was edited: its content does not match its hash"
            badSeq = record.seq
            return false
        }
        previous = record.hash
        expectedSeq += 1
        checked += 1
        return true
    }

    /// Compares the chain's end with the head recorded in meta (`seq:hash`).
    mutating func checkRecordedHead(_ head: String) {
        let headSeq = expectedSeq - 1
        let parts = head.split(separator: ":")
        guard parts.count == 2, let recordedSeq = Int64(parts[0]) else { return }
        if recordedSeq > headSeq {
            problem =
                "entries \(headSeq + 1) to \(recordedSeq) were removed: the chain ends at entry \(headSeq) but its recorded head is entry \(recordedSeq)"
            badSeq = headSeq + 1
        } else if recordedSeq == headSeq, String(parts[1]) != previous.hexString {
            problem = "entry \(headSeq) was replaced: its hash differs from the recorded head"
            badSeq = headSeq
        }
    }

    var result: AuditVerification {
        AuditVerification(
            checked: checked,
            headSeq: expectedSeq - 1,
            headHash: previous.hexString,
            problem: problem,
            firstBadSeq: badSeq
        )
    }
}
