// Votes through the decision core: who may vote, quorums, rejections, redeliveries.
import Foundation
import Testing

@testable import TollgateStore
@testable import TollgateWorker

@Suite("Decision core: votes")
struct VoteCoreTests {
    @Test("one approval decides a single-approver rule: allow, approved, with the approver")
    func singleApproval() throws {
        let h = try GateHarness()
        let id = try h.park()
        let out = try h.handle(h.vote(id, "approve", by: "manager@corp.com", comment: "vendor verified"))
        #expect(out.replies(to: "bot-replies").first?.bool("accepted") == true)
        #expect(out.replies(to: "bot-replies").first?.string("status") == "allow")
        let final = try #require(out.replies(to: "agent-replies").first)
        #expect(final.decision == "allow" && final.resolution == "approved")
        #expect(final.string("reason") == "approved by manager@corp.com: vendor verified")
        #expect(final.json["approvers"]?.arrayValue?.compactMap(\.stringValue) == ["manager@corp.com"])
        #expect(out.feed.map(\.raw.routingKey) == ["allow.transfer_funds"])
        #expect(out.notices("resolved").count == 1)
    }

    @Test("2 of 3: one approval waits, the second decides; one denial decides deny")
    func quorum() throws {
        let h = try GateHarness(policy: quorumPolicyYAML)
        let id = try h.park()
        let first = try h.handle(h.vote(id, "approve", by: "manager@corp.com"))
        #expect(first.replies(to: "bot-replies").first?.string("status") == "pending")
        #expect(first.replies(to: "agent-replies").isEmpty)
        let second = try h.handle(h.vote(id, "approve", by: "cfo@corp.com"))
        #expect(second.replies(to: "bot-replies").first?.string("status") == "allow")
        #expect(
            second.replies(to: "agent-replies").first?.json["approvers"]?.arrayValue?.compactMap(\.stringValue)
                == ["manager@corp.com", "cfo@corp.com"]
        )
        let other = try h.park()
        let denied = try h.handle(h.vote(other, "deny", by: "compliance@corp.com", comment: "no"))
        #expect(denied.replies(to: "agent-replies").first?.resolution == "denied")
        #expect(denied.replies(to: "agent-replies").first?.string("reason") == "denied by compliance@corp.com: no")
    }

    @Test(
        "votes that must not count are rejected, answered with the reason and audited",
        arguments: [
            ("no-user", "vote has no user_id property"),
            ("own", "finance-agent is the agent that made the request and cannot vote on it"),
            ("stranger", "intern@corp.com is not an approver of this request"),
            ("twice", "manager@corp.com has already voted on request"),
            ("unknown", "is not held by worker w1"),
        ]
    )
    func rejections(kind: String, error: String) throws {
        let h = try GateHarness(policy: quorumPolicyYAML)
        let id = try h.park()
        let vote: Inbound
        switch kind {
        case "no-user": vote = h.vote(id, "approve", by: nil)
        case "own": vote = h.vote(id, "approve", by: "finance-agent")
        case "stranger": vote = h.vote(id, "approve", by: "intern@corp.com")
        case "twice":
            try h.handle(h.vote(id, "approve", by: "manager@corp.com"))
            vote = h.vote(id, "deny", by: "manager@corp.com")
        default: vote = h.vote("w1-00000000-0000-7000-8000-000000000000", "approve", by: "manager@corp.com")
        }
        let audited = try h.store.verifyAudit().checked
        let out = try h.handle(vote)
        let answer = try #require(out.reply)
        #expect(answer.bool("accepted") == false)
        #expect(answer.string("error")?.contains(error) == true, "\(answer.string("error") ?? "nil")")
        #expect(out.replies(to: "agent-replies").isEmpty)
        #expect(try h.store.verifyAudit().checked == audited + 1)
        #expect(try h.store.escalation(requestID: id)?.status == .pending)
    }

    @Test("a trusted gateway names the person; anyone else's approver field is ignored")
    func trustedGateway() throws {
        let h = try GateHarness(policy: quorumPolicyYAML) { $0.trustedGateways = ["slack-bot"] }
        let id = try h.park()
        let viaBot = try h.handle(h.vote(id, "approve", by: "slack-bot", approver: "manager@corp.com"))
        #expect(viaBot.reply?.bool("accepted") == true)
        #expect(try h.store.votes(requestID: id).map(\.voter) == ["manager@corp.com"])
        let spoof = try h.handle(h.vote(id, "approve", by: "intern@corp.com", approver: "cfo@corp.com"))
        #expect(spoof.reply?.string("error")?.contains("intern@corp.com is not an approver") == true)
        var lastDetail: String?
        try h.store.forEachAudit { lastDetail = $0.detail }
        #expect(lastDetail?.contains("is not an approver") == true)
    }

    @Test("a malformed vote is dead-lettered, answered and audited")
    func malformedVote() throws {
        let h = try GateHarness()
        let out = try h.handle(h.vote("x", "maybe", by: "manager@corp.com"))
        #expect(out.reply?.string("error")?.contains(#"decision must be "approve" or "deny""#) == true)
        #expect(out.deadLetters.first?.header["x-tollgate-queue"] == "tollgate.approvals.w1")
        #expect(h.gate.counters.votesRejected == 1)
    }

    @Test("a redelivered vote gets its first answer and is not counted again")
    func redeliveredVote() throws {
        let h = try GateHarness(policy: quorumPolicyYAML)
        let id = try h.park()
        var vote = h.vote(id, "approve", by: "manager@corp.com", messageID: "vote-1")
        let first = try h.handle(vote)
        vote.redelivered = true
        let again = try h.handle(vote)
        #expect(again.reply?.raw.body == first.reply?.raw.body)
        #expect(try h.store.votes(requestID: id).count == 1)
        #expect(h.gate.counters.duplicates == 1)
    }

    @Test("an escalation whose approvers cannot be read takes no votes (not 'anyone may vote')")
    func unreadableApprovers() throws {
        let h = try GateHarness(policy: quorumPolicyYAML)
        let id = try h.park()
        try h.store.db.execute("UPDATE escalations SET approvers = '{broken' WHERE request_id = '\(id)'")
        let out = try h.handle(h.vote(id, "approve", by: "intern@corp.com"))
        #expect(out.reply?.bool("accepted") == false)
        #expect(out.reply?.string("error")?.contains("cannot read its record of request") == true)
        #expect(try h.store.votes(requestID: id).isEmpty)
        #expect(h.logged(.error).contains { $0.contains("the vote does not count") })
    }
}
