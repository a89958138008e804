// Approve with edits over the real broker, as a client would use it: an approver edits a parked
// transfer with `tollgate approve --arguments`, an edit the policy denies is refused naming the
// rule, the earlier approval stops counting, and a SIGKILL of the worker between any two steps
// loses none of it.
import Foundation
import Testing
import TollgateJSON

@Suite("Approve with edits", .serialized)
struct EditBrokerTests {
    @Test("an edit mid-quorum over the broker: refused when the policy denies it, else a new round, surviving SIGKILLs")
    func editOverTheBroker() throws {
        let scratch = try Scratch()
        let policy = try scratch.write(
            "p.yaml",
            """
            version: "1.0"
            name: edits
            rules:
              - name: no-huge-transfers
                condition: {field: arguments.amount, operator: gt, value: 100000}
                action: deny
                priority: 100
                message: "Transfers over 100000 are never allowed"
              - name: large-transfer
                condition: {field: tool_name, operator: eq, value: transfer_funds}
                action: escalate
                priority: 90
                escalation:
                  approvers: [manager@corp.com, cfo@corp.com]
                  required_approvals: 2
                  timeout_seconds: 120
            """
        )
        let worker = WorkerProcess(scratch: scratch, policies: [policy])
        try worker.start()
        defer { _ = worker.terminate() }
        let agent = try TestClient()
        defer { agent.close() }
        let call = try agent.call(
            prefix: worker.prefix,
            tool: "transfer_funds",
            arguments: #"{"amount": 50000, "to": "vendor-123"}"#
        )
        let requestID = try #require(try agent.reply(to: call).string("request_id"))

        let manager = try TestClient(user: "manager@corp.com")
        defer { manager.close() }
        #expect(
            try manager.reply(to: manager.vote(prefix: worker.prefix, requestID: requestID, decision: "approve"))
                .json["accepted"]?.boolValue == true
        )
        worker.kill()
        try worker.start()

        // An edit into a deny rule's range is refused with the rule's name.
        let cfo = try TestClient(user: "cfo@corp.com")
        defer { cfo.close() }
        let huge = try cfo.reply(
            to: cfo.vote(
                prefix: worker.prefix,
                requestID: requestID,
                decision: "approve",
                arguments: #"{"amount": 500000, "to": "vendor-123"}"#
            )
        )
        #expect(huge.json["accepted"]?.boolValue == false)
        #expect(huge.string("error")?.contains("denied by rule no-huge-transfers") == true, "\(huge.json)")

        // The CFO approves half, with the CLI.
        var cfoURL = Broker.url
        cfoURL.user = "cfo@corp.com"
        cfoURL.password = "secret"
        let edit = try runTollgate([
            "approve", requestID, "--arguments", #"{"amount": 25000, "to": "vendor-123"}"#, "--comment", "half now",
            "--prefix", worker.prefix, "--amqp-url", cfoURL.description(withPassword: true),
        ])
        #expect(edit.status == 0, "\(edit.output)")
        #expect(edit.output.contains("request is now pending"), "\(edit.output)")
        worker.kill()
        try worker.start()

        // The manager's first approval was for 50000: it no longer counts, so approving again decides.
        let again = try manager.reply(
            to: manager.vote(prefix: worker.prefix, requestID: requestID, decision: "approve", comment: "fine, half")
        )
        #expect(again.json["status"]?.stringValue == "allow", "\(again.json)")
        let final = try agent.finalDecision(to: call)
        #expect(final.json["decision"]?.stringValue == "allow")
        #expect(final.json["edited"]?.boolValue == true)
        #expect(final.json["arguments"]?["amount"]?.intValue == 25000)
        #expect(final.json["arguments"]?["to"]?.stringValue == "vendor-123")
        let votes = try #require(final.json["votes"]?.arrayValue)
        #expect(votes.map { $0["voter"]?.stringValue } == ["manager@corp.com", "cfo@corp.com", "manager@corp.com"])
        #expect(votes.map { $0["superseded"]?.boolValue ?? false } == [true, false, false])
        #expect(
            final.string("reason")
                == "approved by cfo@corp.com, manager@corp.com with arguments edited by cfo@corp.com: fine, half"
        )
    }
}
