// Standing grants: made when people approve with a grant, looked up when the policy escalates
// a call, listed for the fleet, revoked early.
extension Store {
    private static let grantColumns = """
        grant_id, agent_id, session_id, tool_name, rule, policy_version, approvers, request_id, created_at,
        expires_at, revoked_at, revoked_by
        """

    public func insertGrant(_ g: GrantRecord) throws(StoreError) {
        try db.run(
            "INSERT INTO grants(\(Self.grantColumns)) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            [
                .text(g.grantID), .text(g.agentID), .text(g.sessionID), .text(g.toolName), .text(g.rule),
                .text(g.policyVersion), .text(Self.encodeList(g.approvers)), .text(g.requestID),
                .integer(g.createdAt), .integer(g.expiresAt), .integer(g.revokedAt), .text(g.revokedBy),
            ]
        )
    }

    /// The grant in force that covers a call: same agent, tool, rule and policy version, the
    /// call's session or any (scope `agent`), not revoked, expiring after `now`. The one that
    /// lasts longest when several do.
    public func grantInForce(
        agentID: String,
        toolName: String,
        rule: String?,
        policyVersion: String,
        sessionID: String,
        now: Millis
    ) throws(StoreError) -> GrantRecord? {
        try db.first(
            """
            SELECT \(Self.grantColumns) FROM grants
            WHERE agent_id = ?1 AND tool_name = ?2 AND rule IS ?3 AND policy_version = ?4
              AND (session_id IS NULL OR session_id = ?5) AND revoked_at IS NULL AND expires_at > ?6
            ORDER BY expires_at DESC LIMIT 1
            """,
            [.text(agentID), .text(toolName), .text(rule), .text(policyVersion), .text(sessionID), .integer(now)],
            Self.grantRecord
        )
    }

    public func grant(id: String) throws(StoreError) -> GrantRecord? {
        try db.first(
            "SELECT \(Self.grantColumns) FROM grants WHERE grant_id = ?1",
            [.text(id)],
            Self.grantRecord
        )
    }

    /// The grant the approval of a request made, if it made one.
    public func grant(requestID: String) throws(StoreError) -> GrantRecord? {
        try db.first(
            "SELECT \(Self.grantColumns) FROM grants WHERE request_id = ?1",
            [.text(requestID)],
            Self.grantRecord
        )
    }

    /// Grants not revoked and not expired at `now`, made under `policyVersion` when given (a
    /// grant of another version covers nothing), soonest to expire first.
    public func grantsInForce(
        now: Millis,
        policyVersion: String? = nil,
        limit: Int = .max
    ) throws(StoreError)
        -> [GrantRecord]
    {
        try db.all(
            """
            SELECT \(Self.grantColumns) FROM grants
            WHERE revoked_at IS NULL AND expires_at > ?1 AND (?2 IS NULL OR policy_version = ?2)
            ORDER BY expires_at LIMIT ?3
            """,
            [.integer(now), .text(policyVersion), .integer(limit)],
            Self.grantRecord
        )
    }

    /// Ends a grant early. Returns false (and changes nothing) when it was already revoked.
    @discardableResult
    public func revokeGrant(id: String, by revoker: String, at now: Millis) throws(StoreError) -> Bool {
        try db.run(
            "UPDATE grants SET revoked_at = ?2, revoked_by = ?3 WHERE grant_id = ?1 AND revoked_at IS NULL",
            [.text(id), .integer(now), .text(revoker)]
        ) == 1
    }

    /// Marks every grant in force made under another policy version revoked by `policy change`.
    @discardableResult
    public func endGrants(notUnder policyVersion: String, at now: Millis) throws(StoreError) -> Int {
        try db.run(
            """
            UPDATE grants SET revoked_at = ?2, revoked_by = 'policy change'
            WHERE revoked_at IS NULL AND expires_at > ?2 AND policy_version != ?1
            """,
            [.text(policyVersion), .integer(now)]
        )
    }

    private static func grantRecord(_ row: SQLiteRow) throws(StoreError) -> GrantRecord {
        GrantRecord(
            grantID: try row.string(0),
            agentID: try row.string(1),
            sessionID: try row.optionalString(2),
            toolName: try row.string(3),
            rule: try row.optionalString(4),
            policyVersion: try row.string(5),
            approvers: try decodeList(try row.string(6), column: "grants.approvers"),
            requestID: try row.string(7),
            createdAt: try row.int64(8),
            expiresAt: try row.int64(9),
            revokedAt: try row.optionalInt64(10),
            revokedBy: try row.optionalString(11)
        )
    }
}
