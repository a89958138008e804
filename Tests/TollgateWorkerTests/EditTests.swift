// Approve with edits: a vote's `arguments` replace the pending ones when the policy lets the
// edited call stand (allowed, or escalated under the same rule); the tally starts again.
import Testing
import TollgateJSON

@testable import TollgateStore
@testable import TollgateWorker

let editPolicyYAML = """
    version: "1.0"
    name: edit-policy
    rules:
      - name: no-huge-transfers
        condition: {all: [{field: tool_name, operator: eq, value: transfer_funds}, {field: arguments.amount, operator: gt, value: 100000}]}
        action: deny
        priority: 100
        message: "Transfers over 100000 are never allowed"
      - name: large-transfer
        condition: {all: [{field: tool_name, operator: eq, value: transfer_funds}, {field: arguments.amount, operator: gt, value: 10000}]}
        action: escalate
        priority: 90
        message: "Large transfers need two approvers"
        escalation:
          approvers: [manager@corp.com, cfo@corp.com, compliance@corp.com]
          required_approvals: 2
          timeout_seconds: 60
      - name: transfer
        condition: {field: tool_name, operator: eq, value: transfer_funds}
        action: escalate
        priority: 80
        message: "Transfers need an approver"
        escalation: {approvers: [manager@corp.com], required_approvals: 1, timeout_seconds: 60}
      - name: sandbox-transfer
        condition: {all: [{field: tool_name, operator: eq, value: move_money}, {field: environment, operator: eq, value: sandbox}]}
        action: allow
        priority: 70
      - name: move-money
        condition: {field: tool_name, operator: eq, value: move_money}
        action: escalate
        priority: 60
        escalation: {approvers: [manager@corp.com], timeout_seconds: 60}
    defaults:
      action: allow
    """

