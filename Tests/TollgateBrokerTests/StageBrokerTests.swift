// Approval stages over the real broker: a manager, then compliance; a stage nobody answers goes
// to its fallback group, even when the deadline passed while the worker was dead.
import Foundation
import Testing
import TollgateJSON

@Suite("Approval stages", .serialized)
struct StageBrokerTests {
    @Test("stage one times out while the worker is dead, goes to the fallback group, stage two decides; SIGKILL-safe")
    func stagesOverTheBroker() throws {
        let scratch = try Scratch()
        let policy = try scratch.write(
            "p.yaml",
            """
            version: "1.0"
            name: stages
            rules:
              - name: wire
                condition: {field: tool_name, operator: eq, value: wire_abroad}
                action: escalate
                escalation:
                  stages:
                    - {name: manager, approvers: [manager@corp.com], timeout_seconds: 2, on_timeout: {fallback: [cfo@corp.com]}}
                    - {name: compliance, approvers: [compliance@corp.com], timeout_seconds: 120}
            """
        )
        let worker = WorkerProcess(scratch: scratch, policies: [policy])
        try worker.start()
        defer { _ = worker.terminate() }
        let agent = try TestClient()
        defer { agent.close() }
        let call = try agent.call(prefix: worker.prefix, tool: "wire_abroad", arguments: #"{"amount": 90000}"#)
        let requestID = try #require(try agent.reply(to: call).string("request_id"))

        // The worker dies; stage one's deadline passes meanwhile.
        worker.kill()
        Thread.sleep(forTimeInterval: 3)
        try worker.start()

        let manager = try TestClient(user: "manager@corp.com")
        defer { manager.close() }
        let cfo = try TestClient(user: "cfo@corp.com")
        defer { cfo.close() }
        // The stage is the CFO's now: the restarted worker handles the deadline that passed.
        #expect(worker.waitForLog("moved an escalated call to its next approval stage"), "\(worker.log.suffix(1500))")
        let late = try manager.reply(to: manager.vote(prefix: worker.prefix, requestID: requestID, decision: "approve"))
        #expect(late.json["accepted"]?.boolValue == false)
        #expect(late.string("error")?.contains("manager@corp.com is not an approver") == true, "\(late.json)")
        let byCFO = try cfo.reply(to: cfo.vote(prefix: worker.prefix, requestID: requestID, decision: "approve"))
        #expect(byCFO.json["status"]?.stringValue == "pending", "\(byCFO.json)")

        worker.kill()
        try worker.start()
        let compliance = try TestClient(user: "compliance@corp.com")
        defer { compliance.close() }
        let last = try compliance.reply(
            to: compliance.vote(prefix: worker.prefix, requestID: requestID, decision: "approve", comment: "cleared")
        )
        #expect(last.json["status"]?.stringValue == "allow", "\(last.json)")
        let final = try agent.finalDecision(to: call)
        #expect(final.json["decision"]?.stringValue == "allow")
        #expect(
            final.json["approvers"]?.arrayValue?.compactMap(\.stringValue) == ["cfo@corp.com", "compliance@corp.com"]
        )
        let votes = try #require(final.json["votes"]?.arrayValue)
        #expect(votes.compactMap { $0["stage"]?.intValue } == [1, 2])
        #expect(votes.first?["fallback"]?.boolValue == true)
    }
}
