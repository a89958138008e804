/// The database schema as an ordered list of migrations. A new database runs them all; an older
/// one runs those above its `schema_version`, all in one write transaction, so two processes
/// opening the same new file cannot both create the tables.
enum StoreSchema {
    /// Version N is reached by running `migrations[0..<N]`.
    static let migrations: [String] = [
        version1, version2, version3, version4, version5, version6, version7, version8, version9,
        version10,
    ]
    static var current: Int { migrations.count }

    /// Calls, budgets, escalations, votes, vote inputs, outbox, audit.
    private static let version1 = """
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
        """

    /// Everyone else waiting for an escalation (retries from another `reply_to` or with another
    /// `correlation_id`); outbox rows that carry the properties and headers of a dead letter; the
    /// database's own id (`database_id` in meta), which the worker also leaves on the broker so
    /// that a worker started with the same id and another database is refused.
    private static let version2 = """
        CREATE TABLE waiters (
            seq INTEGER PRIMARY KEY,
            request_id TEXT NOT NULL,
            reply_to TEXT NOT NULL,
            correlation_id TEXT
        );
        CREATE INDEX waiters_by_request ON waiters(request_id);
        ALTER TABLE outbox ADD COLUMN message_id TEXT;
        ALTER TABLE outbox ADD COLUMN reply_to TEXT;
        ALTER TABLE outbox ADD COLUMN headers TEXT;
        INSERT OR IGNORE INTO meta(key, value) VALUES ('database_id', lower(hex(randomblob(16))));
        """

    /// Budget hand-offs already applied (by message id), so a redelivered one adds nothing; outbox
    /// rows published with the worker's own `user_id` (hand-offs and rebalance requests).
    private static let version3 = """
        CREATE TABLE handoffs (
            message_id TEXT PRIMARY KEY,
            received_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        ALTER TABLE outbox ADD COLUMN as_worker INTEGER NOT NULL DEFAULT 0;
        """

    /// When a vote needs a comment (`escalation.require_comment`); escalations parked before
    /// keep agent-os's rule, never.
    private static let version4 = """
        ALTER TABLE escalations ADD COLUMN require_comment TEXT NOT NULL DEFAULT 'never';
        """

    /// Approve with edits: the call as the policy saw it (`call_context`, JSON), so an edited call
    /// can be evaluated as if the agent had sent it, and the escalation's `round` (0, and one
    /// more per accepted edit). Votes carry the round they were cast in (only the current round
    /// counts; a voter may vote again in a new round), the step of a staged approval it was cast
    /// in (`phase`, see version 7) and the edited arguments of an edit. The votes table is rebuilt
    /// for its new key.
    private static let version5 = """
        ALTER TABLE escalations ADD COLUMN call_context TEXT;
        ALTER TABLE escalations ADD COLUMN round INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE votes_v5 (
            request_id TEXT NOT NULL,
            round INTEGER NOT NULL,
            phase INTEGER NOT NULL DEFAULT 0,
            voter TEXT NOT NULL,
            decision TEXT NOT NULL,
            comment TEXT,
            at INTEGER NOT NULL,
            arguments TEXT,
            PRIMARY KEY (request_id, round, phase, voter)
        ) WITHOUT ROWID;
        INSERT INTO votes_v5(request_id, round, voter, decision, comment, at)
            SELECT request_id, 0, voter, decision, comment, at FROM votes;
        DROP TABLE votes;
        ALTER TABLE votes_v5 RENAME TO votes;
        """

    /// Standing grants: the longest grant a request's rule allows (`escalation.max_grant_seconds`,
    /// stored with the request), the grant an approving vote asks for, and the grants made.
    private static let version6 = """
        ALTER TABLE escalations ADD COLUMN max_grant_seconds INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE votes ADD COLUMN grant_scope TEXT;
        ALTER TABLE votes ADD COLUMN grant_ttl_seconds INTEGER;
        CREATE TABLE grants (
            grant_id TEXT PRIMARY KEY,
            agent_id TEXT NOT NULL,
            session_id TEXT,
            tool_name TEXT NOT NULL,
            rule TEXT,
            policy_version TEXT NOT NULL,
            approvers TEXT NOT NULL,
            request_id TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            revoked_at INTEGER,
            revoked_by TEXT
        ) WITHOUT ROWID;
        CREATE INDEX grants_in_force ON grants(agent_id, tool_name, expires_at) WHERE revoked_at IS NULL;
        """

    /// Approval stages: the steps of a staged escalation (JSON; a stage with a fallback group is
    /// two steps) and the step it is in (`phase`; the escalation's approvers, quorum, deadline
    /// and timeout action are those of that step).
    private static let version7 = """
        ALTER TABLE escalations ADD COLUMN stages TEXT;
        ALTER TABLE escalations ADD COLUMN phase INTEGER NOT NULL DEFAULT 0;
        """

    /// Escalation fatigue: an agent's pending escalations and its recent ones are counted through
    /// these, in a few index pages, however many requests the database holds.
    private static let version8 = """
        CREATE INDEX escalations_pending_by_agent ON escalations(agent_id, rule) WHERE status = 'pending';
        CREATE INDEX escalations_by_agent_time ON escalations(agent_id, created_at);
        """

    /// Budget counts this worker handed off and that are still on their way (a re-homing's
    /// epoch): they still count here until the hand-off comes back or the epoch's marker arrives.
    private static let version9 = """
        CREATE TABLE budgets_in_transit (
            agent_id TEXT NOT NULL,
            session_id TEXT NOT NULL,
            epoch INTEGER NOT NULL,
            used INTEGER NOT NULL,
            PRIMARY KEY (agent_id, session_id, epoch)
        ) WITHOUT ROWID;
        """

    /// Call records that follow their agents across ring changes: whose worker decided a record
    /// handed here (`adopted_from`, its database id), and which of this worker's own pending
    /// requests were handed away (their final decision follows them).
    private static let version10 = """
        ALTER TABLE calls ADD COLUMN adopted_from TEXT;
        CREATE TABLE handed_pending (
            request_id TEXT PRIMARY KEY,
            message_id TEXT NOT NULL,
            received_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        """
}
