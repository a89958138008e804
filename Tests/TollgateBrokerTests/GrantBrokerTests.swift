// Standing grants over the real broker, as a client would use them: `tollgate approve --grant`,
// the agent's next call allowed without asking, `tollgate grants` across the fleet,
// `tollgate revoke`, a policy reload ending a grant, and SIGKILLs of the worker between the steps.
import Foundation
import Testing
import TollgateJSON

@Suite("Standing grants", .serialized)
struct GrantBrokerTests {
    static let policy = """
        version: "1.0"
        name: grants
        rules:
          - name: transfer
            condition: {field: tool_name, operator: eq, value: transfer_funds}
            action: escalate
            message: "Transfers need an approver"
            escalation: {approvers: [manager@corp.com, cfo@corp.com], timeout_seconds: 120, max_grant_seconds: 3600}
        """

    func url(_ user: String) -> String {
        var url = Broker.url
        url.user = user
        url.password = "secret"
        return url.description(withPassword: true)
    }

    @Test(
        "approve with a session grant; the next call is allowed by it; listed, revoked, ended by a reload; SIGKILL-safe"
    )
    func grantOverTheBroker() throws {
        let scratch = try Scratch()
        let policy = try scratch.write("p.yaml", Self.policy)
        let worker = WorkerProcess(scratch: scratch, policies: [policy])
        try worker.start()
        defer { _ = worker.terminate() }
        let agent = try TestClient()
        defer { agent.close() }
        let session = #"{"session_id":"chat-42"}"#
        let first = try agent.call(
            prefix: worker.prefix,
            tool: "transfer_funds",
            arguments: #"{"amount": 120}"#,
            context: session
        )
        let requestID = try #require(try agent.reply(to: first).string("request_id"))

        let approve = try runTollgate([
            "approve", requestID, "--grant", "session:900", "--comment", "fine for this chat", "--prefix",
            worker.prefix, "--amqp-url", url("manager@corp.com"),
        ])
        #expect(approve.status == 0, "\(approve.output)")
        let grantID = try #require(
            approve.output.split(separator: "\n").first { $0.hasPrefix("standing grant made: ") }
                .map { String($0.dropFirst("standing grant made: ".count)) },
            "\(approve.output)"
        )
        let final = try agent.finalDecision(to: first)
        #expect(final.json["grant"]?["grant_id"]?.stringValue == grantID)
        #expect(final.json["grant"]?["session_id"]?.stringValue == "chat-42")

        // The worker dies; the grant is durable.
        worker.kill()
        try worker.start()
        let second = try agent.reply(
            to: agent.call(
                prefix: worker.prefix,
                tool: "transfer_funds",
                arguments: #"{"amount": 80}"#,
                context: session
            )
        )
        #expect(second.string("decision") == "allow")
        #expect(second.string("resolution") == "grant")
        #expect(second.json["grant"]?["grant_id"]?.stringValue == grantID)
        #expect(second.json["approvers"]?.arrayValue?.compactMap(\.stringValue) == ["manager@corp.com"])
        // Another session is asked.
        let other = try agent.reply(
            to: agent.call(prefix: worker.prefix, tool: "transfer_funds", context: #"{"session_id":"chat-43"}"#)
        )
        #expect(other.string("decision") == "pending")

        // The fleet lists it.
        let listed = try runTollgate(["grants", "--prefix", worker.prefix, "--json", "--wait", "1.5"])
        #expect(listed.status == 0, "\(listed.output)")
        let entries = listed.output.split(separator: "\n").compactMap { try? JSONValue.parse(Array($0.utf8)) }
        #expect(entries.compactMap { $0["grant_id"]?.stringValue } == [grantID], "\(listed.output)")
        let table = try runTollgate(["grants", "--prefix", worker.prefix])
        #expect(table.output.contains("1 in force; 1 worker answered"), "\(table.output)")

        // The agent cannot revoke its own grant; the CFO can.
        let byAgent = try runTollgate([
            "revoke", grantID, "--prefix", worker.prefix, "--amqp-url", url("finance-agent"),
        ])
        #expect(byAgent.status == 1 && byAgent.output.contains("is the agent the grant is for"), "\(byAgent.output)")
        let revoke = try runTollgate([
            "revoke", grantID, "--comment", "chat closed", "--prefix", worker.prefix, "--amqp-url",
            url("cfo@corp.com"),
        ])
        #expect(revoke.status == 0 && revoke.output.contains("revoked: \(grantID) by cfo@corp.com"), "\(revoke.output)")
        worker.kill()
        try worker.start()
        let third = try agent.reply(
            to: agent.call(prefix: worker.prefix, tool: "transfer_funds", context: session)
        )
        #expect(third.string("decision") == "pending", "a revoked grant allows nothing")
        #expect(try runTollgate(["grants", "--prefix", worker.prefix]).output.contains("no grants in force"))
    }

    @Test("a policy reload ends the grants made under the old version")
    func reloadEndsGrants() throws {
        let scratch = try Scratch()
        let policy = try scratch.write("p.yaml", Self.policy)
        let worker = WorkerProcess(scratch: scratch, policies: [policy])
        try worker.start()
        defer { _ = worker.terminate() }
        let agent = try TestClient()
        defer { agent.close() }
        let manager = try TestClient(user: "manager@corp.com")
        defer { manager.close() }
        let call = try agent.call(prefix: worker.prefix, tool: "transfer_funds")
        let requestID = try #require(try agent.reply(to: call).string("request_id"))
        let answer = try manager.reply(
            to: manager.vote(
                prefix: worker.prefix,
                requestID: requestID,
                decision: "approve",
                grant: #"{"scope": "agent", "ttl_seconds": 600}"#
            )
        )
        #expect(answer.json["grant_id"]?.stringValue?.hasPrefix("grant-w1-") == true, "\(answer.json)")
        #expect(
            try agent.reply(to: agent.call(prefix: worker.prefix, tool: "transfer_funds")).string("resolution")
                == "grant"
        )
        try scratch.write("p.yaml", Self.policy.replacingOccurrences(of: "need an approver", with: "need a person"))
        worker.signal(SIGHUP)
        #expect(worker.waitForLog("policies reloaded"))
        #expect(
            try agent.reply(to: agent.call(prefix: worker.prefix, tool: "transfer_funds")).string("decision")
                == "pending"
        )
    }
}
