// Escalations end to end over a real RabbitMQ: people vote with identities the broker vouches
// for, quorums, deadlines, crashes between commit and publish, and the audit trail.
import Foundation
import Testing
import TollgateAMQP
import TollgateJSON

/// Rules with Tollgate's escalation block (a 2-of-3 quorum, short deadlines).
let quorumPolicyText = """
    version: "1.0"
    name: payments
    rules:
      - name: big-transfer
        condition:
          all:
            - {field: tool_name, operator: eq, value: transfer_funds}
            - {field: arguments.amount, operator: gte, value: 10000}
        action: escalate
        priority: 100
        message: "Transfers of 10,000 or more need two of three approvers"
        escalation:
          approvers: [manager@corp.com, cfo@corp.com, compliance@corp.com]
          required_approvals: 2
          required_denials: 1
          timeout_seconds: 60
      - name: small-transfer
        condition: {field: tool_name, operator: eq, value: transfer_funds}
        action: allow
        priority: 90
      - name: mail-quick-deadline
        condition: {field: tool_name, operator: eq, value: send_email}
        action: escalate
        escalation: {timeout_seconds: 2}
      - name: logs-lenient-deadline
        condition: {field: tool_name, operator: eq, value: read_logs}
        action: escalate
        escalation: {timeout_seconds: 2, timeout_action: allow}
    defaults:
      action: deny
    """

@Suite("Escalations", .serialized)
struct EscalationTests {
    /// A worker with the quorum policy, and the clients of the story.
    final class Fixture {
        let scratch: Scratch
        let worker: WorkerProcess
        let agent: TestClient
        init(policyText: String? = nil, policies: [String]? = nil, arguments: [String] = []) throws {
            scratch = try Scratch()
            let paths = try policies ?? [scratch.write("policy.yaml", policyText ?? quorumPolicyText)]
            worker = WorkerProcess(
                scratch: scratch,
                policies: paths,
                arguments: ["--trusted-gateway", "tollgate-gateway"] + arguments
            )
            try worker.start()
            agent = try TestClient(user: "finance-agent")
            try agent.observe(worker.topology.escalations, label: "notices")
            try agent.observe(worker.topology.decisions, label: "decisions")
        }

        var prefix: String { worker.prefix }

        /// Parks a call and returns (correlation id, request id).
        func park(
            tool: String,
            arguments: String? = nil,
            messageID: String? = UUID().uuidString
        ) throws -> (String, String) {
            let id = try agent.call(prefix: prefix, tool: tool, arguments: arguments, messageID: messageID)
            let pending = try agent.reply(to: id)
            #expect(pending.string("decision") == "pending", "\(tool): \(pending.json)")
            return (id, try #require(pending.string("request_id")))
        }

        func audit() throws -> [JSONValue] {
            try runTollgate(["audit", "export", "--db", worker.databasePath]).output.split(separator: "\n").compactMap {
                try? JSONValue.parse(String($0))
            }
        }

        deinit {
            agent.close()
            worker.kill()
        }
    }

    /// A voter connected as `user`.
    func voter(_ user: String) throws -> TestClient { try TestClient(user: user) }

