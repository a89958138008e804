// Parking, waiters, deadlines and budgets through the decision core.
import Foundation
import Testing

@testable import TollgateStore
@testable import TollgateWorker

@Suite("Decision core: escalations, deadlines and budgets")
struct EscalationCoreTests {
    @Test("an escalated call is parked: pending reply and notice in the outbox, audited")
    func parking() throws {
        let h = try GateHarness()
        let out = try h.handle(h.call(tool: "transfer_funds", arguments: #"{"amount":5000}"#, correlationID: "c-t"))
        let pending = try #require(out.reply)
        #expect(pending.decision == "pending")
        #expect(pending.bool("final") == false)
        #expect(pending.string("deadline") == isoTime(h.now + 300_000))
        let notice = try #require(out.notices("pending").first)
        #expect(notice.raw.routingKey == "pending.transfer_funds")
        #expect(notice.string("timeout_action") == "deny")
        #expect(notice.json["arguments"]?["amount"]?.intValue == 5000)
        #expect(notice.json["approve_via"]?["routing_key"]?.stringValue == "w1")
        #expect(notice.json["quorum"]?["required_approvals"]?.intValue == 1)
        #expect(out.messages.allSatisfy { $0.outboxID != nil }, "parking publishes through the outbox")
        #expect(out.feed.isEmpty, "pending is not final: nothing on the feed")
        #expect(try h.store.pendingCount() == 1)
        #expect(try h.store.outboxCount() == 2)
    }

    @Test("a retry from a new reply_to is told pending, and gets the final decision there too")
    func retryFromNewReplyQueue() throws {
        let h = try GateHarness()
        let first = try h.handle(
            h.call(tool: "transfer_funds", messageID: "m-t", correlationID: "c-1", replyTo: "old-queue")
        )
        let requestID = try #require(first.reply?.string("request_id"))
        let retry = try h.handle(
            h.call(tool: "transfer_funds", messageID: "m-t", correlationID: "c-2", replyTo: "new-queue")
        )
        #expect(retry.replies(to: "new-queue").first?.decision == "pending")
        #expect(retry.replies(to: "new-queue").first?.string("correlation_id") == "c-2")
        // The same retry again does not register twice.
        try h.handle(h.call(tool: "transfer_funds", messageID: "m-t", correlationID: "c-2", replyTo: "new-queue"))
        let decided = try h.handle(h.vote(requestID, "approve", by: "manager@corp.com"))
        let toOld = decided.replies(to: "old-queue")
        let toNew = decided.replies(to: "new-queue")
        #expect(toOld.count == 1 && toOld.first?.decision == "allow" && toOld.first?.raw.correlationID == "c-1")
        #expect(toNew.count == 1 && toNew.first?.decision == "allow" && toNew.first?.string("correlation_id") == "c-2")
        #expect(decided.feed.count == 1, "one final decision on the feed, however many asked")
        // A retry after the decision gets the decision itself.
        let late = try h.handle(
            h.call(tool: "transfer_funds", messageID: "m-t", correlationID: "c-3", replyTo: "third")
        )
        #expect(late.reply?.decision == "allow")
        #expect(late.reply?.string("correlation_id") == "c-3")
        #expect(try h.store.waiters(requestID: requestID).isEmpty)
    }

    @Test("a deadline decides the timeout action, once, through the outbox")
    func deadlines() throws {
        let h = try GateHarness(policy: quorumPolicyYAML)
        let transfer = try h.park(tool: "transfer_funds")
        let refund = try h.park(tool: "issue_refund")
        h.advance(seconds: 59)
        #expect(try h.deadlines().isEmpty)
        h.advance(seconds: 1)
        let out = try h.deadlines()
        #expect(Set(out.replies().map { $0.string("request_id") ?? "" }) == [transfer, refund])
        let byID = Dictionary(uniqueKeysWithValues: out.replies().map { ($0.string("request_id") ?? "", $0) })
        #expect(byID[transfer]?.decision == "deny")
        #expect(byID[refund]?.decision == "allow")
        #expect(byID[transfer]?.resolution == "timeout")
        #expect(byID[transfer]?.string("reason") == "no decision within 60 s: timeout action deny applied")
        #expect(out.notices("resolved").count == 2 && out.feed.count == 2)
        #expect(try h.deadlines().isEmpty, "decided once")
        let late = try h.handle(h.vote(transfer, "approve", by: "manager@corp.com"))
        #expect(late.reply?.string("error")?.contains("is already decided: deny (timeout)") == true)
    }

    @Test("the wall clock stepping moves pending deadlines with it")
    func clockStep() throws {
        let h = try GateHarness()
        let id = try h.park(tool: "transfer_funds")
        let before = try #require(try h.store.escalation(requestID: id)).deadline
        // An NTP correction one hour back: the deadline moves back too, keeping its 300 s wait.
        try h.store.transaction { _ = try h.store.shiftPendingDeadlines(by: -3_600_000) }
        #expect(try h.store.escalation(requestID: id)?.deadline == before - 3_600_000)
    }

    @Test("a due escalation whose record cannot be read is denied, not allowed")
    func unreadableAtDeadline() throws {
        let h = try GateHarness(policy: quorumPolicyYAML)
        let refund = try h.park(tool: "issue_refund")  // times out to allow
        try h.store.db.execute("UPDATE escalations SET approvers = 'not json' WHERE request_id = '\(refund)'")
        h.advance(seconds: 61)
        try h.deadlines()
        let row = try h.store.db.first(
            "SELECT status, resolution FROM escalations WHERE request_id = ?1",
            [.text(refund)]
        ) {
            row throws(StoreError) in "\(try row.string(0))/\(try row.string(1))"
        }
        #expect(row == "deny/timeout")
        #expect(h.logged(.error).contains { $0.contains("denied (fail closed)") })
    }

    @Test("max_tool_calls: allowed and waiting calls count, a denial refunds, spent budgets answer limit")
    func budgets() throws {
        let h = try GateHarness(policy: quorumPolicyYAML)
        #expect(try h.handle(h.call(tool: "search")).reply?.decision == "allow")
        let parked = try h.park(tool: "transfer_funds")
        #expect(try h.handle(h.call(tool: "wipe_disk")).reply?.decision == "deny", "a denial does not count")
        #expect(try h.handle(h.call(tool: "search")).reply?.decision == "allow")
        let spent = try h.handle(h.call(tool: "search"))
        #expect(spent.reply?.resolution == "limit")
        #expect(spent.reply?.string("reason") == "max_tool_calls budget of 3 is spent for agent finance-agent")
        #expect(
            try h.handle(h.call(tool: "transfer_funds")).reply?.resolution == "limit",
            "no escalation past the budget"
        )
        // Another session has its own budget.
        #expect(try h.handle(h.call(tool: "search", context: #"{"session_id":"s-2"}"#)).reply?.decision == "allow")
        // Denying the parked call gives its unit back.
        try h.handle(h.vote(parked, "deny", by: "cfo@corp.com"))
        #expect(try h.handle(h.call(tool: "search")).reply?.decision == "allow")
        #expect(try h.store.budgetUsed(agentID: "finance-agent", sessionID: "") == 3)
    }
}