@Suite("Decision core: approve with edits")
struct EditTests {
    /// Parks a transfer of `amount` to `to` and returns its request id.
    private func parkTransfer(_ h: GateHarness, amount: Int, to: String = "ACME") throws -> String {
        try h.park(tool: "transfer_funds", arguments: #"{"amount":\#(amount),"to":"\#(to)"}"#)
    }

    @Test("an edit the policy allows under the same rule replaces the arguments and decides the request")
    func editAllowed() throws {
        let h = try GateHarness(policy: editPolicyYAML)
        let id = try parkTransfer(h, amount: 5000, to: "ACME")
        let out = try h.handle(
            h.vote(
                id,
                "approve",
                by: "manager@corp.com",
                comment: "to the vendor's new account",
                arguments: #"{"amount":4500,"to":"ACME Ltd"}"#
            )
        )
        #expect(out.replies(to: "bot-replies").first?.bool("accepted") == true)
        let final = try #require(out.replies(to: "agent-replies").first)
        #expect(final.decision == "allow")
        #expect(final.bool("edited") == true)
        #expect(final.json["arguments"]?["amount"]?.intValue == 4500)
        #expect(final.json["arguments"]?["to"]?.stringValue == "ACME Ltd")
        #expect(final.string("reason")?.contains("with arguments edited by manager@corp.com") == true)
        let votes = try #require(final.json["votes"]?.arrayValue)
        #expect(votes.count == 1)
        #expect(votes[0]["arguments"]?["amount"]?.intValue == 4500)
        #expect(try h.store.escalation(requestID: id)?.argumentsJSON.contains("4500") == true)
        // The audit trail says what the arguments became.
        var audit: [AuditRecord] = []
        try h.store.forEachAudit { if $0.requestID == id { audit.append($0) } }
        #expect(audit.contains { $0.kind == .vote && $0.detail?.contains(#""amount":4500"#) == true })
    }

    @Test("an edit the policy denies is refused naming the rule, and the request stays as it was")
    func editDenied() throws {
        let h = try GateHarness(policy: editPolicyYAML)
        let id = try parkTransfer(h, amount: 50000)
        let out = try h.handle(
            h.vote(id, "approve", by: "manager@corp.com", arguments: #"{"amount":500000,"to":"ACME"}"#)
        )
        let answer = try #require(out.replies(to: "bot-replies").first)
        #expect(answer.bool("accepted") == false)
        #expect(answer.string("error")?.contains("denied by rule no-huge-transfers") == true, "\(answer.json)")
        #expect(out.replies(to: "agent-replies").isEmpty)
        #expect(try h.store.votes(requestID: id).isEmpty)
        let stored = try #require(try h.store.escalation(requestID: id))
        #expect(stored.round == 0 && stored.argumentsJSON.contains("50000"))
    }

    @Test("an edit that would move the call under another rule is refused (the approvers differ)")
    func editIntoAnotherRule() throws {
        let h = try GateHarness(policy: editPolicyYAML)
        // A small transfer needs one manager; editing it into a large one would skip the quorum.
        let id = try parkTransfer(h, amount: 5000)
        let out = try h.handle(
            h.vote(id, "approve", by: "manager@corp.com", arguments: #"{"amount":50000,"to":"ACME"}"#)
        )
        let answer = try #require(out.replies(to: "bot-replies").first)
        #expect(answer.bool("accepted") == false)
        #expect(
            answer.string("error")?.contains("falls under rule large-transfer, not transfer") == true,
            "\(answer.json)"
        )
        #expect(try h.store.votes(requestID: id).isEmpty)
    }

    @Test("the edited call is evaluated with the call's context: an edit the policy allows outright is accepted")
    func editEvaluatedWithContext() throws {
        let h = try GateHarness(policy: editPolicyYAML)
        // In the sandbox the policy allows move_money; the call is escalated only because
        // context.environment is production. The edit keeps the context, so it stays escalated
        // under move-money (same rule): accepted, decided by the one approval needed.
        let id = try h.park(tool: "move_money", arguments: #"{"amount":1}"#, context: #"{"environment":"production"}"#)
        let out = try h.handle(h.vote(id, "approve", by: "manager@corp.com", arguments: #"{"amount":2}"#))
        let final = try #require(out.replies(to: "agent-replies").first)
        #expect(final.decision == "allow" && final.bool("edited") == true)
        #expect(try h.store.escalation(requestID: id)?.callContextJSON?.contains("production") == true)
    }

    @Test("an edit in the middle of a quorum: earlier approvals no longer count, the editor's does, others vote again")
    func editMidQuorum() throws {
        let h = try GateHarness(policy: editPolicyYAML)
        let id = try parkTransfer(h, amount: 50000)
        let first = try h.handle(h.vote(id, "approve", by: "manager@corp.com", comment: "ok"))
        #expect(first.notices("voted").first?.json["approvals"]?.arrayValue?.count == 1)
        h.now += 1000
        let edit = try h.handle(
            h.vote(id, "approve", by: "cfo@corp.com", comment: "only half", arguments: #"{"amount":25000,"to":"ACME"}"#)
        )
        #expect(edit.replies(to: "agent-replies").isEmpty, "one approval of the new arguments is not a quorum of two")
        let voted = try #require(edit.notices("voted").first)
        #expect(voted.bool("edited") == true)
        #expect(voted.json["round"]?.intValue == 1)
        #expect(voted.json["arguments"]?["amount"]?.intValue == 25000)
        #expect(voted.json["approvals"]?.arrayValue?.compactMap(\.stringValue) == ["cfo@corp.com"])
        #expect(voted.json["superseded"]?.arrayValue?.compactMap(\.stringValue) == ["manager@corp.com"])
        #expect(voted.string("note")?.contains("the votes of manager@corp.com were for other arguments") == true)
        // The manager approved the old arguments; approving the new ones is a new vote.
        h.now += 1000
        let again = try h.handle(h.vote(id, "approve", by: "manager@corp.com", comment: "fine, half"))
        #expect(again.replies(to: "bot-replies").first?.bool("accepted") == true)
        let final = try #require(again.replies(to: "agent-replies").first)
        #expect(final.decision == "allow")
        #expect(final.json["approvers"]?.arrayValue?.compactMap(\.stringValue) == ["cfo@corp.com", "manager@corp.com"])
        #expect(final.json["arguments"]?["amount"]?.intValue == 25000)
        let votes = try #require(final.json["votes"]?.arrayValue)
        #expect(votes.map { $0["voter"]?.stringValue } == ["manager@corp.com", "cfo@corp.com", "manager@corp.com"])
        #expect(votes.map { $0["superseded"]?.boolValue ?? false } == [true, false, false])
        #expect(votes[1]["arguments"]?["amount"]?.intValue == 25000)
    }

    @Test("an edit restarts the denials too, and a deny after an edit still decides")
    func denyAfterEdit() throws {
        let h = try GateHarness(policy: editPolicyYAML)
        let id = try parkTransfer(h, amount: 50000)
        _ = try h.handle(h.vote(id, "approve", by: "manager@corp.com", arguments: #"{"amount":20000,"to":"ACME"}"#))
        let out = try h.handle(h.vote(id, "deny", by: "compliance@corp.com", comment: "not this quarter"))
        let final = try #require(out.replies(to: "agent-replies").first)
        #expect(final.decision == "deny" && final.bool("edited") == true)
        #expect(final.json["arguments"]?["amount"]?.intValue == 20000)
    }

    @Test(
        "the same arguments are a plain approval; a deny with arguments is malformed; an edit of a decided request is refused"
    )
    func edgeCases() throws {
        let h = try GateHarness(policy: editPolicyYAML)
        let id = try parkTransfer(h, amount: 50000, to: "ACME")
        // Same object, other key order and 5e4 for 50000: unchanged (canonical JSON).
        let same = try h.handle(
            h.vote(id, "approve", by: "manager@corp.com", arguments: #"{"to":"ACME","amount":5e4}"#)
        )
        #expect(same.replies(to: "bot-replies").first?.bool("accepted") == true)
        #expect(try h.store.escalation(requestID: id)?.round == 0)
        #expect(same.notices("voted").first?.bool("edited") == false)
        // A second plain approval by the same voter is still refused; an edit by them is not.
        let twice = try h.handle(
            h.vote(id, "approve", by: "manager@corp.com", arguments: #"{"amount":50000,"to":"ACME"}"#)
        )
        #expect(twice.replies(to: "bot-replies").first?.string("error")?.contains("has already voted") == true)

        let deny = try h.handle(h.vote(id, "deny", by: "cfo@corp.com", arguments: #"{"amount":1}"#))
        #expect(deny.replies(to: "bot-replies").first?.bool("accepted") == false)
        #expect(deny.deadLetters.count == 1)
        #expect(
            deny.replies(to: "bot-replies").first?.string("error")?.contains("only come with decision approve") == true
        )

        _ = try h.handle(h.vote(id, "approve", by: "cfo@corp.com"))
        let late = try h.handle(
            h.vote(id, "approve", by: "compliance@corp.com", arguments: #"{"amount":1,"to":"ACME"}"#)
        )
        #expect(late.replies(to: "bot-replies").first?.string("error")?.contains("already decided") == true)
    }

    @Test("an edit cannot undo someone else's denial: denials stand across rounds")
    func denialsStand() throws {
        let h = try GateHarness(
            policy: editPolicyYAML.replacingOccurrences(
                of: "required_approvals: 2\n      timeout_seconds: 60",
                with: "required_approvals: 2\n      required_denials: 2\n      timeout_seconds: 60"
            )
        )
        let id = try parkTransfer(h, amount: 50000)
        _ = try h.handle(h.vote(id, "deny", by: "compliance@corp.com", comment: "not this quarter"))
        let edit = try h.handle(
            h.vote(id, "approve", by: "manager@corp.com", arguments: #"{"amount":40000,"to":"ACME"}"#)
        )
        let voted = try #require(edit.notices("voted").first)
        #expect(voted.json["denials"]?.arrayValue?.compactMap(\.stringValue) == ["compliance@corp.com"])
        #expect(voted.json["superseded"]?.arrayValue?.isEmpty == true)
        // The denier cannot vote again; a second denial decides.
        #expect(
            try h.handle(h.vote(id, "deny", by: "compliance@corp.com", comment: "still no")).reply?.bool("accepted")
                == false
        )
        let out = try h.handle(h.vote(id, "deny", by: "cfo@corp.com", comment: "agreed"))
        let final = try #require(out.replies(to: "agent-replies").first)
        #expect(final.decision == "deny")
        #expect(final.json["votes"]?.arrayValue?.first?["superseded"] == nil, "a denial is never marked superseded")
    }

    @Test("an editor who voted in this round may still edit, and their earlier vote is superseded")
    func voterEdits() throws {
        let h = try GateHarness(policy: editPolicyYAML)
        let id = try parkTransfer(h, amount: 50000)
        _ = try h.handle(h.vote(id, "approve", by: "manager@corp.com"))
        let edit = try h.handle(
            h.vote(id, "approve", by: "manager@corp.com", arguments: #"{"amount":30000,"to":"ACME"}"#)
        )
        #expect(edit.replies(to: "bot-replies").first?.bool("accepted") == true)
        let voted = try #require(edit.notices("voted").first)
        #expect(voted.json["approvals"]?.arrayValue?.compactMap(\.stringValue) == ["manager@corp.com"])
        #expect(voted.json["superseded"]?.arrayValue?.isEmpty == true)
    }

    @Test("a request parked before call contexts were stored cannot be edited, only approved or denied as it is")
    func oldEscalation() throws {
        let h = try GateHarness(policy: editPolicyYAML)
        let id = try parkTransfer(h, amount: 5000)
        try h.store.db.execute("UPDATE escalations SET call_context = NULL WHERE request_id = '\(id)'")
        let out = try h.handle(h.vote(id, "approve", by: "manager@corp.com", arguments: #"{"amount":10,"to":"ACME"}"#))
        #expect(out.replies(to: "bot-replies").first?.string("error")?.contains("cannot be evaluated") == true)
        let plain = try h.handle(h.vote(id, "approve", by: "manager@corp.com"))
        #expect(plain.replies(to: "agent-replies").first?.decision == "allow")
    }
}
