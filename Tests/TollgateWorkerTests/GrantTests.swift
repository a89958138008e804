// Standing grants: an approval with `grant` lets the same agent call the same tool under the
// same rule without asking, in scope and until it expires, is revoked, or the policy changes.
import Foundation
import Testing
import TollgateJSON

@testable import TollgateStore
@testable import TollgateWorker

let grantPolicyYAML = """
    version: "1.0"
    name: grant-policy
    rules:
      - name: no-huge-transfers
        condition: {all: [{field: tool_name, operator: eq, value: transfer_funds}, {field: arguments.amount, operator: gt, value: 100000}]}
        action: deny
        priority: 100
        message: "Transfers over 100000 are never allowed"
      - name: transfer
        condition: {field: tool_name, operator: eq, value: transfer_funds}
        action: escalate
        priority: 80
        message: "Transfers need an approver"
        escalation: {approvers: [manager@corp.com, cfo@corp.com], timeout_seconds: 60, max_grant_seconds: 3600}
      - name: two-person-wire
        condition: {field: tool_name, operator: eq, value: wire_abroad}
        action: escalate
        priority: 70
        escalation: {approvers: [manager@corp.com, cfo@corp.com], required_approvals: 2, timeout_seconds: 60, max_grant_seconds: 3600}
      - name: email
        condition: {field: tool_name, operator: eq, value: send_email}
        action: escalate
        priority: 60
        escalation: {timeout_seconds: 60}
    defaults:
      action: allow
      max_tool_calls: 5
    """

@Suite("Decision core: standing grants")
struct GrantTests {
    let session1 = #"{"session_id":"s1"}"#

