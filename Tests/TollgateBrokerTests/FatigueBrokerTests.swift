// Escalation fatigue over a real RabbitMQ: both limits, their `limited.<tool>` notices and audit
// entries, and limits that hold across a worker killed and restarted (they are counted from the
// database, not kept in memory).
import Foundation
import Testing
import TollgateAMQP
import TollgateJSON

@Suite("Escalation fatigue", .serialized)
struct FatigueBrokerTests {
    static let policy = """
        version: "1.0"
        name: fatigue
        rules:
          - name: transfer
            condition: {field: tool_name, operator: eq, value: transfer_funds}
            action: escalate
            message: "Transfers need the manager"
            escalation: {approvers: [manager@corp.com], timeout_seconds: 600, max_pending_per_agent: 2}
          - name: email
            condition: {field: tool_name, operator: eq, value: send_email}
            action: escalate
            escalation: {timeout_seconds: 600, fatigue_threshold: 2, fatigue_window_seconds: 600}
        defaults:
          action: allow
        """

    @Test("both limits deny at once, are announced and audited, and survive a SIGKILL")
    func bothLimitsAcrossARestart() throws {
        let scratch = try Scratch()
        let worker = WorkerProcess(scratch: scratch, policies: [try scratch.write("policy.yaml", Self.policy)])
        try worker.start()
        let agent = try TestClient(user: "finance-agent")
        defer { agent.close() }
        try agent.observe(worker.topology.escalations, key: "limited.#", label: "limited")

        func decide(_ tool: String) throws -> Received {
            try agent.reply(to: try agent.call(prefix: worker.prefix, tool: tool))
        }
        #expect(try decide("transfer_funds").string("decision") == "pending")
        #expect(try decide("transfer_funds").string("decision") == "pending")
        let third = try decide("transfer_funds")
        #expect(third.string("decision") == "deny")
        #expect(third.string("resolution") == "limit")
        #expect(third.string("reason")?.contains("has 2 escalations of rule transfer waiting for people") == true)

        let email = try decide("send_email")
        #expect(email.string("decision") == "pending")
        let emailID = try #require(email.string("request_id"))
        #expect(try decide("send_email").string("decision") == "pending")
        // Deciding an email does not free the window: it counts new escalations.
        let manager = try TestClient(user: "manager@corp.com")
        defer { manager.close() }
        let vote = try manager.vote(prefix: worker.prefix, requestID: emailID, decision: "deny")
        #expect(try manager.reply(to: vote)["accepted"]?.boolValue == true)
        let email3 = try decide("send_email")
        #expect(email3.string("resolution") == "limit")
        #expect(email3.string("reason")?.contains("made 2 escalations of rule email in the last 600 s") == true)

        let limited = try agent.await("limited", count: 2)
        #expect(Set(limited.map(\.delivery.routingKey)) == ["limited.transfer_funds", "limited.send_email"])
        #expect(
            limited.first { $0.delivery.routingKey == "limited.send_email" }?["limit"]?["kind"]?.stringValue == "window"
        )

        // Killed and restarted: the limits are read from the database.
        worker.kill()
        try worker.start()
        #expect(try decide("transfer_funds").string("resolution") == "limit")
        #expect(try decide("send_email").string("resolution") == "limit")

        let audit = try runTollgate(["audit", "export", "--db", worker.databasePath]).output
            .split(separator: "\n").compactMap { try? JSONValue.parse(String($0)) }
        let limits = audit.filter { $0["resolution"]?.stringValue == "limit" }
        #expect(limits.count == 4, "\(limits)")
        #expect(
            limits.allSatisfy { $0["detail"]?.stringValue?.hasPrefix("escalation limit: agent finance-agent") == true }
        )
        #expect(try runTollgate(["audit", "verify", "--db", worker.databasePath]).status == 0)
        #expect(worker.terminate() == 0)
    }
}
