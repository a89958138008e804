// Call records that follow their agents: when the ring of the consistent-hash exchange changes,
// a worker hands its recent records to the workers that own the agents now, so that a retry
// reaching the new owner is answered as the first worker answered it.
extension Store {
    /// What adopting a handed record changed here.
    public enum Adoption: Equatable, Sendable {
        /// The record is new here.
        case inserted
        /// A pending record adopted before now has its final decision.
        case finalized
        /// Nothing: the same record is here already, or this worker has its own record of that
        /// call (a retry decided here before the hand-off arrived).
        case unchanged
    }

    /// This worker's calls with a `message_id` and an agent id (a malformed call without one
    /// cannot be routed to anyone) received at or after `since`, its adopted ones included,
    /// ordered by agent and time. A parked call whose escalation has been decided
    /// carries its final decision and reply.
    public func recentCalls(since: Millis) throws(StoreError) -> [CallRecord] {
        try db.all(
            """
            SELECT c.request_id, c.agent_id, c.message_id, NULL, c.received_at,
                   CASE WHEN e.status IS NOT NULL AND e.status != 'pending' AND length(e.final_reply) > 0
                        THEN e.status ELSE c.decision END,
                   CASE WHEN e.status IS NOT NULL AND e.status != 'pending' AND length(e.final_reply) > 0
                        THEN e.final_reply ELSE c.reply END,
                   c.adopted_from
            FROM calls c LEFT JOIN escalations e ON c.decision = 'pending' AND e.request_id = c.request_id
            WHERE c.received_at >= ?1 AND c.message_id IS NOT NULL AND c.agent_id != ''
            ORDER BY c.agent_id, c.received_at
            """,
            [.integer(since)],
            Self.callRecord
        )
    }

    /// Remembers that these pending calls of this worker were handed away: their final decision
    /// is handed after them (`takeHanded`).
    public func markHanded(_ calls: [CallRecord]) throws(StoreError) {
        for call in calls {
            try db.run(
                "INSERT OR IGNORE INTO handed_pending(request_id, message_id, received_at) VALUES (?1, ?2, ?3)",
                [.text(call.requestID), .text(call.messageID ?? ""), .integer(call.receivedAt)]
            )
        }
    }

    /// The call of `requestID` (its `message_id` and when it was received), once, when it was
    /// handed away while pending.
    public func takeHanded(requestID: String) throws(StoreError) -> (messageID: String, receivedAt: Millis)? {
        // One statement: SQLite makes a RETURNING statement's changes at its first step.
        try db.first(
            "DELETE FROM handed_pending WHERE request_id = ?1 RETURNING message_id, received_at",
            [.text(requestID)]
        ) { row throws(StoreError) in (try row.string(0), try row.int64(1)) }
    }

    /// Keeps a record another worker handed here (`record.adoptedFrom` names it). A record of the
    /// same call that is already here wins, except that an adopted pending one takes the final
    /// decision of the same request.
    public func adoptCall(_ record: CallRecord) throws(StoreError) -> Adoption {
        guard let messageID = record.messageID else { return .unchanged }
        guard let existing = try call(agentID: record.agentID, messageID: messageID) else {
            try insertCall(record)
            return .inserted
        }
        guard existing.adoptedFrom != nil, existing.decision == .pending, record.decision != .pending,
            existing.requestID == record.requestID
        else { return .unchanged }
        try db.run(
            "UPDATE calls SET decision = ?3, reply = ?4 WHERE agent_id = ?1 AND message_id = ?2",
            [.text(record.agentID), .text(messageID), .text(record.decision.rawValue), .blob(record.reply)]
        )
        return .finalized
    }

    /// Whether this database's worker has its shard queue bound into the ring (nil: never bound).
    public func ringMember() throws(StoreError) -> Bool? {
        try metaValue("ring_member").map { $0 == "1" }
    }

    public func setRingMember(_ member: Bool) throws(StoreError) {
        try setMeta("ring_member", member ? "1" : "0")
    }
}
