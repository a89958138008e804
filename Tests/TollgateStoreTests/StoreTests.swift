import Foundation
import Testing

@testable import TollgateStore

/// A fresh database file in a temporary folder, removed when the test ends.
final class TemporaryDatabase {
    let directory: URL
    var path: String { directory.appendingPathComponent("state.db").path }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }
}

func escalation(_ id: String, deadline: Millis, agent: String = "finance-agent") -> EscalationRecord {
    EscalationRecord(
        requestID: id,
        workerID: "w1",
        agentID: agent,
        sessionID: "",
        toolName: "transfer_funds",
        argumentsJSON: #"{"amount":5000}"#,
        reason: "vendor payment",
        rule: "escalate-transfer-funds",
        message: "requires human approval",
        policyVersion: "p@1.0#00000000",
        approvers: ["manager@corp.com"],
        requiredApprovals: 1,
        requiredDenials: 1,
        timeoutAction: .deny,
        createdAt: 1_000,
        deadline: deadline,
        replyTo: "replies",
        correlationID: "c-1",
        charged: true
    )
}

func auditEntry(_ n: Int, kind: AuditRecord.Kind = .decision) -> AuditRecord {
    AuditRecord(
        at: Millis(1_000 + n),
        kind: kind,
        requestID: "w1-\(n)",
        agentID: "agent",
        toolName: "search_documents",
        decision: "allow",
        resolution: "policy",
        rule: nil,
        detail: "No rules matched; default action applied",
        policyVersion: "p@1.0#00000000"
    )
}

