import Testing
import TollgateStore

@testable import TollgateWorker

/// Call records follow their agents: on a ring change a worker hands its recent records to the
/// workers that own the agents now, so a retry (same `message_id`) that moved is answered as it
/// was first answered, with the same request id, and is not decided again.
@Suite("Call records follow their agents")
struct CallHandoffTests {
    static let workerUser = "tollgate-worker"

    func worker(_ id: String, records: Int = 600) throws -> GateHarness {
        try GateHarness(policy: quorumPolicyYAML) {
            $0.workerID = id
            $0.workerUsers = [Self.workerUser]
            $0.handoffRecordsSeconds = records
        }
    }

    /// What the broker delivers for a message a worker published through the ring.
    func delivered(_ message: OutboundMessage, by user: String? = workerUser) -> Inbound {
        deliveredToolCall(message, by: user)
    }

    func records(_ messages: [OutboundMessage]) -> [OutboundMessage] {
        messages.filter { $0.headers.contains { $0.value == CallRecordsHandoff.kind } }
    }

    /// The hand-offs of a drain's first step: records only, no budgets.
    func handRecords(_ h: GateHarness) throws -> [OutboundMessage] {
        let out = try h.store.transaction {
            try h.gate.rehome(databaseID: try h.store.databaseID(), budgets: false, records: true, now: h.now)
        }
        #expect(out.allSatisfy { $0.headers.contains { $0.value == CallRecordsHandoff.kind } })
        return out
    }

    @Test("a retry that reaches the new owner is answered with the first decision and request id")
    func decidedCallsFollow() throws {
        let w1 = try worker("w1")
        let w2 = try worker("w2")
        let allowed = try #require(try w1.handle(w1.call(messageID: "m-allow")).reply)
        let denied = try #require(try w1.handle(w1.call(tool: "wipe_disk", messageID: "m-deny")).reply)
        let handed = try handRecords(w1)
        #expect(handed.count == 1, "one message for the agent's records")
        #expect(handed[0].exchange == w1.topology.toolCallsExchange && handed[0].routingKey == "finance-agent")
        for message in handed { #expect(try w2.handle(delivered(message)).isEmpty) }

        let again = try #require(try w2.handle(w2.call(messageID: "m-allow", replyTo: "new-queue")).reply)
        #expect(again.string("request_id") == allowed.string("request_id"))
        #expect(again.decision == "allow" && again.raw.routingKey == "new-queue")
        let deniedAgain = try #require(try w2.handle(w2.call(tool: "wipe_disk", messageID: "m-deny")).reply)
        #expect(deniedAgain.string("request_id") == denied.string("request_id"))
        #expect(deniedAgain.decision == "deny")
        #expect(w2.gate.counters.duplicates == 2)
        // A fresh call of the moved agent is a new request of the new owner.
        let fresh = try #require(try w2.handle(w2.call(messageID: "m-new")).reply)
        #expect(fresh.string("request_id")?.hasPrefix("w2-") == true)
    }

    @Test("the final decision of an escalation pending at the old worker follows its record")
    func pendingFinalFollows() throws {
        let w1 = try worker("w1")
        let w2 = try worker("w2")
        let parked = try w1.handle(w1.call(tool: "transfer_funds", messageID: "m-t"))
        let requestID = try #require(parked.notices("pending").first?.string("request_id"))
        for message in try handRecords(w1) { _ = try w2.handle(delivered(message)) }

        // A retry at the new owner, from a new reply queue: the pending answer, same request.
        let pending = try #require(
            try w2.handle(w2.call(tool: "transfer_funds", messageID: "m-t", replyTo: "q2")).reply
        )
        #expect(pending.string("request_id") == requestID)
        #expect(pending.decision == parked.reply?.decision)
        #expect(try w2.store.pendingCount() == 0, "nothing is parked at the new owner")

        // The quorum decides at the old worker; the final decision is handed after the record.
        _ = try w1.handle(w1.vote(requestID, "approve", by: "manager@corp.com"))
        let decided = try w1.handle(w1.vote(requestID, "approve", by: "cfo@corp.com"))
        #expect(decided.replies(to: "agent-replies").first?.decision == "allow")
        let followed = records(decided.messages)
        #expect(followed.count == 1 && followed[0].routingKey == "finance-agent")
        let arrived = try w2.handle(delivered(followed[0]))
        let toRetry = try #require(arrived.replies(to: "q2").first)
        #expect(toRetry.decision == "allow" && toRetry.string("request_id") == requestID)
        // A later retry at the new owner gets the final decision.
        let later = try #require(try w2.handle(w2.call(tool: "transfer_funds", messageID: "m-t", replyTo: "q3")).reply)
        #expect(later.decision == "allow" && later.string("request_id") == requestID)
        // The hand-off redelivered changes nothing and answers nobody again.
        #expect(try w2.handle(delivered(followed[0])).isEmpty)
    }