    /// Parks a transfer in session s1 and approves it with `grant`; returns the grant id.
    private func grantedTransfer(
        _ h: GateHarness,
        grant: String = #"{"scope":"session","ttl_seconds":600}"#
    )
        throws -> String
    {
        let id = try h.park(tool: "transfer_funds", arguments: #"{"amount":100}"#, context: session1)
        let out = try h.handle(h.vote(id, "approve", by: "manager@corp.com", comment: "ok for today", grant: grant))
        let answer = try #require(out.replies(to: "bot-replies").first)
        #expect(answer.bool("accepted") == true, "\(answer.json)")
        let final = try #require(out.replies(to: "agent-replies").first)
        #expect(final.decision == "allow")
        let grantID = try #require(final.json["grant"]?["grant_id"]?.stringValue)
        #expect(answer.string("grant_id") == grantID)
        return grantID
    }

    @Test("a grant allows the same agent's next calls of the tool in the session, with its id and approver")
    func grantUsed() throws {
        let h = try GateHarness(policy: grantPolicyYAML)
        let grantID = try grantedTransfer(h)
        #expect(grantID.hasPrefix("grant-w1-") && workerID(ofGrant: grantID) == "w1")
        h.advance(seconds: 10)
        let out = try h.handle(
            h.call(tool: "transfer_funds", arguments: #"{"amount":250}"#, context: session1)
        )
        let decision = try #require(out.reply)
        #expect(decision.decision == "allow")
        #expect(decision.resolution == "grant")
        #expect(decision.bool("final") == true)
        #expect(decision.string("rule") == "transfer")
        #expect(decision.json["grant"]?["grant_id"]?.stringValue == grantID)
        #expect(decision.json["grant"]?["scope"]?.stringValue == "session")
        #expect(decision.json["approvers"]?.arrayValue?.compactMap(\.stringValue) == ["manager@corp.com"])
        #expect(
            decision.string("reason")?.hasPrefix("allowed by standing grant \(grantID) of manager@corp.com") == true
        )
        #expect(out.notices("pending").isEmpty, "nobody is asked")
        #expect(out.feed.first?.string("resolution") == "grant")
        // The audit trail has the grant and the decision it allowed, with the approver.
        var audit: [AuditRecord] = []
        try h.store.forEachAudit { audit.append($0) }
        #expect(audit.contains { $0.kind == .grant && $0.decision == "made" && $0.detail?.contains(grantID) == true })
        let allowed = try #require(audit.last)
        #expect(allowed.resolution == "grant" && allowed.voter == "manager@corp.com")
        #expect(allowed.detail?.contains(grantID) == true)
        #expect(h.gate.counters.granted == 1 && h.gate.counters.grantsMade == 1)
    }

    @Test(
        "out of scope: another session, another agent, another tool, after expiry; an agent grant covers every session",
        arguments: [
            ("other session", "finance-agent", "transfer_funds", #"{"session_id":"s2"}"#, 0, false),
            ("no session", "finance-agent", "transfer_funds", nil, 0, false),
            ("other agent", "support-agent", "transfer_funds", #"{"session_id":"s1"}"#, 0, false),
            ("other tool", "finance-agent", "send_email", #"{"session_id":"s1"}"#, 0, false),
            ("just before expiry", "finance-agent", "transfer_funds", #"{"session_id":"s1"}"#, 599, true),
            ("at expiry", "finance-agent", "transfer_funds", #"{"session_id":"s1"}"#, 600, false),
        ] as [(String, String, String, String?, Int, Bool)]
    )
    func scope(_ what: String, agent: String, tool: String, context: String?, after: Int, covered: Bool) throws {
        let h = try GateHarness(policy: grantPolicyYAML)
        _ = try grantedTransfer(h)
        h.advance(seconds: after)
        let out = try h.handle(h.call(agent: agent, tool: tool, context: context))
        #expect(
            out.reply?.decision == (covered ? "allow" : "pending"),
            "\(what): \(String(describing: out.reply?.json))"
        )
    }

    @Test("an agent grant covers the agent's calls in any session, and none of another agent")
    func agentScope() throws {
        let h = try GateHarness(policy: grantPolicyYAML)
        _ = try grantedTransfer(h, grant: #"{"scope":"agent","ttl_seconds":600}"#)
        for context in [#"{"session_id":"s2"}"#, nil] {
            #expect(try h.handle(h.call(tool: "transfer_funds", context: context)).reply?.resolution == "grant")
        }
        #expect(try h.handle(h.call(agent: "support-agent", tool: "transfer_funds")).reply?.decision == "pending")
    }

    @Test("a grant never overrides a deny: a call the policy denies stays denied")
    func neverOverDeny() throws {
        let h = try GateHarness(policy: grantPolicyYAML)
        _ = try grantedTransfer(h, grant: #"{"scope":"agent","ttl_seconds":600}"#)
        let out = try h.handle(h.call(tool: "transfer_funds", arguments: #"{"amount":500000}"#, context: session1))
        #expect(out.reply?.decision == "deny" && out.reply?.string("rule") == "no-huge-transfers")
    }

    @Test("budgets still apply to calls a grant allows")
    func budgets() throws {
        let h = try GateHarness(policy: grantPolicyYAML)
        _ = try grantedTransfer(h)  // 1 of 5
        var resolutions: [String?] = []
        for _ in 0..<5 {
            resolutions.append(try h.handle(h.call(tool: "transfer_funds", context: session1)).reply?.resolution)
        }
        #expect(resolutions == ["grant", "grant", "grant", "grant", "limit"])
    }

    @Test("a revoked grant allows nothing more; only an approver of its rule may revoke, once")
    func revoked() throws {
        let h = try GateHarness(policy: grantPolicyYAML)
        let grantID = try grantedTransfer(h)
        let byAgent = try h.handle(h.revoke(grantID, by: "finance-agent"))
        #expect(byAgent.reply?.bool("revoked") == false)
        #expect(byAgent.reply?.string("error")?.contains("is the agent the grant is for") == true)
        let byStranger = try h.handle(h.revoke(grantID, by: "intern@corp.com"))
        #expect(
            byStranger.reply?.string("error")?.contains("intern@corp.com is not an approver of rule transfer") == true
        )
        let unknown = try h.handle(h.revoke("grant-w1-nothing", by: "cfo@corp.com"))
        #expect(unknown.reply?.string("error")?.contains("is not held by worker w1") == true)
        let noUser = try h.handle(h.revoke(grantID, by: nil))
        #expect(noUser.reply?.string("error")?.contains("no user_id") == true)
        #expect(try h.handle(h.call(tool: "transfer_funds", context: session1)).reply?.resolution == "grant")

        // Another approver of the rule may end it.
        let revocation = h.revoke(grantID, by: "cfo@corp.com", comment: "session over", messageID: "rev-1")
        let ok = try h.handle(revocation)
        #expect(ok.reply?.json == ["grant_id": .string(grantID), "revoked": true])
        #expect(try h.handle(h.call(tool: "transfer_funds", context: session1)).reply?.decision == "pending")
        // The same message again gets the same answer; a new one is refused.
        #expect(try h.handle(revocation).reply?.bool("revoked") == true)
        let again = try h.handle(h.revoke(grantID, by: "manager@corp.com"))
        #expect(again.reply?.string("error")?.contains("was already revoked") == true)
        let stored = try #require(try h.store.grant(id: grantID))
        #expect(stored.revokedBy == "cfo@corp.com" && stored.revokedAt == h.now)
        var audit: [AuditRecord] = []
        try h.store.forEachAudit { audit.append($0) }
        #expect(
            audit.contains {
                $0.kind == .grant && $0.decision == "revoke" && $0.accepted == true
                    && $0.detail?.contains("session over") == true
            }
        )
        #expect(audit.filter { $0.kind == .grant && $0.decision == "revoke" && $0.accepted == false }.count == 5)
    }

    @Test("a policy reload (a new policy version) ends the grants made under the old one")
    func policyReload() throws {
        let h = try GateHarness(policy: grantPolicyYAML)
        _ = try grantedTransfer(h)
        #expect(try h.handle(h.call(tool: "transfer_funds", context: session1)).reply?.resolution == "grant")
        let path = h.directory.appendingPathComponent("policy.yaml").path
        try (grantPolicyYAML.replacingOccurrences(of: "Transfers need an approver", with: "Transfers need a person"))
            .write(toFile: path, atomically: true, encoding: .utf8)
        h.gate.policy = try LoadedPolicy.load(paths: [path])
        #expect(try h.handle(h.call(tool: "transfer_funds", context: session1)).reply?.decision == "pending")
        #expect(try h.store.grantsInForce(now: h.now, policyVersion: h.gate.policy.versionString).isEmpty)
        // The worker ends them at the reload; going back to the first files brings none back.
        #expect(try h.store.transaction { try h.gate.endGrantsOfOtherPolicies(now: h.now) } == 1)
        try grantPolicyYAML.write(toFile: path, atomically: true, encoding: .utf8)
        h.gate.policy = try LoadedPolicy.load(paths: [path])
        #expect(try h.handle(h.call(tool: "transfer_funds", context: session1)).reply?.decision == "pending")
        #expect(try h.store.grantsInForce(now: h.now).isEmpty)
    }

    @Test("a request parked under a policy version no longer in force makes no grant")
    func parkedUnderOldPolicy() throws {
        let h = try GateHarness(policy: grantPolicyYAML)
        let id = try h.park(tool: "transfer_funds", context: session1)
        let path = h.directory.appendingPathComponent("policy.yaml").path
        try (grantPolicyYAML + "\n# changed\n").write(toFile: path, atomically: true, encoding: .utf8)
        h.gate.policy = try LoadedPolicy.load(paths: [path])
        let out = try h.handle(
            h.vote(id, "approve", by: "manager@corp.com", grant: #"{"scope":"session","ttl_seconds":60}"#)
        )
        #expect(out.replies(to: "agent-replies").first?.decision == "allow")
        #expect(out.replies(to: "agent-replies").first?.json["grant"] == nil)
        #expect(try h.store.grant(requestID: id) == nil)
    }

    @Test(
        "grant requests the rule cannot honour are refused with the reason",
        arguments: [
            ("send_email", #"{"scope":"agent","ttl_seconds":60}"#, "rule email does not allow standing grants"),
            (
                "transfer_funds", #"{"scope":"session","ttl_seconds":7200}"#,
                "a grant of 7200 s is longer than rule transfer allows (escalation.max_grant_seconds: 3600)"
            ),
        ]
    )
    func refusedGrants(tool: String, grant: String, error: String) throws {
        let h = try GateHarness(policy: grantPolicyYAML)
        let id = try h.park(tool: tool, context: session1)
        let voter = tool == "send_email" ? "compliance@corp.com" : "manager@corp.com"
        let out = try h.handle(h.vote(id, "approve", by: voter, grant: grant))
        #expect(out.reply?.bool("accepted") == false)
        #expect(out.reply?.string("error")?.contains(error) == true, "\(String(describing: out.reply?.json))")
        #expect(try h.store.votes(requestID: id).isEmpty)
    }

    @Test("a session grant for a call without a session is refused; malformed grants are dead-lettered")
    func malformedGrants() throws {
        let h = try GateHarness(policy: grantPolicyYAML)
        let id = try h.park(tool: "transfer_funds")
        let noSession = try h.handle(
            h.vote(id, "approve", by: "manager@corp.com", grant: #"{"scope":"session","ttl_seconds":60}"#)
        )
        #expect(noSession.reply?.string("error")?.contains("has no context.session_id") == true)
        for (grant, decision, error) in [
            (#"{"scope":"team","ttl_seconds":60}"#, "approve", "scope is missing or not session or agent"),
            (#"{"scope":"agent","ttl_seconds":0}"#, "approve", "ttl_seconds must be a whole number"),
            (#"{"scope":"agent","ttl_seconds":1.5}"#, "approve", "ttl_seconds must be a whole number"),
            (#"{"scope":"agent","ttl_seconds":60,"tools":"*"}"#, "approve", "unknown field tools"),
            (#"{"scope":"agent","ttl_seconds":60}"#, "deny", "may only come with decision approve"),
            (#""forever""#, "approve", "grant must be an object"),
        ] {
            let out = try h.handle(h.vote(id, decision, by: "manager@corp.com", comment: "x", grant: grant))
            #expect(out.deadLetters.count == 1, "\(grant)")
            #expect(
                out.reply?.string("error")?.contains(error) == true,
                "\(grant): \(String(describing: out.reply?.json))"
            )
        }
        // 3600.0 is a whole number of seconds.
        let whole = try h.handle(
            h.vote(id, "approve", by: "manager@corp.com", grant: #"{"scope":"agent","ttl_seconds":3600.0}"#)
        )
        #expect(whole.replies(to: "bot-replies").first?.bool("accepted") == true)
    }

    @Test("with a quorum the grant is made only when every deciding approval asked; the narrowest wins")
    func quorum() throws {
        let h = try GateHarness(policy: grantPolicyYAML)
        let partial = try h.park(tool: "wire_abroad", context: session1)
        _ = try h.handle(
            h.vote(partial, "approve", by: "manager@corp.com", grant: #"{"scope":"agent","ttl_seconds":600}"#)
        )
        let decided = try h.handle(h.vote(partial, "approve", by: "cfo@corp.com"))
        #expect(decided.replies(to: "agent-replies").first?.decision == "allow")
        #expect(decided.replies(to: "agent-replies").first?.json["grant"] == nil)
        #expect(try h.store.grant(requestID: partial) == nil)

        let both = try h.park(tool: "wire_abroad", context: session1)
        _ = try h.handle(
            h.vote(both, "approve", by: "manager@corp.com", grant: #"{"scope":"agent","ttl_seconds":600}"#)
        )
        let out = try h.handle(
            h.vote(both, "approve", by: "cfo@corp.com", grant: #"{"scope":"session","ttl_seconds":300}"#)
        )
        let grant = try #require(out.replies(to: "agent-replies").first?.json["grant"])
        #expect(grant["scope"]?.stringValue == "session" && grant["session_id"]?.stringValue == "s1")
        #expect(grant["approvers"]?.arrayValue?.compactMap(\.stringValue) == ["manager@corp.com", "cfo@corp.com"])
        #expect(grant["expires_at"]?.stringValue == isoTime(h.now + 300_000))
    }

    @Test("a denial or a timeout makes no grant")
    func noGrantWithoutApproval() throws {
        let h = try GateHarness(policy: grantPolicyYAML)
        let id = try h.park(tool: "wire_abroad", context: session1)
        _ = try h.handle(h.vote(id, "approve", by: "manager@corp.com", grant: #"{"scope":"agent","ttl_seconds":600}"#))
        h.advance(seconds: 61)
        _ = try h.deadlines()
        #expect(try h.store.grant(requestID: id) == nil)
        #expect(try h.handle(h.call(tool: "wire_abroad", context: session1)).reply?.decision == "pending")
    }
}
