import Testing
import TollgateJSON
@testable import TollgateWebhook

/// The Slack rendering of the chapter 5 requests (the seed: a $5,000 transfer for the manager,
/// a mail to 10,000 customers).
@Suite struct SlackMessageTests {
    static let transfer: JSONObject = [
        "request_id": "w1-019ab7c2-0000-7000-8000-000000000001", "agent_id": "finance-agent",
        "tool_name": "transfer_funds", "arguments": ["amount": 5000, "to": "vendor-123"],
        "reason": "Agent wants to transfer $5,000 to vendor account", "rule": "escalate-transfer-funds",
        "message": "Sensitive action: transfer_funds requires human approval", "created_at": "2026-11-25T08:10:00Z",
        "deadline": "2026-11-25T08:15:00Z", "timeout_action": "deny",
        "quorum": ["required_approvals": 1, "required_denials": 1, "approvers": ["manager@corp.com"]],
        "policy_version": "approval-workflow-policy@1.0#3f2a9c1d",
    ]

    func rendered(_ key: String, _ notice: JSONObject, inbox: String? = "https://approvals.example.com/") -> JSONObject
    {
        let bytes = SlackMessage.render(routingKey: key, notice: notice, inboxURL: inbox)
        guard case .object(let object)? = try? JSONValue.parse(bytes) else {
            Issue.record("not a JSON object")
            return [:]
        }
        return object
    }

    func texts(_ message: JSONObject) -> String {
        (message["blocks"]?.arrayValue ?? []).map(\.description).joined(separator: "\n")
    }

    @Test func aTransferForTheManager() {
        let m = rendered("pending.transfer_funds", Self.transfer)
        #expect(m["text"]?.stringValue == "Approval needed: finance-agent wants to call transfer_funds")
        let blocks = m["blocks"]?.arrayValue ?? []
        #expect(blocks.first?["type"]?.stringValue == "header")
        #expect(blocks.first?["text"]?["text"]?.stringValue == "Approval needed: transfer_funds")
        let all = texts(m)
        #expect(all.contains("Agent wants to transfer $5,000 to vendor account"))
        #expect(all.contains("escalate-transfer-funds"))
        #expect(all.contains("<!date^1795594500^{date_short_pretty} {time}|2026-11-25T08:15:00Z> (then deny)"))
        #expect(all.contains("1 from manager@corp.com"))
        let arguments = blocks.compactMap { $0["text"]?["text"]?.stringValue }.first { $0.hasPrefix("*Arguments*") }
        #expect(arguments == "*Arguments*\n```{\"amount\":5000,\"to\":\"vendor-123\"}```")
        let button = blocks.first { $0["type"]?.stringValue == "actions" }?["elements"]?.arrayValue?.first
        #expect(
            button?["url"]?.stringValue
                == "https://approvals.example.com/#request=w1-019ab7c2-0000-7000-8000-000000000001"
        )
        #expect(all.contains("approval-workflow-policy@1.0#3f2a9c1d"))
    }

    @Test func aMailToTenThousandCustomersWithoutAnInbox() {
        var notice = Self.transfer
        notice["agent_id"] = "support-agent"
        notice["tool_name"] = "send_email"
        notice["arguments"] = ["recipients": 10000, "subject": "Promo <b> & more"]
        notice["reason"] = "Agent wants to email 10,000 customers a promotional offer"
        let m = rendered("pending.send_email", notice, inbox: nil)
        let all = texts(m)
        #expect(all.contains("Agent wants to email 10,000 customers a promotional offer"))
        // Slack's control characters are escaped in text.
        #expect(all.contains("Promo &lt;b&gt; &amp; more"))
        var loud = notice
        loud["agent_id"] = "<!channel>"
        #expect(
            rendered("pending.send_email", loud)["text"]?.stringValue
                == "Approval needed: &lt;!channel&gt; wants to call send_email"
        )
        #expect(SlackMessage.inboxLink("https://x/", requestID: "a\nb c") == "https://x/#request=a%0Ab%20c")
        #expect(!(m["blocks"]?.arrayValue ?? []).contains { $0["type"]?.stringValue == "actions" })
    }

    @Test func aLoopingAgentIsNamedOnceWithTheLimit() {
        let limited: JSONObject = [
            "request_id": "w1-2", "agent_id": "finance-agent", "tool_name": "transfer_funds",
            "message":
                "escalation limit: agent finance-agent has 3 escalations of rule transfer waiting for people (escalation.max_pending_per_agent: 3); denied without asking",
        ]
        let m = rendered("limited.transfer_funds", limited)
        #expect(
            m["text"]?.stringValue?.hasPrefix("finance-agent is escalating too often: transfer_funds denied") == true
        )
        let blocks = m["blocks"]?.arrayValue ?? []
        #expect(blocks.first?["text"]?["text"]?.stringValue == "Escalations limited: finance-agent")
        #expect(texts(m).contains("max_pending_per_agent: 3"))
        // No inbox button: there is nothing to approve.
        #expect(!blocks.contains { $0["type"]?.stringValue == "actions" })
    }

    @Test func votesAndTheDecision() {
        var voted = Self.transfer
        voted["quorum"] = ["required_approvals": 2, "approvers": []]
        voted["approvals"] = ["manager@corp.com"]
        voted["denials"] = []
        let v = rendered("voted.transfer_funds", voted)
        #expect(v["text"]?.stringValue == "transfer_funds for finance-agent: 1 of 2 approvals")
        #expect(texts(v).contains("Approved by manager@corp.com"))
        let resolved: JSONObject = [
            "request_id": "w1-1", "agent_id": "finance-agent", "tool_name": "transfer_funds", "decision": "allow",
            "final": true, "resolution": "approved", "reason": "approved by manager@corp.com: vendor verified",
        ]
        let r = rendered("resolved.transfer_funds", resolved)
        #expect(
            r["text"]?.stringValue
                == "Allowed: transfer_funds for finance-agent: approved by manager@corp.com: vendor verified"
        )
        let denied = rendered(
            "resolved.transfer_funds",
            ["tool_name": "transfer_funds", "agent_id": "a", "decision": "deny"]
        )
        #expect(denied["text"]?.stringValue == "Denied: transfer_funds for a")
    }

    @Test func longArgumentsStayWithinSlacksLimits() {
        var notice = Self.transfer
        notice["arguments"] = ["blob": .string(String(repeating: "x", count: 10_000))]
        notice["tool_name"] = .string(String(repeating: "t", count: 300))
        let m = rendered("pending.t", notice)
        for block in m["blocks"]?.arrayValue ?? [] {
            if block["type"]?.stringValue == "header" {
                #expect((block["text"]?["text"]?.stringValue ?? "").count <= 150)
            }
            if let text = block["text"]?["text"]?.stringValue { #expect(text.count <= 3000) }
        }
    }
}
