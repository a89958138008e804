// The reviewers' words over the real broker: the agent's final decision carries every accepted
// vote with its comment, a policy can require a reason to deny, and a SIGKILL of the worker
// between the votes loses none of it.
import Foundation
import Testing
import TollgateJSON

@Suite("Reviewers' words", .serialized)
struct ReviewerWordsBrokerTests {
    @Test(
        "a denial without a reason is refused where the policy asks for one; the agent gets every vote with its comment"
    )
    func reviewersWords() throws {
        let scratch = try Scratch()
        let policy = try scratch.write(
            "p.yaml",
            """
            version: "1.0"
            name: words
            rules:
              - name: transfer
                condition: {field: tool_name, operator: eq, value: transfer_funds}
                action: escalate
                escalation:
                  approvers: [manager@corp.com, cfo@corp.com]
                  required_approvals: 2
                  require_comment: deny
                  timeout_seconds: 120
            """
        )
        let worker = WorkerProcess(scratch: scratch, policies: [policy])
        try worker.start()
        defer { _ = worker.terminate() }
        let agent = try TestClient()
        defer { agent.close() }
        let call = try agent.call(prefix: worker.prefix, tool: "transfer_funds", arguments: #"{"amount": 5000}"#)
        let pending = try agent.reply(to: call)
        let requestID = try #require(pending.string("request_id"))
        #expect(pending.json["decision"]?.stringValue == "pending")

        let manager = try TestClient(user: "manager@corp.com")
        defer { manager.close() }
        let first = try manager.vote(
            prefix: worker.prefix,
            requestID: requestID,
            decision: "approve",
            comment: "vendor verified"
        )
        #expect(try manager.reply(to: first).json["accepted"]?.boolValue == true)

        // The worker dies between the votes; the first vote and its comment are durable.
        worker.kill()
        try worker.start()

        let cfo = try TestClient(user: "cfo@corp.com")
        defer { cfo.close() }
        let bare = try cfo.vote(prefix: worker.prefix, requestID: requestID, decision: "deny")
        let refused = try cfo.reply(to: bare)
        #expect(refused.json["accepted"]?.boolValue == false)
        #expect(refused.string("error") == "a comment is required to deny request \(requestID) (rule transfer)")
        let reasoned = try cfo.vote(
            prefix: worker.prefix,
            requestID: requestID,
            decision: "deny",
            comment: "wrong beneficiary; use vendor-123"
        )
        #expect(try cfo.reply(to: reasoned).json["status"]?.stringValue == "deny")

        let final = try agent.finalDecision(to: call)
        #expect(final.json["resolution"]?.stringValue == "denied")
        let votes = try #require(final.json["votes"]?.arrayValue)
        #expect(votes.map { $0["voter"]?.stringValue } == ["manager@corp.com", "cfo@corp.com"])
        #expect(votes.map { $0["decision"]?.stringValue } == ["approve", "deny"])
        #expect(votes.map { $0["comment"]?.stringValue } == ["vendor verified", "wrong beneficiary; use vendor-123"])
        #expect(votes.allSatisfy { $0["at"]?.stringValue?.hasSuffix("Z") == true })
        #expect(final.string("reason") == "denied by cfo@corp.com: wrong beneficiary; use vendor-123")
    }
}
