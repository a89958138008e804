// Approval stages: the stages decide in order, each with its own pending notice, approvers and
// deadline; every stage must approve, one deny in any stage ends it, and a stage's timeout denies,
// waives the stage, or hands it to a fallback group.
import Foundation
import Testing
import TollgateJSON
import TollgatePolicy

@testable import TollgateStore
@testable import TollgateWorker

let stagePolicyYAML = """
    version: "1.0"
    name: stage-policy
    rules:
      - name: large-wire
        condition: {field: tool_name, operator: eq, value: wire_abroad}
        action: escalate
        message: "Wires need the manager, then compliance"
        escalation:
          max_grant_seconds: 600
          stages:
            - name: manager
              approvers: [manager@corp.com]
              timeout_seconds: 60
              on_timeout: {fallback: [cfo@corp.com]}
            - name: compliance
              approvers: [compliance@corp.com, auditor@corp.com]
              required_approvals: 2
              timeout_seconds: 120
      - name: board
        condition: {field: tool_name, operator: eq, value: sell_company}
        action: escalate
        escalation:
          max_grant_seconds: 600
          stages:
            - name: directors
              approvers: [ann@corp.com, bob@corp.com]
              required_approvals: 2
              timeout_seconds: 60
              on_timeout: {fallback: [cat@corp.com, dan@corp.com]}
            - {name: chair, approvers: [eve@corp.com], timeout_seconds: 60}
      - name: waived-review
        condition: {field: tool_name, operator: eq, value: publish_post}
        action: escalate
        escalation:
          stages:
            - {name: editor, approvers: [editor@corp.com], timeout_seconds: 30, on_timeout: allow}
            - {name: legal, approvers: [legal@corp.com], timeout_seconds: 30}
    defaults:
      action: allow
    """