    @Test("an escalation decided before the hand-off is handed with its final decision")
    func decidedEscalationCarriesItsFinal() throws {
        let w1 = try worker("w1")
        let w2 = try worker("w2")
        let requestID = try w1.park()
        w1.advance(seconds: 61)
        #expect(try w1.deadlines().replies().first?.decision == "deny")
        let handed = try handRecords(w1)
        for message in handed { _ = try w2.handle(delivered(message)) }
        let retry = try #require(try w2.handle(w2.call(tool: "transfer_funds", messageID: "m-1")).reply)
        #expect(retry.decision == "deny" && retry.resolution == "timeout")
        #expect(retry.string("request_id") == requestID)
        // Nothing is pending any more, so nothing follows later.
        #expect(try w1.store.takeHanded(requestID: requestID) == nil)
    }

    @Test(
        "records that come back to their own worker, a record the new owner made itself, and records older than the window change nothing"
    )
    func whatIsNotAdopted() throws {
        let w1 = try worker("w1", records: 60)
        let w2 = try worker("w2")
        _ = try w1.handle(w1.call(messageID: "m-old"))
        w1.advance(seconds: 120)
        w2.now = w1.now
        let first = try #require(try w1.handle(w1.call(messageID: "m-both")).reply)
        let own = try #require(try w2.handle(w2.call(messageID: "m-both")).reply)
        let handed = try handRecords(w1)
        #expect(handed.count == 1)
        let body = try CallRecordsHandoff.parse(handed[0].body).get()
        #expect(body.records.map(\.messageID) == ["m-both"], "only the last 60 seconds are handed")
        // The agent stayed: its records come back to w1 and change nothing.
        #expect(try w1.handle(delivered(handed[0])).isEmpty)
        // w2 decided the retry before the records arrived: its own record stays.
        _ = try w2.handle(delivered(handed[0]))
        let again = try #require(try w2.handle(w2.call(messageID: "m-both")).reply)
        #expect(again.string("request_id") == own.string("request_id"))
        #expect(again.string("request_id") != first.string("request_id"))
    }

    @Test("call records from someone who is not a worker user, malformed, or with another routing key are refused")
    func refused() throws {
        let w1 = try worker("w1")
        let w2 = try worker("w2")
        _ = try w1.handle(w1.call(messageID: "m-1"))
        let handed = try handRecords(w1)[0]
        let forged = try w2.handle(delivered(handed, by: "finance-agent"))
        #expect(forged.deadLetters.first?.header["x-tollgate-error"]?.contains("not a worker user") == true)
        var malformed = handed
        malformed.body = Array(#"{"agent_id":"finance-agent","records":[{}]}"#.utf8)
        #expect(try w2.handle(delivered(malformed)).deadLetters.count == 1)
        var elsewhere = handed
        elsewhere.routingKey = "support-agent"
        #expect(try w2.handle(delivered(elsewhere)).deadLetters.count == 1)
        // None of them was adopted: the retry is a new request at w2.
        let retry = try #require(try w2.handle(w2.call(messageID: "m-1")).reply)
        #expect(retry.string("request_id")?.hasPrefix("w2-") == true)
    }

    @Test("with --handoff-records 0 no records are handed")
    func off() throws {
        let w1 = try worker("w1", records: 0)
        _ = try w1.handle(w1.call(messageID: "m-1"))
        let out = try w1.store.transaction {
            try w1.gate.rehome(databaseID: try w1.store.databaseID(), budgets: false, records: true, now: w1.now)
        }
        #expect(out.isEmpty)
    }
}