@Suite("Store")
struct StoreTests {
    @Test("a call is found again by agent and message_id, and by fingerprint")
    func callIdempotency() throws {
        let tmp = try TemporaryDatabase()
        let store = try Store(path: tmp.path, workerID: "w1")
        let record = CallRecord(
            requestID: "w1-a",
            agentID: "agent",
            messageID: "m-1",
            fingerprint: nil,
            receivedAt: 5,
            decision: .allow,
            reply: Array(#"{"decision":"allow"}"#.utf8)
        )
        let anonymous = CallRecord(
            requestID: "w1-b",
            agentID: "agent",
            messageID: nil,
            fingerprint: [1, 2, 3],
            receivedAt: 6,
            decision: .deny,
            reply: []
        )
        try store.transaction {
            try store.insertCall(record)
            try store.insertCall(anonymous)
        }
        #expect(try store.call(agentID: "agent", messageID: "m-1") == record)
        #expect(try store.call(agentID: "other-agent", messageID: "m-1") == nil)
        #expect(try store.call(fingerprint: [1, 2, 3]) == anonymous)
        #expect(try store.call(fingerprint: [9]) == nil)
        // The same (agent, message_id) cannot be stored twice.
        #expect(throws: StoreError.self) { try store.transaction { try store.insertCall(record) } }
    }

    @Test("pruning forgets old inputs but keeps recent ones")
    func pruning() throws {
        let tmp = try TemporaryDatabase()
        let store = try Store(path: tmp.path)
        try store.transaction {
            for i in 0..<10 {
                try store.insertCall(
                    CallRecord(
                        requestID: "r\(i)",
                        agentID: "a",
                        messageID: "m\(i)",
                        fingerprint: nil,
                        receivedAt: Millis(i),
                        decision: .allow,
                        reply: []
                    )
                )
            }
        }
        let removed = try store.transaction { try store.pruneInputs(receivedBefore: 5) }
        #expect(removed == 5)
        #expect(try store.call(agentID: "a", messageID: "m4") == nil)
        #expect(try store.call(agentID: "a", messageID: "m5") != nil)
    }

    @Test("budgets count per agent and session and never go below zero")
    func budgets() throws {
        let tmp = try TemporaryDatabase()
        let store = try Store(path: tmp.path)
        try store.transaction {
            try store.charge(agentID: "a", sessionID: "", delta: 1)
            try store.charge(agentID: "a", sessionID: "", delta: 1)
            try store.charge(agentID: "a", sessionID: "s-1", delta: 1)
            try store.charge(agentID: "b", sessionID: "", delta: -1)
        }
        #expect(try store.budgetUsed(agentID: "a", sessionID: "") == 2)
        #expect(try store.budgetUsed(agentID: "a", sessionID: "s-1") == 1)
        #expect(try store.budgetUsed(agentID: "b", sessionID: "") == 0)
        try store.transaction { try store.charge(agentID: "a", sessionID: "", delta: -1) }
        #expect(try store.budgetUsed(agentID: "a", sessionID: "") == 1)
    }

    @Test("escalations: next deadline, due ones in order, decided once")
    func escalations() throws {
        let tmp = try TemporaryDatabase()
        let store = try Store(path: tmp.path)
        #expect(try store.nextDeadline() == nil)
        try store.transaction {
            try store.insertEscalation(escalation("w1-late", deadline: 9_000))
            try store.insertEscalation(escalation("w1-early", deadline: 2_000))
            try store.insertEscalation(escalation("w1-mid", deadline: 5_000))
        }
        #expect(try store.nextDeadline() == 2_000)
        #expect(try store.pendingCount() == 3)
        #expect(try store.escalation(requestID: "w1-mid") == escalation("w1-mid", deadline: 5_000))
        let due = try store.dueEscalationIDs(now: 5_000, limit: 10)
        #expect(due == ["w1-early", "w1-mid"])

        let first = try store.transaction {
            try store.decideEscalation(requestID: "w1-early", decision: .deny, resolution: .timeout, at: 2_001)
        }
        let second = try store.transaction {
            try store.decideEscalation(requestID: "w1-early", decision: .allow, resolution: .approved, at: 2_002)
        }
        #expect(first)
        #expect(!second, "a decided request must not be decided again")
        let decided = try #require(try store.escalation(requestID: "w1-early"))
        #expect(decided.status == .deny)
        #expect(decided.resolution == .timeout)
        #expect(try store.nextDeadline() == 5_000)
        #expect(try store.pendingEscalations().map(\.requestID) == ["w1-mid", "w1-late"])
    }

    @Test("a voter counts once per request")
    func votes() throws {
        let tmp = try TemporaryDatabase()
        let store = try Store(path: tmp.path)
        let vote = VoteRecord(requestID: "w1-x", voter: "manager@corp.com", decision: .approve, comment: "ok", at: 1)
        let inserted = try store.transaction { try store.insertVote(vote) }
        let again = try store.transaction {
            try store.insertVote(
                VoteRecord(requestID: "w1-x", voter: "manager@corp.com", decision: .deny, comment: nil, at: 2)
            )
        }
        #expect(inserted)
        #expect(!again)
        #expect(try store.votes(requestID: "w1-x") == [vote])
    }

    @Test(
        "schema 5 (approve with edits): a version 4 database keeps its votes as round 0; a voter counts once per round"
    )
    func migrationToRounds() throws {
        let temp = try TemporaryDatabase()
        do {
            // A database as a worker of schema version 4 left it, with one vote.
            let old = try SQLiteDatabase(path: temp.path)
            try old.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID")
            for migration in StoreSchema.migrations.prefix(4) { try old.execute(migration) }
            try old.execute("INSERT INTO meta(key, value) VALUES ('schema_version', '4')")
            try old.execute(
                "INSERT INTO votes(request_id, voter, decision, comment, at) VALUES ('w1-a', 'manager@corp.com', 'approve', 'ok', 7)"
            )
            old.close()
        }
        let store = try Store(path: temp.path, workerID: "w1")
        defer { store.close() }
        #expect(
            try store.votes(requestID: "w1-a")
                == [VoteRecord(requestID: "w1-a", voter: "manager@corp.com", decision: .approve, comment: "ok", at: 7)]
        )
        try store.insertEscalation(escalation("w1-a", deadline: 60_000))
        let parked = try #require(try store.escalation(requestID: "w1-a"))
        #expect(parked.round == 0 && parked.callContextJSON == nil)
        // An edit moves the request to round 1 once; the same voter may vote again there.
        #expect(try store.editEscalation(requestID: "w1-a", argumentsJSON: #"{"amount":1}"#, round: 0))
        #expect(try !store.editEscalation(requestID: "w1-a", argumentsJSON: #"{"amount":2}"#, round: 0))
        let again = VoteRecord(
            requestID: "w1-a",
            voter: "manager@corp.com",
            decision: .approve,
            comment: nil,
            at: 9,
            round: 1,
            argumentsJSON: #"{"amount":1}"#
        )
        #expect(try store.insertVote(again))
        #expect(try !store.insertVote(again))
        #expect(try store.votes(requestID: "w1-a").map(\.round) == [0, 1])
        #expect(try store.escalation(requestID: "w1-a")?.argumentsJSON == #"{"amount":1}"#)
    }

