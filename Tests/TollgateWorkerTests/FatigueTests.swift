// Escalation fatigue: past a limit, an agent's new escalation is denied at once with
// `resolution: limit`, audited, and announced as `limited.<tool>` (once per quiet period).
import Foundation
import Testing
import TollgateJSON

@testable import TollgateStore
@testable import TollgateWorker

let fatiguePolicyYAML = """
    version: "1.0"
    name: fatigue-policy
    rules:
      - name: transfer
        condition: {field: tool_name, operator: eq, value: transfer_funds}
        action: escalate
        message: "Transfers need an approver"
        escalation: {approvers: [manager@corp.com], timeout_seconds: 600, max_pending_per_agent: 2}
      - name: email
        condition: {field: tool_name, operator: eq, value: send_email}
        action: escalate
        escalation: {timeout_seconds: 600, fatigue_threshold: 3, fatigue_window_seconds: 60}
      - name: refund
        condition: {field: tool_name, operator: eq, value: issue_refund}
        action: escalate
        escalation: {timeout_seconds: 600}
    defaults:
      action: allow
      escalation: {max_pending_per_agent: 4}
    """

@Suite("Decision core: escalation fatigue")
struct FatigueTests {
    func audit(_ h: GateHarness) throws -> [AuditRecord] {
        var records: [AuditRecord] = []
        try h.store.forEachAudit { records.append($0) }
        return records
    }

    @Test("a rule's pending limit: the third transfer waiting is denied at once, audited, announced")
    func pendingLimitOfARule() throws {
        let h = try GateHarness(policy: fatiguePolicyYAML)
        let first = try h.park(tool: "transfer_funds")
        _ = try h.park(tool: "transfer_funds")
        let out = try h.handle(h.call(tool: "transfer_funds", arguments: #"{"amount":5}"#))
        let reply = try #require(out.reply)
        #expect(reply.decision == "deny")
        #expect(reply.resolution == "limit")
        #expect(reply.bool("final") == true)
        #expect(reply.string("rule") == "transfer")
        #expect(
            reply.string("reason")
                == "escalation limit: agent finance-agent has 2 escalations of rule transfer waiting for people (escalation.max_pending_per_agent: 2); denied without asking"
        )
        #expect(out.notices("pending").isEmpty)
        let limited = try #require(out.notices("limited").first)
        #expect(limited.raw.routingKey == "limited.transfer_funds")
        #expect(limited.raw.outboxID != nil, "the notice goes through the outbox")
        #expect(limited.string("agent_id") == "finance-agent")
        #expect(limited.string("message") == reply.string("reason"))
        #expect(limited.json["limit"]?["kind"]?.stringValue == "pending")
        #expect(limited.json["limit"]?["scope"]?.stringValue == "rule")
        #expect(limited.json["limit"]?["max"]?.intValue == 2)
        #expect(limited.json["limit"]?["count"]?.intValue == 2)
        #expect(limited.json["arguments"]?["amount"]?.intValue == 5)
        #expect(out.feed.first?.raw.routingKey == "deny.transfer_funds")
        let last = try #require(try audit(h).last)
        #expect(last.resolution == "limit")
        #expect(last.detail == reply.string("reason"))
        // Another agent is not limited by this one; another rule is not limited by this rule.
        #expect(try h.handle(h.call(agent: "support-agent", tool: "transfer_funds")).reply?.decision == "pending")
        #expect(try h.handle(h.call(tool: "issue_refund")).reply?.decision == "pending")
        // Once a transfer is decided, the next one waits for people again.
        try h.handle(h.vote(first, "deny", by: "manager@corp.com"))
        #expect(try h.handle(h.call(tool: "transfer_funds")).reply?.decision == "pending")
        #expect(h.gate.counters.escalationsLimited == 1)
    }

    @Test("a window limit in agent-os 5's spelling: 3 new escalations a minute; the window slides")
    func windowLimit() throws {
        let h = try GateHarness(policy: fatiguePolicyYAML)
        let ids = try (0..<3).map { _ -> String in
            h.advance(seconds: 10)
            return try h.park(tool: "send_email")
        }
        // Decided escalations still count: the window counts new ones, not waiting ones.
        for id in ids { try h.handle(h.vote(id, "deny", by: "manager@corp.com")) }
        h.advance(seconds: 10)
        let out = try h.handle(h.call(tool: "send_email"))
        #expect(out.reply?.resolution == "limit")
        #expect(
            out.reply?.string("reason")
                == "escalation limit: agent finance-agent made 3 escalations of rule email in the last 60 s (escalation.max_new_per_agent: 3, window_seconds: 60); denied without asking"
        )
        #expect(out.notices("limited").first?.json["limit"]?["window_seconds"]?.intValue == 60)
        // 61 s after the first one, it has left the window.
        h.advance(seconds: 31)
        #expect(try h.handle(h.call(tool: "send_email")).reply?.decision == "pending")
        // A denied call does not count: the window holds 3 again (the 2nd, 3rd and the new one).
        #expect(try h.handle(h.call(tool: "send_email")).reply?.resolution == "limit")
    }

    @Test("defaults.escalation counts every escalation of the agent, whatever the rule")
    func agentWideLimit() throws {
        let h = try GateHarness(policy: fatiguePolicyYAML)
        _ = try h.park(tool: "transfer_funds")
        _ = try h.park(tool: "issue_refund")
        _ = try h.park(tool: "issue_refund")
        _ = try h.park(tool: "send_email")
        let out = try h.handle(h.call(tool: "issue_refund"))
        #expect(
            out.reply?.string("reason")
                == "escalation limit: agent finance-agent has 4 escalations waiting for people (defaults.escalation.max_pending_per_agent: 4); denied without asking"
        )
        #expect(out.notices("limited").first?.json["limit"]?["scope"]?.stringValue == "agent")
    }

    @Test("a looping agent gets one limited notice per quiet period, with the count it kept quiet")
    func oneNoticePerQuietPeriod() throws {
        let h = try GateHarness(policy: fatiguePolicyYAML)
        _ = try h.park(tool: "transfer_funds")
        _ = try h.park(tool: "transfer_funds")
        var notices = 0
        for _ in 0..<5 {
            let out = try h.handle(h.call(tool: "transfer_funds"))
            #expect(out.reply?.resolution == "limit")
            notices += out.notices("limited").count
            h.advance(seconds: 5)
        }
        #expect(notices == 1)
        h.advance(seconds: 60)
        let later = try h.handle(h.call(tool: "transfer_funds"))
        let notice = try #require(later.notices("limited").first)
        #expect(notice.json["denied_since_last_notice"]?.intValue == 4)
        // Every limited call is still audited.
        #expect(try audit(h).filter { $0.resolution == "limit" }.count == 6)
    }

    @Test("a limited call redelivered gets the same answer, and no second notice")
    func redelivery() throws {
        let h = try GateHarness(policy: fatiguePolicyYAML)
        _ = try h.park(tool: "transfer_funds")
        _ = try h.park(tool: "transfer_funds")
        let call = h.call(tool: "transfer_funds", messageID: "loop-1")
        let first = try h.handle(call)
        var again = call
        again.redelivered = true
        let second = try h.handle(again)
        #expect(second.reply?.string("request_id") == first.reply?.string("request_id"))
        #expect(second.reply?.resolution == "limit")
        #expect(second.notices("limited").isEmpty)
    }
}