    @Test("chapter 5 end to end: approve, deny, timeout, all in a verified audit trail")
    func chapterFive() throws {
        let f = try Fixture(policies: [seedPolicy], arguments: ["--escalation-timeout", "2"])
        let calls = try ["search_documents", "write_file", "delete_database"].map {
            try f.agent.call(prefix: f.prefix, tool: $0)
        }
        #expect(try calls.map { try f.agent.reply(to: $0).string("decision") } == ["allow", "allow", "deny"])
        let (transfer, transferID) = try f.park(
            tool: "transfer_funds",
            arguments: #"{"amount": 5000, "to": "vendor-123"}"#
        )
        let (mail, mailID) = try f.park(tool: "send_email", arguments: #"{"recipients": 10000}"#)
        let (late, lateID) = try f.park(tool: "transfer_funds", arguments: #"{"amount": 7}"#)

        // The bots were told, with the call's arguments and where to vote.
        let notices = try f.agent.await("notices", count: 3)
        let notice = try #require(notices.first { $0.string("request_id") == transferID })
        #expect(notice["arguments"]?["amount"] == .int(5000))
        #expect(notice["approve_via"]?["routing_key"]?.stringValue == "w1")

        let manager = try voter("manager@corp.com")
        let compliance = try voter("compliance@corp.com")
        defer {
            manager.close()
            compliance.close()
        }
        let approval = try manager.vote(
            prefix: f.prefix,
            requestID: transferID,
            decision: "approve",
            comment: "vendor verified"
        )
        #expect(
            try manager.reply(to: approval).json == [
                "request_id": .string(transferID), "accepted": true, "status": "allow",
            ]
        )
        let denial = try compliance.vote(prefix: f.prefix, requestID: mailID, decision: "deny")
        #expect(try compliance.reply(to: denial)["status"]?.stringValue == "deny")

        let allowed = try f.agent.finalDecision(to: transfer)
        #expect(allowed.string("decision") == "allow")
        #expect(allowed.string("resolution") == "approved")
        #expect(allowed["approvers"] == ["manager@corp.com"])
        #expect(allowed.string("request_id") == transferID)
        #expect(allowed.string("reason") == "approved by manager@corp.com: vendor verified")
        let denied = try f.agent.finalDecision(to: mail)
        #expect(denied.string("decision") == "deny")
        #expect(denied.string("resolution") == "denied")
        #expect(denied["approvers"] == ["compliance@corp.com"])
        // Nobody answers the third: the clock decides, deny by default.
        let timedOut = try f.agent.finalDecision(to: late, timeout: .seconds(10))
        #expect(timedOut.string("decision") == "deny")
        #expect(timedOut.string("resolution") == "timeout")
        #expect(timedOut["approvers"] == [])
        #expect(timedOut.string("request_id") == lateID)

        // Bots see the outcome; observers see every final decision.
        let resolved = try f.agent.await("notices", count: 6).filter { $0.delivery.routingKey.hasPrefix("resolved.") }
        #expect(Set(resolved.compactMap { $0.string("request_id") }) == [transferID, mailID, lateID])
        let feed = try f.agent.await("decisions", count: 6)
        #expect(
            feed.map(\.delivery.routingKey).sorted() == [
                "allow.search_documents", "allow.transfer_funds", "allow.write_file", "deny.delete_database",
                "deny.send_email", "deny.transfer_funds",
            ]
        )

        // Every step is in the trail, and the trail verifies.
        let audit = try f.audit()
        func entries(_ request: String) -> [String] {
            audit.filter { $0["request_id"]?.stringValue == request }.map {
                "\($0["kind"]?.stringValue ?? "")/\($0["decision"]?.stringValue ?? "-")/\($0["voter"]?.stringValue ?? "-")"
            }
        }
        #expect(
            entries(transferID) == [
                "escalated/pending/-", "vote/approve/manager@corp.com", "decision/allow/manager@corp.com",
            ]
        )
        #expect(
            entries(mailID) == [
                "escalated/pending/-", "vote/deny/compliance@corp.com", "decision/deny/compliance@corp.com",
            ]
        )
        #expect(entries(lateID) == ["escalated/pending/-", "decision/deny/-"])
        #expect(audit.count == 3 + 3 + 3 + 2)
        let verify = try runTollgate(["audit", "verify", "--db", f.worker.databasePath])
        #expect(verify.status == 0)
        #expect(verify.output.hasPrefix("OK: 11 entries"))
    }

    @Test("a deadline with timeout_action allow decides allow")
    func timeoutAllow() throws {
        let f = try Fixture()
        let (call, _) = try f.park(tool: "read_logs")
        let final = try f.agent.finalDecision(to: call, timeout: .seconds(10))
        #expect(final.string("decision") == "allow")
        #expect(final.string("resolution") == "timeout")
    }

    @Test("2-of-3 quorum: one approval waits, the second decides; one denial decides deny")
    func quorum() throws {
        let f = try Fixture()
        let (call, requestID) = try f.park(tool: "transfer_funds", arguments: #"{"amount": 25000}"#)
        let notice = try #require(f.agent.await("notices", count: 1).first)
        #expect(
            notice["quorum"] == [
                "required_approvals": 2, "required_denials": 1, "require_comment": "never", "max_grant_seconds": 0,
                "approvers": ["manager@corp.com", "cfo@corp.com", "compliance@corp.com"],
            ]
        )

        let manager = try voter("manager@corp.com")
        let cfo = try voter("cfo@corp.com")
        defer {
            manager.close()
            cfo.close()
        }
        let first = try manager.vote(prefix: f.prefix, requestID: requestID, decision: "approve")
        #expect(try manager.reply(to: first)["status"]?.stringValue == "pending")
        try f.agent.drain(for: .milliseconds(300))
        #expect(f.agent.messages(correlation: call).count == 1, "no final decision after one approval")
        let second = try cfo.vote(prefix: f.prefix, requestID: requestID, decision: "approve")
        #expect(try cfo.reply(to: second)["status"]?.stringValue == "allow")
        let final = try f.agent.finalDecision(to: call)
        #expect(final.string("decision") == "allow")
        #expect(final["approvers"] == ["manager@corp.com", "cfo@corp.com"])

        // Below the threshold the policy allows at once; a single denial is enough to deny.
        let small = try f.agent.call(prefix: f.prefix, tool: "transfer_funds", arguments: #"{"amount": 50}"#)
        #expect(try f.agent.reply(to: small).string("decision") == "allow")
        let (other, otherID) = try f.park(tool: "transfer_funds", arguments: #"{"amount": 99999}"#)
        let compliance = try voter("compliance@corp.com")
        defer { compliance.close() }
        let no = try compliance.vote(
            prefix: f.prefix,
            requestID: otherID,
            decision: "deny",
            comment: "sanctioned vendor"
        )
        #expect(try compliance.reply(to: no)["status"]?.stringValue == "deny")
        let denied = try f.agent.finalDecision(to: other)
        #expect(denied.string("decision") == "deny")
        #expect(denied.string("reason") == "denied by compliance@corp.com: sanctioned vendor")
    }

    @Test("votes that must not count are rejected, change nothing, are audited and answered")
    func rejectedVotes() throws {
        let f = try Fixture()
        let (call, requestID) = try f.park(tool: "transfer_funds", arguments: #"{"amount": 20000}"#)
        let manager = try voter("manager@corp.com")
        let outsider = try voter("support-agent")
        let gateway = try voter("tollgate-gateway")
        defer {
            manager.close()
            outsider.close()
            gateway.close()
        }

        func expectRejected(
            _ client: TestClient,
            _ correlation: String,
            _ text: String,
            sourceLocation: SourceLocation = #_sourceLocation
        ) throws {
            let answer = try client.reply(to: correlation)
            #expect(answer["accepted"] == false, sourceLocation: sourceLocation)
            #expect(answer.string("error")?.contains(text) == true, "\(answer.json)", sourceLocation: sourceLocation)
        }
        // The requesting agent votes on its own request.
        try expectRejected(
            f.agent,
            try f.agent.vote(prefix: f.prefix, requestID: requestID, decision: "approve"),
            "finance-agent is the agent that made the request"
        )
        // Someone who is not an approver.
        try expectRejected(
            outsider,
            try outsider.vote(prefix: f.prefix, requestID: requestID, decision: "approve"),
            "support-agent is not an approver of this request"
        )
        // No user_id: nobody vouches for the voter.
        try expectRejected(
            manager,
            try manager.vote(prefix: f.prefix, requestID: requestID, decision: "approve", userID: .some(nil)),
            "vote has no user_id property"
        )
        // A forged approver field from a publisher that is not a trusted gateway is ignored: the
        // vote is support-agent's, who may not vote.
        try expectRejected(
            outsider,
            try outsider.vote(
                prefix: f.prefix,
                requestID: requestID,
                decision: "approve",
                approver: "manager@corp.com"
            ),
            "support-agent is not an approver"
        )
        // Unknown request, malformed vote.
        try expectRejected(
            manager,
            try manager.vote(
                prefix: f.prefix,
                requestID: "w1-00000000-0000-4000-8000-000000000000",
                decision: "approve"
            ),
            "is not held by worker w1"
        )
        try expectRejected(
            manager,
            try manager.vote(prefix: f.prefix, requestID: requestID, decision: "maybe"),
            "decision must be"
        )
        // RabbitMQ itself refuses a user_id that is not the publisher's login.
        #expect(throws: AMQPError.self) {
            try outsider.vote(
                prefix: f.prefix,
                requestID: requestID,
                decision: "approve",
                userID: .some("manager@corp.com")
            )
        }

        // Still pending after all that.
        let pending = try runTollgate(["pending", "--db", f.worker.databasePath, "--json"])
        #expect(pending.output.contains(requestID))

        // A counted vote, then the same voter again: once only.
        #expect(
            try manager.reply(to: manager.vote(prefix: f.prefix, requestID: requestID, decision: "approve"))["accepted"]
                == true
        )
        try expectRejected(
            manager,
            try manager.vote(prefix: f.prefix, requestID: requestID, decision: "approve"),
            "manager@corp.com has already voted"
        )
        // A trusted gateway names the person: counted as cfo@corp.com, deciding the quorum.
        let viaGateway = try gateway.vote(
            prefix: f.prefix,
            requestID: requestID,
            decision: "approve",
            approver: "cfo@corp.com"
        )
        #expect(try gateway.reply(to: viaGateway)["status"]?.stringValue == "allow")
        #expect(try f.agent.finalDecision(to: call)["approvers"] == ["manager@corp.com", "cfo@corp.com"])
        // After the decision.
        try expectRejected(
            manager,
            try manager.vote(prefix: f.prefix, requestID: requestID, decision: "deny"),
            "is already decided: allow"
        )

        let votes = try f.audit().filter { $0["kind"]?.stringValue == "vote" }
        #expect(votes.filter { $0["accepted"] == false }.count == 8)
        #expect(
            votes.filter { $0["accepted"] == true }.compactMap { $0["voter"]?.stringValue } == [
                "manager@corp.com", "cfo@corp.com",
            ]
        )
        let gatewayVote = try #require(votes.last { $0["accepted"] == true })
        #expect(gatewayVote["detail"]?.stringValue == "via trusted gateway tollgate-gateway")
        let forged = try #require(
            votes.first {
                $0["detail"]?.stringValue?.contains("approver field") == true
                    || $0["detail"]?.stringValue?.contains("not an approver") == true
                        && $0["voter"]?.stringValue == "support-agent"
            }
        )
        #expect(forged["accepted"] == false)
    }

    @Test("a vote published while the worker is down is applied when it starts")
    func voteWhileDown() throws {
        let f = try Fixture()
        let (call, requestID) = try f.park(tool: "transfer_funds", arguments: #"{"amount": 10000}"#)
        #expect(f.worker.terminate() == 0)
        let manager = try voter("manager@corp.com")
        let cfo = try voter("cfo@corp.com")
        defer {
            manager.close()
            cfo.close()
        }
        try manager.vote(prefix: f.prefix, requestID: requestID, decision: "approve")
        try cfo.vote(prefix: f.prefix, requestID: requestID, decision: "approve")
        try f.worker.start()
        let final = try f.agent.finalDecision(to: call)
        #expect(final.string("decision") == "allow")
        #expect(final.string("resolution") == "approved")
    }

    @Test("a deadline that passes while the worker is down is decided when it is back")
    func deadlineWhileDown() throws {
        let f = try Fixture()
        let (call, requestID) = try f.park(tool: "send_email")
        #expect(f.worker.terminate() == 0)
        Thread.sleep(forTimeInterval: 2.5)
        try f.worker.start()
        let final = try f.agent.finalDecision(to: call, timeout: .seconds(5))
        #expect(final.string("decision") == "deny")
        #expect(final.string("resolution") == "timeout")
        #expect(final.string("request_id") == requestID)
    }

    @Test("killed between committing an escalation and publishing it: nothing lost, nothing decided twice")
    func crashAfterParking() throws {
        let f = try Fixture()
        f.worker.kill()
        try f.worker.start(extraEnvironment: ["TOLLGATE_FAULT": "after-commit:1"])
        let call = try f.agent.call(
            prefix: f.prefix,
            tool: "transfer_funds",
            arguments: #"{"amount": 12345}"#,
            messageID: "park-once"
        )
        // The worker committed the escalation and died before publishing anything.
        #expect(f.worker.waitForExit() == 86)
        try f.agent.drain(for: .milliseconds(200))
        #expect(f.agent.messages(correlation: call).isEmpty, "nothing was published before the crash")
        try f.worker.start()
        // The outbox and the redelivered call both answer pending, identically; one notice per publish.
        let pending = try f.agent.reply(to: call)
        #expect(pending.string("decision") == "pending")
        let requestID = try #require(pending.string("request_id"))
        try f.agent.drain(for: .milliseconds(500))
        #expect(Set(f.agent.messages(correlation: call).map(\.delivery.body)).count == 1)
        #expect(
            try runTollgate(["pending", "--db", f.worker.databasePath, "--json"]).output.split(separator: "\n").count
                == 1
        )
        #expect(f.agent.messages("notices").allSatisfy { $0.string("request_id") == requestID })
        #expect(!f.agent.messages("notices").isEmpty)

        // Now crash between committing the deciding vote and publishing the decision.
        f.worker.kill()
        try f.worker.start(extraEnvironment: ["TOLLGATE_FAULT": "after-commit:2"])
        let manager = try voter("manager@corp.com")
        let cfo = try voter("cfo@corp.com")
        defer {
            manager.close()
            cfo.close()
        }
        let v1 = try manager.vote(prefix: f.prefix, requestID: requestID, decision: "approve")
        #expect(try manager.reply(to: v1)["status"]?.stringValue == "pending")
        let v2 = try cfo.vote(prefix: f.prefix, requestID: requestID, decision: "approve")
        #expect(f.worker.waitForExit() == 86)
        try f.worker.start()
        let final = try f.agent.finalDecision(to: call)
        #expect(final.string("decision") == "allow")
        // The redelivered vote gets the answer it had, not "already voted".
        #expect(try cfo.reply(to: v2)["status"]?.stringValue == "allow")
        try f.agent.drain(for: .milliseconds(500))
        let finals = f.agent.messages(correlation: call).filter { $0["final"] == true }
        #expect(Set(finals.map(\.delivery.body)).count == 1, "one final decision, maybe repeated identically")
        let audit = try f.audit().filter { $0["request_id"]?.stringValue == requestID }
        #expect(audit.map { $0["kind"]?.stringValue ?? "" } == ["escalated", "vote", "vote", "decision"])
        #expect(try runTollgate(["audit", "verify", "--db", f.worker.databasePath]).status == 0)
    }

    @Test("an escalated call holds budget while it waits and gives it back when denied")
    func budgetWithEscalations() throws {
        let f = try Fixture(
            policyText: """
                version: "1.0"
                name: budgeted
                rules:
                  - name: ask
                    condition: {field: tool_name, operator: eq, value: send_email}
                    action: escalate
                defaults:
                  action: allow
                  max_tool_calls: 1
                """
        )
        let (mail, requestID) = try f.park(tool: "send_email")
        let blocked = try f.agent.call(prefix: f.prefix, tool: "search_documents")
        #expect(try f.agent.reply(to: blocked).string("resolution") == "limit")
        let compliance = try voter("compliance@corp.com")
        defer { compliance.close() }
        try compliance.vote(prefix: f.prefix, requestID: requestID, decision: "deny")
        #expect(try f.agent.finalDecision(to: mail).string("decision") == "deny")
        let after = try f.agent.call(prefix: f.prefix, tool: "search_documents")
        #expect(try f.agent.reply(to: after).string("decision") == "allow")
    }

    @Test("tollgate call, pending, approve and deny play the agent and the approvers")
    func commandLine() throws {
        let f = try Fixture(policies: [seedPolicy])
        let url = { (user: String) in
            "amqp://\(user.replacingOccurrences(of: "@", with: "%40")):\(Broker.testPassword)@\(Broker.url.host):\(Broker.url.port)/"
        }
        let allowed = try runTollgate([
            "call", "--prefix", f.prefix, "--agent", "finance-agent", "--tool", "search_documents",
        ])
        #expect(allowed.status == 0)
        #expect(allowed.output.contains("allow  Safe action: searching documents is always allowed"))
        let denied = try runTollgate([
            "call", "--prefix", f.prefix, "--agent", "finance-agent", "--tool", "delete_database",
        ])
        #expect(denied.status == 1)
        let pending = try runTollgate([
            "call", "--prefix", f.prefix, "--agent", "finance-agent", "--tool", "transfer_funds", "--arguments",
            #"{"amount": 5000}"#,
        ])
        #expect(pending.status == 3, "still pending: \(pending.output)")
        let list = try runTollgate(["pending", "--db", f.worker.databasePath])
        #expect(list.output.contains(#"{"amount":5000}"#))
        #expect(list.output.contains("1 pending"))
        let requestID = try #require(
            list.output.split(separator: "\n").dropFirst().first?.split(separator: " ").first.map(String.init)
        )

        let notAllowed = try runTollgate(["deny", requestID, "--prefix", f.prefix, "--amqp-url", url("finance-agent")])
        #expect(notAllowed.status == 1)
        #expect(notAllowed.output.contains("rejected: finance-agent is the agent that made the request"))
        let vote = try runTollgate([
            "approve", requestID, "--comment", "vendor verified", "--prefix", f.prefix, "--amqp-url",
            url("manager@corp.com"),
        ])
        #expect(vote.status == 0, "\(vote.output)")
        #expect(vote.output.contains("accepted: manager@corp.com voted approve on \(requestID); request is now allow"))
        #expect(try runTollgate(["pending", "--db", f.worker.databasePath]).output.contains("no pending requests"))
        let bad = try runTollgate(["approve", "not-a-request-id", "--prefix", f.prefix])
        #expect(bad.status == 2)
        #expect(bad.output.contains("is not a Tollgate request id"))
        let unroutable = try runTollgate(["approve", "w9-\(UUID().uuidString.lowercased())", "--prefix", f.prefix])
        #expect(unroutable.status == 2)
        #expect(unroutable.output.contains("could not route"), "\(unroutable.output)")
    }

    @Test("audit verify names the entry that was edited in the database")
    func tamperedAudit() throws {
        let f = try Fixture(policies: [seedPolicy])
        for tool in ["search_documents", "delete_database", "write_file", "search_documents"] {
            _ = try f.agent.reply(to: f.agent.call(prefix: f.prefix, tool: tool))
        }
        #expect(f.worker.terminate() == 0)
        #expect(try runTollgate(["audit", "verify", "--db", f.worker.databasePath]).status == 0)
        _ = try sqlite(f.worker.databasePath, "UPDATE audit SET decision = 'allow' WHERE seq = 2")
        let result = try runTollgate(["audit", "verify", "--db", f.worker.databasePath])
        #expect(result.status == 1)
        #expect(result.output.contains("TAMPERED: entry 2 was edited"), "\(result.output)")
    }
}
