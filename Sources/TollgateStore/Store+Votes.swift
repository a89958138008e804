// Accepted votes, and the vote messages already handled (for redeliveries).
extension Store {
    public func votes(requestID: String) throws(StoreError) -> [VoteRecord] {
        try db.all(
            """
            SELECT request_id, voter, decision, comment, at, round, arguments, grant_scope, grant_ttl_seconds, phase
            FROM votes WHERE request_id = ?1
            ORDER BY round, phase, at, voter
            """,
            [.text(requestID)]
        ) { row throws(StoreError) in
            VoteRecord(
                requestID: try row.string(0),
                voter: try row.string(1),
                decision: try row.value(2, as: VoteChoice.self),
                comment: try row.optionalString(3),
                at: try row.int64(4),
                round: try row.int(5),
                argumentsJSON: try row.optionalString(6),
                grant: row.isNull(7)
                    ? nil : GrantRequest(scope: try row.value(7, as: GrantScope.self), ttlSeconds: try row.int(8)),
                phase: try row.int(9)
            )
        }
    }

    /// Records an accepted vote. Returns false when this voter already voted on the request in
    /// the vote's round.
    @discardableResult
    public func insertVote(_ vote: VoteRecord) throws(StoreError) -> Bool {
        let changed = try db.run(
            """
            INSERT OR IGNORE INTO votes(request_id, voter, decision, comment, at, round, arguments, grant_scope,
                grant_ttl_seconds, phase)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
            """,
            [
                .text(vote.requestID), .text(vote.voter), .text(vote.decision.rawValue), .text(vote.comment),
                .integer(vote.at), .integer(vote.round), .text(vote.argumentsJSON), .text(vote.grant?.scope.rawValue),
                .integer(vote.grant.map { Int64($0.ttlSeconds) }), .integer(vote.phase),
            ]
        )
        return changed == 1
    }

    private static let voteInputColumns = "publisher, message_id, fingerprint, received_at, reply"

    public func voteInput(publisher: String, messageID: String) throws(StoreError) -> VoteInputRecord? {
        try db.first(
            "SELECT \(Self.voteInputColumns) FROM vote_inputs WHERE publisher = ?1 AND message_id = ?2",
            [.text(publisher), .text(messageID)],
            Self.voteInputRecord
        )
    }

    public func voteInput(fingerprint: [UInt8]) throws(StoreError) -> VoteInputRecord? {
        try db.first(
            "SELECT \(Self.voteInputColumns) FROM vote_inputs WHERE fingerprint = ?1 ORDER BY seq DESC LIMIT 1",
            [.blob(fingerprint)],
            Self.voteInputRecord
        )
    }

    private static func voteInputRecord(_ row: SQLiteRow) throws(StoreError) -> VoteInputRecord {
        VoteInputRecord(
            publisher: try row.string(0),
            messageID: try row.optionalString(1),
            fingerprint: try row.optionalBlob(2),
            receivedAt: try row.int64(3),
            reply: try row.blob(4)
        )
    }

    public func insertVoteInput(_ input: VoteInputRecord) throws(StoreError) {
        try db.run(
            "INSERT OR IGNORE INTO vote_inputs(\(Self.voteInputColumns)) VALUES (?1, ?2, ?3, ?4, ?5)",
            [
                .text(input.publisher), .text(input.messageID), .blob(input.fingerprint), .integer(input.receivedAt),
                .blob(input.reply),
            ]
        )
    }
}