    @Test("vote inputs are found by publisher and message_id, or fingerprint")
    func voteInputs() throws {
        let tmp = try TemporaryDatabase()
        let store = try Store(path: tmp.path)
        let input = VoteInputRecord(
            publisher: "manager@corp.com",
            messageID: "v-1",
            fingerprint: nil,
            receivedAt: 1,
            reply: [1]
        )
        let anonymous = VoteInputRecord(
            publisher: "manager@corp.com",
            messageID: nil,
            fingerprint: [7],
            receivedAt: 1,
            reply: [2]
        )
        try store.transaction {
            try store.insertVoteInput(input)
            try store.insertVoteInput(anonymous)
        }
        #expect(try store.voteInput(publisher: "manager@corp.com", messageID: "v-1") == input)
        #expect(try store.voteInput(publisher: "cfo@corp.com", messageID: "v-1") == nil)
        #expect(try store.voteInput(fingerprint: [7]) == anonymous)
    }

    @Test("the outbox keeps messages until deleted, in order, across reopen")
    func outbox() throws {
        let tmp = try TemporaryDatabase()
        var ids: [Int64] = []
        do {
            let store = try Store(path: tmp.path)
            let stored = try store.transaction {
                [
                    try store.enqueue(
                        OutboundMessage(
                            exchange: "",
                            routingKey: "replies",
                            body: [1],
                            correlationID: "c",
                            mandatory: true
                        )
                    ),
                    try store.enqueue(
                        OutboundMessage(
                            exchange: "tollgate.dead",
                            routingKey: "agent",
                            body: [2],
                            messageID: "m-1",
                            replyTo: "agent-replies",
                            headers: [.init("x-tollgate-error", "bad body"), .init("x-tollgate-queue", "q")]
                        )
                    ),
                ]
            }
            ids = stored.compactMap(\.outboxID)
            store.close()
        }
        let store = try Store(path: tmp.path)
        let pending = try store.outbox()
        #expect(pending.map(\.outboxID) == ids)
        #expect(
            pending[0]
                == OutboundMessage(
                    exchange: "",
                    routingKey: "replies",
                    body: [1],
                    correlationID: "c",
                    mandatory: true,
                    outboxID: ids[0]
                )
        )
        #expect(pending[1].headers == [.init("x-tollgate-error", "bad body"), .init("x-tollgate-queue", "q")])
        #expect(pending[1].messageID == "m-1" && pending[1].replyTo == "agent-replies")
        try store.transaction { try store.deleteOutbox(ids: [ids[0]]) }
        #expect(try store.outbox().map(\.outboxID) == [ids[1]])
        #expect(try store.outboxCount() == 1)
    }

    @Test("a failed transaction leaves nothing behind, audit head included")
    func rollback() throws {
        let tmp = try TemporaryDatabase()
        let store = try Store(path: tmp.path)
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try store.transaction {
                try store.appendAudit(auditEntry(1))
                try store.charge(agentID: "a", sessionID: "", delta: 1)
                throw Boom()
            }
        }
        #expect(try store.budgetUsed(agentID: "a", sessionID: "") == 0)
        _ = try store.transaction { try store.appendAudit(auditEntry(2)) }
        let check = try store.verifyAudit()
        #expect(check.isIntact)
        #expect(check.headSeq == 1)
    }

    @Test("a database belongs to one worker")
    func workerBinding() throws {
        let tmp = try TemporaryDatabase()
        _ = try Store(path: tmp.path, workerID: "w1")
        _ = try Store(path: tmp.path, workerID: "w1")
        let error = #expect(throws: StoreError.self) { try Store(path: tmp.path, workerID: "w2") }
        #expect(error?.kind == .mismatch)
        #expect(error?.description.contains("belongs to worker 'w1'") == true)
    }

    @Test("reading a missing or foreign file gives a clear error")
    func readOnlyOpen() throws {
        let tmp = try TemporaryDatabase()
        let missing = #expect(throws: StoreError.self) { try Store(readingExisting: tmp.path) }
        #expect(missing?.description.contains("no database at") == true)
        _ = FileManager.default.createFile(atPath: tmp.path, contents: Data("not sqlite at all, just text".utf8))
        #expect(throws: StoreError.self) { try Store(readingExisting: tmp.path) }
    }
}

