// The reviewers' words reach the agent: the final decision of an escalated call carries every
// accepted vote (voter, decision, comment, time), and `escalation.require_comment` makes the
// worker refuse a vote without a reason.
import Testing

@testable import TollgateStore
@testable import TollgateWorker

let commentPolicyYAML = """
    version: "1.0"
    name: comment-policy
    defaults:
      escalation: {require_comment: deny}
    rules:
      - name: transfer
        condition: {field: tool_name, operator: eq, value: transfer_funds}
        action: escalate
        escalation:
          approvers: [manager@corp.com, cfo@corp.com]
          required_approvals: 2
          timeout_seconds: 60
      - name: wire
        condition: {field: tool_name, operator: eq, value: wire_abroad}
        action: escalate
        escalation: {require_comment: always}
      - name: refund
        condition: {field: tool_name, operator: eq, value: issue_refund}
        action: escalate
        escalation: {require_comment: never, timeout_seconds: 60}
    """

@Suite("Decision core: the reviewers' words")
struct ReviewerWordsTests {
    @Test("a final decision by people carries each accepted vote with its comment and time, in order")
    func votesInTheDecision() throws {
        let h = try GateHarness(policy: commentPolicyYAML)
        let id = try h.park()
        _ = try h.handle(h.vote(id, "approve", by: "manager@corp.com", comment: "vendor verified"))
        h.now += 1500
        let out = try h.handle(h.vote(id, "approve", by: "cfo@corp.com"))
        let final = try #require(out.replies(to: "agent-replies").first)
        let votes = try #require(final.json["votes"]?.arrayValue)
        #expect(votes.map { $0["voter"]?.stringValue } == ["manager@corp.com", "cfo@corp.com"])
        #expect(votes.map { $0["decision"]?.stringValue } == ["approve", "approve"])
        #expect(votes[0]["comment"]?.stringValue == "vendor verified")
        #expect(votes[1]["comment"]?.isNull == true)
        // UTC with milliseconds: 1.5 s between the two votes.
        let times = votes.compactMap { $0["at"]?.stringValue }
        #expect(times.count == 2 && times.allSatisfy { $0.hasSuffix("Z") && $0.contains(".") }, "\(times)")
        #expect(times.count == 2 && times[0] < times[1])
        // The same body on the feed and in the resolved notice, and for a redelivered call.
        #expect(out.feed.first?.json["votes"]?.arrayValue?.count == 2)
        #expect(out.notices("resolved").first?.json["votes"]?.arrayValue?.count == 2)
        #expect(final.string("reason")?.contains("manager@corp.com") == true, "the reason keeps its readable form")
    }

    @Test("a timeout carries the votes that were cast, and an empty list when nobody voted")
    func votesOnTimeout() throws {
        let h = try GateHarness(policy: commentPolicyYAML)
        let voted = try h.park()
        let silent = try h.park(tool: "issue_refund")
        _ = try h.handle(h.vote(voted, "approve", by: "manager@corp.com", comment: "fine by me"))
        h.advance(seconds: 61)
        let out = try h.deadlines()
        let finals = out.replies(to: "agent-replies")
        let byID = Dictionary(uniqueKeysWithValues: finals.compactMap { f in f.string("request_id").map { ($0, f) } })
        #expect(byID[voted]?.resolution == "timeout")
        #expect(byID[voted]?.json["votes"]?.arrayValue?.first?["comment"]?.stringValue == "fine by me")
        #expect(byID[silent]?.json["votes"]?.arrayValue?.isEmpty == true)
    }

    @Test(
        "require_comment: deny needs a reason to deny, always to vote at all, never (agent-os) to do neither",
        arguments: [
            ("transfer_funds", "deny", nil as String?, false),
            ("transfer_funds", "deny", "   ", false),
            ("transfer_funds", "deny", "wrong vendor", true),
            ("transfer_funds", "approve", nil, true),
            ("wire_abroad", "approve", nil, false),
            ("wire_abroad", "approve", "checked", true),
            ("issue_refund", "deny", nil, true),
        ]
    )
    func requireComment(tool: String, decision: String, comment: String?, accepted: Bool) throws {
        let h = try GateHarness(policy: commentPolicyYAML)
        let id = try h.park(tool: tool)
        let voter = tool == "transfer_funds" ? "manager@corp.com" : "compliance@corp.com"
        let out = try h.handle(h.vote(id, decision, by: voter, comment: comment))
        let answer = out.replies(to: "bot-replies").first
        #expect(answer?.bool("accepted") == accepted, "\(String(describing: answer?.json))")
        if !accepted {
            let what = tool == "wire_abroad" ? "vote on" : "deny"
            #expect(answer?.string("error")?.hasPrefix("a comment is required to \(what) request \(id)") == true)
            #expect(try h.store.votes(requestID: id).isEmpty, "a refused vote is not counted")
        }
    }

    @Test("the notice says which votes need a comment")
    func noticeSaysSo() throws {
        let h = try GateHarness(policy: commentPolicyYAML)
        let out = try h.handle(h.call(agent: "finance-agent", tool: "wire_abroad", replyTo: "agent-replies"))
        #expect(out.notices("pending").first?.json["quorum"]?["require_comment"]?.stringValue == "always")
    }

    @Test("a stored requirement that cannot be read refuses the vote (never reads as 'never')")
    func unreadableRequirement() throws {
        let h = try GateHarness(policy: commentPolicyYAML)
        let id = try h.park(tool: "issue_refund")
        try h.store.db.execute("UPDATE escalations SET require_comment = 'sometimes' WHERE request_id = '\(id)'")
        let out = try h.handle(h.vote(id, "deny", by: "compliance@corp.com"))
        #expect(out.reply?.bool("accepted") == false)
        #expect(try h.store.votes(requestID: id).isEmpty)
    }
}