@Suite("Decision core: approval stages")
struct StageTests {
    @Test("stage one approves, stage two gets its own notice and deadline, and its quorum decides")
    func stagesInOrder() throws {
        let h = try GateHarness(policy: stagePolicyYAML)
        let parked = try h.handle(h.call(tool: "wire_abroad", arguments: #"{"amount":90000}"#))
        let first = try #require(parked.notices("pending").first)
        let id = try #require(first.string("request_id"))
        #expect(first.json["stage"]?["index"]?.intValue == 1 && first.json["stage"]?["count"]?.intValue == 2)
        #expect(first.json["stage"]?["name"]?.stringValue == "manager")
        #expect(first.json["stage"]?["on_timeout"]?.stringValue == "fallback")
        #expect(first.json["quorum"]?["approvers"]?.arrayValue?.compactMap(\.stringValue) == ["manager@corp.com"])
        #expect(first.string("deadline") == isoTime(h.now + 60_000))

        // Compliance may not vote in the manager's stage.
        let early = try h.handle(h.vote(id, "approve", by: "compliance@corp.com"))
        #expect(early.reply?.string("error")?.contains("is not an approver") == true)

        h.advance(seconds: 10)
        let approved = try h.handle(h.vote(id, "approve", by: "manager@corp.com", comment: "ok"))
        #expect(approved.replies(to: "bot-replies").first?.string("status") == "pending")
        #expect(approved.replies(to: "agent-replies").isEmpty)
        #expect(
            approved.notices("voted").first?.json["approvals"]?.arrayValue?.compactMap(\.stringValue)
                == ["manager@corp.com"],
            "the stage's last vote is announced like any other"
        )
        let second = try #require(approved.notices("pending").first, "a pending notice for stage two")
        #expect(
            second.json["stage"]?["index"]?.intValue == 2 && second.json["stage"]?["name"]?.stringValue == "compliance"
        )
        #expect(second.json["quorum"]?["required_approvals"]?.intValue == 2)
        #expect(second.string("deadline") == isoTime(h.now + 120_000))
        // The manager's vote was for stage one: voting again is a vote of a non-approver.
        #expect(try h.handle(h.vote(id, "approve", by: "manager@corp.com")).reply?.bool("accepted") == false)

        let one = try h.handle(h.vote(id, "approve", by: "compliance@corp.com"))
        #expect(one.notices("voted").first?.json["approvals"]?.arrayValue?.count == 1)
        h.advance(seconds: 1)
        let out = try h.handle(h.vote(id, "approve", by: "auditor@corp.com", comment: "sanctions checked"))
        let final = try #require(out.replies(to: "agent-replies").first)
        #expect(final.decision == "allow" && final.resolution == "approved")
        #expect(
            final.json["approvers"]?.arrayValue?.compactMap(\.stringValue)
                == ["manager@corp.com", "compliance@corp.com", "auditor@corp.com"]
        )
        #expect(final.json["votes"]?.arrayValue?.compactMap { $0["stage"]?.intValue } == [1, 2, 2])
    }

    @Test("a deny in stage two ends the request")
    func denyInStageTwo() throws {
        let h = try GateHarness(policy: stagePolicyYAML)
        let id = try h.park(tool: "wire_abroad")
        _ = try h.handle(h.vote(id, "approve", by: "manager@corp.com"))
        let out = try h.handle(h.vote(id, "deny", by: "auditor@corp.com", comment: "beneficiary on a watch list"))
        let final = try #require(out.replies(to: "agent-replies").first)
        #expect(final.decision == "deny" && final.resolution == "denied")
        #expect(final.json["approvers"]?.arrayValue?.compactMap(\.stringValue) == ["auditor@corp.com"])
    }

    @Test("nobody answers stage one: it goes to the fallback group with a new deadline; then stage two times out: deny")
    func fallbackThenTimeout() throws {
        let h = try GateHarness(policy: stagePolicyYAML)
        let id = try h.park(tool: "wire_abroad")
        h.advance(seconds: 61)
        let handed = try h.deadlines()
        #expect(handed.replies(to: "agent-replies").isEmpty)
        let notice = try #require(handed.notices("pending").first)
        #expect(notice.json["stage"]?["index"]?.intValue == 1 && notice.json["stage"]?["fallback"]?.boolValue == true)
        #expect(notice.json["quorum"]?["approvers"]?.arrayValue?.compactMap(\.stringValue) == ["cfo@corp.com"])
        #expect(notice.string("deadline") == isoTime(h.now + 60_000))
        // The manager was too late: the stage is the CFO's now.
        #expect(try h.handle(h.vote(id, "approve", by: "manager@corp.com")).reply?.bool("accepted") == false)
        _ = try h.handle(h.vote(id, "approve", by: "cfo@corp.com"))
        #expect(try h.store.escalation(requestID: id)?.approvers == ["compliance@corp.com", "auditor@corp.com"])
        h.advance(seconds: 121)
        let out = try h.deadlines()
        let final = try #require(out.replies(to: "agent-replies").first)
        #expect(final.decision == "deny" && final.resolution == "timeout")
        #expect(final.string("reason") == "stage 2 of 2 (compliance) had no decision within 120 s: denied")
        var audit: [AuditRecord] = []
        try h.store.forEachAudit { if $0.requestID == id { audit.append($0) } }
        #expect(audit.filter { $0.kind == .escalated }.count == 3, "parked, handed to the fallback, moved to stage 2")
    }

    @Test("the fallback group does not answer either: denied")
    func fallbackTimesOut() throws {
        let h = try GateHarness(policy: stagePolicyYAML)
        _ = try h.park(tool: "wire_abroad")
        h.advance(seconds: 61)
        _ = try h.deadlines()
        h.advance(seconds: 61)
        let final = try #require(try h.deadlines().replies(to: "agent-replies").first)
        #expect(final.decision == "deny")
        #expect(final.string("reason") == "stage 1 of 2 (manager, fallback group) had no decision within 60 s: denied")
    }

    @Test("on_timeout: allow waives the stage: the request moves on, and nobody is named as approver")
    func waivedStage() throws {
        let h = try GateHarness(policy: stagePolicyYAML)
        let id = try h.park(tool: "publish_post")
        h.advance(seconds: 31)
        let moved = try h.deadlines()
        #expect(moved.notices("pending").first?.json["stage"]?["name"]?.stringValue == "legal")
        let out = try h.handle(h.vote(id, "approve", by: "legal@corp.com"))
        let final = try #require(out.replies(to: "agent-replies").first)
        #expect(final.decision == "allow")
        #expect(final.json["approvers"]?.arrayValue?.compactMap(\.stringValue) == ["legal@corp.com"])
    }

    @Test("edits only in the first stage; stages that cannot be read take no votes and deny at the deadline")
    func editsAndUnreadableStages() throws {
        let h = try GateHarness(policy: stagePolicyYAML)
        let id = try h.park(tool: "wire_abroad", arguments: #"{"amount":90000}"#)
        _ = try h.handle(h.vote(id, "approve", by: "manager@corp.com"))
        let edit = try h.handle(h.vote(id, "approve", by: "compliance@corp.com", arguments: #"{"amount":1}"#))
        #expect(edit.reply?.string("error")?.contains("past its first approval stage") == true)

        let broken = try h.park(tool: "wire_abroad")
        try h.store.db.execute("UPDATE escalations SET stages = '[{\"stage\": \"x\"}]' WHERE request_id = '\(broken)'")
        let vote = try h.handle(h.vote(broken, "approve", by: "manager@corp.com"))
        #expect(vote.reply?.bool("accepted") == false)
        #expect(vote.reply?.string("error")?.contains("cannot read") == true)
        h.advance(seconds: 61)
        let out = try h.deadlines()
        let final = try #require(out.replies(to: "agent-replies").first { $0.string("request_id") == broken })
        #expect(final.decision == "deny")
    }

    @Test("tollgate validate --strict refuses a stage that approves itself on timeout, and says where")
    func strictValidate() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-strict-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("p.yaml").path
        try stagePolicyYAML.write(toFile: path, atomically: true, encoding: .utf8)
        guard case .success(let document) = PolicyLoader.parse(try PolicyLoader.read(paths: [path])[0]) else {
            Issue.record("the stage policy does not load")
            return
        }
        #expect(
            document.strictFindings.map(\.description) == [
                "\(path):36:89: stage 1 of 'escalation.stages' approves itself when nobody answers (on_timeout: allow): an unanswered request should not silently become an approval"
            ]
        )
    }

    @Test("an approval in a stage that fell back to its fallback group does not count, nor name its voter")
    func lapsedApprovalsDoNotCount() throws {
        let h = try GateHarness(policy: stagePolicyYAML)
        let id = try h.park(tool: "sell_company", context: #"{"session_id":"s1"}"#)
        let grant = #"{"scope":"session","ttl_seconds":300}"#
        _ = try h.handle(h.vote(id, "approve", by: "ann@corp.com"))  // 1 of 2, and no grant asked
        h.advance(seconds: 61)
        _ = try h.deadlines()  // to cat and dan
        _ = try h.handle(h.vote(id, "approve", by: "cat@corp.com", grant: grant))
        h.advance(seconds: 1)
        _ = try h.handle(h.vote(id, "approve", by: "dan@corp.com", grant: grant))
        let out = try h.handle(h.vote(id, "approve", by: "eve@corp.com", grant: grant))
        let final = try #require(out.replies(to: "agent-replies").first)
        #expect(final.decision == "allow")
        #expect(
            final.json["approvers"]?.arrayValue?.compactMap(\.stringValue)
                == ["cat@corp.com", "dan@corp.com", "eve@corp.com"]
        )
        // Everyone whose approval counted asked for the grant (Ann's lapsed approval did not).
        let made = try #require(final.json["grant"])
        // The stage-1 directors may revoke it, though the request ended in the chair's stage.
        let revoked = try h.handle(h.revoke(try #require(made["grant_id"]?.stringValue), by: "bob@corp.com"))
        #expect(revoked.reply?.bool("revoked") == true, "\(String(describing: revoked.reply?.json))")
    }

    @Test(
        "stored stages that do not fit together are unreadable: no vote counts, the deadline denies, nothing traps",
        arguments: [
            // The last step hands over to a fallback group that is not there.
            #"[{"stage":0,"stages":1,"name":"m","approvers":["manager@corp.com"],"required_approvals":1,"timeout_seconds":60,"on_timeout":"fallback","fallback":false}]"#,
            // A gap in the stages: approving stage 1 must not allow the request.
            #"[{"stage":0,"stages":2,"name":"m","approvers":["manager@corp.com"],"required_approvals":1,"timeout_seconds":60,"on_timeout":"deny","fallback":false},{"stage":2,"stages":2,"name":"c","approvers":["c@corp.com"],"required_approvals":1,"timeout_seconds":60,"on_timeout":"deny","fallback":false}]"#,
        ]
    )
    func inconsistentStages(stored: String) throws {
        let h = try GateHarness(policy: stagePolicyYAML)
        let id = try h.park(tool: "wire_abroad")
        try h.store.db.execute(
            "UPDATE escalations SET stages = '\(stored)', approvers = '[\"manager@corp.com\"]' WHERE request_id = '\(id)'"
        )
        let vote = try h.handle(h.vote(id, "approve", by: "manager@corp.com"))
        #expect(vote.reply?.bool("accepted") == false)
        #expect(vote.replies(to: "agent-replies").isEmpty)
        h.advance(seconds: 61)
        let final = try #require(try h.deadlines().replies(to: "agent-replies").first)
        #expect(final.decision == "deny")
    }
}