@Suite("Audit chain")
struct AuditChainTests {
    /// A database with `count` chained entries.
    func chain(_ count: Int) throws -> (TemporaryDatabase, Store) {
        let tmp = try TemporaryDatabase()
        let store = try Store(path: tmp.path)
        try store.transaction {
            for n in 1...count { try store.appendAudit(auditEntry(n, kind: n % 3 == 0 ? .vote : .decision)) }
        }
        return (tmp, store)
    }

    @Test("an untouched chain verifies, with its head")
    func intact() throws {
        let (_, store) = try chain(10)
        let check = try store.verifyAudit()
        #expect(check.isIntact)
        #expect(check.checked == 10)
        #expect(check.headSeq == 10)
        #expect(check.headHash.count == 64)
    }

    @Test("entries chain across transactions")
    func acrossTransactions() throws {
        let (_, store) = try chain(3)
        _ = try store.transaction { try store.appendAudit(auditEntry(4)) }
        var seqs: [Int64] = []
        var previous = AuditRecord.genesisHash
        try store.forEachAudit { record in
            seqs.append(record.seq)
            #expect(record.previousHash == previous)
            previous = record.hash
        }
        #expect(seqs == [1, 2, 3, 4])
    }

    @Test(
        "tampering is detected and the first bad entry named",
        arguments: [
            ("UPDATE audit SET decision = 'deny' WHERE seq = 4", Int64(4), "entry 4 was edited"),
            ("UPDATE audit SET kind = 'nothing' WHERE seq = 6", Int64(6), "entry 6 was edited"),
            ("UPDATE audit SET detail = NULL WHERE seq = 2", Int64(2), "entry 2 was edited"),
            ("DELETE FROM audit WHERE seq = 5", Int64(5), "entry 5 is missing"),
            ("DELETE FROM audit WHERE seq >= 9", Int64(9), "entries 9 to 10 were removed"),
            // Swap two entries' contents (keeping their positions): reordering.
            (
                """
                UPDATE audit SET seq = -3 WHERE seq = 3; UPDATE audit SET seq = 3 WHERE seq = 7; UPDATE audit SET seq = 7 WHERE seq = -3;
                """, Int64(3), "entry 3 does not follow entry 2"
            ),
            // Renumber to hide a deletion.
            (
                "DELETE FROM audit WHERE seq = 5; UPDATE audit SET seq = seq - 1 WHERE seq > 5", Int64(5),
                "entry 5 does not follow entry 4"
            ),
        ]
    )
    func tampering(sql: String, firstBad: Int64, message: String) throws {
        let (tmp, store) = try chain(10)
        try store.db.execute(sql)
        store.close()
        let reader = try Store(readingExisting: tmp.path)
        let check = try reader.verifyAudit()
        #expect(!check.isIntact)
        #expect(check.firstBadSeq == firstBad)
        #expect(check.problem?.hasPrefix(message) == true, "\(check.problem ?? "nil")")
    }

    @Test("recomputing one entry's hash still breaks the link to the next")
    func forgedHash() throws {
        let (_, store) = try chain(5)
        var stored: AuditRecord?
        try store.forEachAudit { if $0.seq == 3 { stored = $0 } }
        var forged = try #require(stored)
        forged.detail = "nothing to see"
        forged.hash = forged.computeHash()
        try store.db.run(
            "UPDATE audit SET detail = ?1, hash = ?2 WHERE seq = 3",
            [.text(forged.detail), .blob(forged.hash)]
        )
        let check = try store.verifyAudit()
        #expect(check.firstBadSeq == 4)
        #expect(check.problem?.contains("entry 4 does not follow entry 3") == true)
    }

    @Test("the hash covers every field")
    func hashCoversFields() {
        let base = auditEntry(1)
        var variants: [AuditRecord] = []
        for change in 0..<13 {
            var r = base
            switch change {
            case 0: r.seq = 9
            case 1: r.at += 1
            case 2: r.kind = .vote
            case 3: r.requestID = nil
            case 4: r.agentID = "agent2"
            case 5: r.toolName = ""
            case 6: r.decision = "deny"
            case 7: r.resolution = "limit"
            case 8: r.rule = "r"
            case 9: r.voter = "v"
            case 10: r.accepted = false
            case 11: r.detail = "x"
            default: r.policyVersion = "q"
            }
            variants.append(r)
        }
        let hashes = Set(([base] + variants).map { $0.computeHash() })
        #expect(hashes.count == 14)
    }
}

@Suite("Escalation fatigue counts")
struct FatigueCountTests {
    @Test("the counts go through their indexes, not the agent's whole history")
    func countsUseTheirIndexes() throws {
        let tmp = try TemporaryDatabase()
        let store = try Store(path: tmp.path)
        for rule in [nil, "transfer"] as [String?] {
            let pending = try store.queryPlan(
                Store.pendingCountSQL(rule: rule),
                [.text("a")] + (rule.map { [.text($0)] } ?? [])
            )
            #expect(pending.contains { $0.contains("escalations_pending_by_agent") }, "\(pending)")
            let recent = try store.queryPlan(
                Store.escalationCountSQL(rule: rule),
                [.text("a"), .integer(0)] + (rule.map { [.text($0)] } ?? [])
            )
            #expect(
                recent.contains { $0.contains("escalations_by_agent_time (agent_id=? AND created_at>?)") },
                "\(recent)"
            )
        }
    }

    @Test("pending counts the agent's waiting escalations, by rule or all; the window counts new ones")
    func counts() throws {
        let tmp = try TemporaryDatabase()
        let store = try Store(path: tmp.path)
        try store.transaction {
            for (i, agent) in ["a", "a", "a", "b"].enumerated() {
                var e = escalation("r\(i)", deadline: 10_000, agent: agent)
                e.createdAt = Millis(i) * 1000
                if i == 2 { e.rule = "other" }
                try store.insertEscalation(e)
            }
        }
        #expect(try store.pendingCount(agentID: "a") == 3)
        #expect(try store.pendingCount(agentID: "a", rule: "escalate-transfer-funds") == 2)
        #expect(try store.pendingCount(agentID: "b") == 1)
        #expect(try store.escalationCount(agentID: "a", since: 1000) == 2)
        #expect(try store.escalationCount(agentID: "a", since: 1000, rule: "other") == 1)
    }
}
