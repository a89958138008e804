// `tollgate worker` against a real RabbitMQ: the seed's calls, malformed input, redelivery,
// budgets, SIGTERM, SIGHUP and SIGKILL. Each test runs its own worker process with its own
// topology prefix and database. Serialized: they start processes and measure nothing, but
// running them one at a time keeps a 2-core machine from starving the broker.
import Foundation
import Testing
import TollgateAMQP
import TollgateJSON

@Suite("Worker", .serialized)
struct WorkerTests {
    @Test(
        "the decision feed: by default one JSON Lines message per batch and routing key, with every decision once; --decision-feed each sends one message per decision, off none",
        arguments: ["batch", "each", "off"]
    )
    func decisionFeedForms(form: String) throws {
        let scratch = try Scratch()
        // batch: the default; each: the flag; off: the environment.
        let worker = WorkerProcess(
            scratch: scratch,
            policies: [seedPolicy],
            arguments: form == "each" ? ["--decision-feed", "each"] : [],
            environment: form == "off" ? ["TOLLGATE_DECISION_FEED": "off"] : [:]
        )
        // Calls queued while the worker is stopped reach it together: a batch.
        try worker.start()
        let agent = try TestClient()
        defer { agent.close() }
        try agent.observe(worker.topology.decisions, label: "feed")
        #expect(worker.terminate() == 0)
        var ids: Set<String> = []
        for n in 0..<30 {
            let tool = n % 3 == 2 ? "delete_database" : "search_documents"
            ids.insert(try agent.call(prefix: worker.prefix, agent: "agent-\(n % 5)", tool: tool))
        }
        try worker.start()
        let replies = try agent.awaitAll(ids)
        #expect(Set(replies.compactMap(\.correlationID)) == ids, "\(worker.log)")
        #expect(worker.log.contains("decision_feed=\(form)"), "the start-up line names the form")
        if form == "off" {
            try agent.drain(for: .seconds(1))
            #expect(agent.messages("feed").isEmpty)
            #expect(worker.terminate() == 0)
            return
        }
        let feed = try agent.awaitAll(ids, label: "feed")
        #expect(feed.count == 30, "every decision once")
        #expect(Set(feed.compactMap(\.correlationID)) == ids)
        for line in feed {
            #expect(line.delivery.routingKey == "\(line.string("decision") ?? "?").\(line.string("tool_name") ?? "?")")
            #expect(line.delivery.properties.deliveryMode == AMQPProperties.persistent)
        }
        let messages = agent.feedMessages["feed", default: 0]
        if form == "batch" {
            #expect(feed.allSatisfy { $0.delivery.properties.contentType == "application/x-ndjson" })
            #expect(messages >= 2 && messages < 30, "a batch's decisions share messages (\(messages) for 30)")
        } else {
            #expect(messages == 0)
            #expect(feed.allSatisfy { $0.delivery.properties.contentType == "application/json" })
        }
        #expect(worker.terminate() == 0)
    }

    @Test("a --decision-feed or TOLLGATE_DECISION_FEED that names no form stops the start with a clear error")
    func unknownDecisionFeed() throws {
        let scratch = try Scratch()
        let base = ["worker", "--policy", seedPolicy, "--db", scratch.path("w.db"), "--prefix", "tgfeed"]
        let flag = try runTollgate(base + ["--decision-feed", "every"])
        #expect(flag.status != 0)
        #expect(flag.output.contains("decision feed must be batch, each or off, not 'every'"), "\(flag.output)")
        let env = try runTollgate(base, environment: ["TOLLGATE_DECISION_FEED": "json"])
        #expect(env.status != 0)
        #expect(env.output.contains("decision feed must be batch, each or off, not 'json'"), "\(env.output)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path("w.db")), "nothing started")
    }

    @Test("a --heartbeat or TOLLGATE_HEARTBEAT outside 0 to 3600 seconds stops the start with a clear error")
    func badHeartbeat() throws {
        let scratch = try Scratch()
        let base = ["worker", "--policy", seedPolicy, "--db", scratch.path("w.db"), "--prefix", "tgbeat"]
        let flag = try runTollgate(base + ["--heartbeat", "5000"])
        #expect(flag.status != 0)
        #expect(flag.output.contains("heartbeat must be 0 to 3600 seconds, not 5000"), "\(flag.output)")
        let env = try runTollgate(base, environment: ["TOLLGATE_HEARTBEAT": "-1"])
        #expect(env.status != 0)
        #expect(env.output.contains("heartbeat must be 0 to 3600 seconds, not -1"), "\(env.output)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path("w.db")), "nothing started")
    }

    @Test("the seed's five calls get the seed's answers, and final ones reach the decision feed")
    func seedCalls() throws {
        let scratch = try Scratch()
        let worker = WorkerProcess(scratch: scratch, policies: [seedPolicy])
        try worker.start()
        let agent = try TestClient()
        defer { agent.close() }
        try agent.observe(worker.topology.decisions, label: "decisions")
        try agent.observe(worker.topology.escalations, key: "pending.*", label: "notices")

        let expected: [(tool: String, decision: String, rule: String?, reason: String)] = [
            (
                "search_documents", "allow", "allow-search-documents",
                "Safe action: searching documents is always allowed"
            ),
            ("write_file", "allow", nil, "No rules matched; default action applied"),
            (
                "delete_database", "deny", "block-delete-database",
                "Destructive action: deleting databases is never allowed"
            ),
            (
                "transfer_funds", "pending", "escalate-transfer-funds",
                "Sensitive action: transfer_funds requires human approval"
            ),
            ("send_email", "pending", "escalate-send-email", "Sensitive action: send_email requires human approval"),
        ]
        var ids: [String] = []
        for e in expected { ids.append(try agent.call(prefix: worker.prefix, tool: e.tool)) }
        for (id, e) in zip(ids, expected) {
            let reply = try agent.reply(to: id)
            #expect(reply.string("decision") == e.decision, "\(e.tool)")
            #expect(reply.string("rule") == e.rule, "\(e.tool)")
            #expect(reply.string("reason") == e.reason, "\(e.tool)")
            #expect(reply["final"]?.boolValue == (e.decision != "pending"))
            #expect(reply.string("resolution") == "policy")
            #expect(reply.string("agent_id") == "finance-agent")
            #expect(reply.string("tool_name") == e.tool)
            #expect(reply.string("correlation_id") == id)
            #expect(reply.string("request_id")?.hasPrefix("w1-") == true)
            #expect(reply.string("policy_version")?.hasPrefix("approval-workflow-policy@1.0#") == true)
            #expect(reply.delivery.properties.contentType == "application/json")
            #expect(reply.delivery.properties.deliveryMode == AMQPProperties.persistent)
            if e.decision == "pending" {
                #expect(reply.string("deadline") != nil)
            }
        }
        // Three final decisions on the feed, keyed <decision>.<tool>; two notices for bots.
        let feed = try agent.await("decisions", count: 3)
        #expect(
            Set(feed.map(\.delivery.routingKey)) == [
                "allow.search_documents", "allow.write_file", "deny.delete_database",
            ]
        )
        let notices = try agent.await("notices", count: 2)
        #expect(Set(notices.map(\.delivery.routingKey)) == ["pending.transfer_funds", "pending.send_email"])
        let notice = try #require(notices.first { $0.delivery.routingKey == "pending.transfer_funds" })
        #expect(notice["approve_via"]?["exchange"]?.stringValue == worker.topology.approvals)
        #expect(notice["approve_via"]?["routing_key"]?.stringValue == "w1")
        #expect(notice["quorum"]?["required_approvals"] == .int(1))
        #expect(notice["timeout_action"]?.stringValue == "deny")
        #expect(notice.string("message") == "Sensitive action: transfer_funds requires human approval")
        #expect(worker.terminate() == 0)
    }

    @Test("malformed messages are dead-lettered with the reason and answered while good calls keep flowing")
    func malformedInput() throws {
        let scratch = try Scratch()
        let worker = WorkerProcess(
            scratch: scratch,
            policies: [seedPolicy],
            arguments: ["--max-message-bytes", "2048"]
        )
        try worker.start()
        let agent = try TestClient()
        defer { agent.close() }
        try agent.observe(worker.topology.dead, key: "", label: "dead")
        let toolcalls = worker.topology.toolcalls

        let bad: [(name: String, body: [UInt8], reason: String)] = [
            ("not json", Array("hello".utf8), "body is not valid JSON"),
            ("array", Array("[1, 2]".utf8), "body is a JSON array, not an object"),
            ("invalid utf-8", [0x7B, 0x22, 0x61, 0xFF, 0x22, 0x3A, 0x31, 0x7D], "invalid UTF-8"),
            (
                "too large",
                Array(
                    (#"{"agent_id":"finance-agent","tool_name":"x","reason":""# + String(repeating: "a", count: 3000)
                        + "\"}").utf8
                ), "exceeds the limit of 2048 bytes"
            ),
            ("no agent", Array(#"{"tool_name":"search_documents"}"#.utf8), "agent_id is missing"),
            (
                "tool not a string", Array(#"{"agent_id":"finance-agent","tool_name":42}"#.utf8),
                "tool_name must be a string, not number"
            ),
            (
                "arguments not an object",
                Array(#"{"agent_id":"finance-agent","tool_name":"x","arguments":"amount=5"}"#.utf8),
                "arguments must be an object, not string"
            ),
            ("empty body", [], "body is not valid JSON"),
            (
                "deep nesting", Array((String(repeating: "[", count: 500) + String(repeating: "]", count: 500)).utf8),
                "body is not valid JSON"
            ),
        ]
        var good: [String] = []
        var badIDs: [(String, String)] = []
        for (i, b) in bad.enumerated() {
            let id = "bad-\(i)"
            try agent.publish(
                exchange: toolcalls,
                routingKey: "finance-agent",
                body: b.body,
                messageID: id,
                correlationID: id,
                replyTo: agent.replyQueue
            )
            badIDs.append((id, b.reason))
            good.append(try agent.call(prefix: worker.prefix, tool: "search_documents"))
        }
        for (id, reason) in badIDs {
            let reply = try agent.reply(to: id)
            #expect(reply.string("decision") == "deny", "\(id)")
            #expect(reply.string("resolution") == "invalid", "\(id)")
            #expect(reply["final"]?.boolValue == true)
            #expect(reply.string("reason")?.contains(reason) == true, "\(id): \(reply.string("reason") ?? "nil")")
        }
        for id in good {
            #expect(try agent.reply(to: id).string("decision") == "allow")
        }
        let dead = try agent.await("dead", count: bad.count)
        #expect(dead.count == bad.count)
        for (id, reason) in badIDs {
            let copy = try #require(dead.first { $0.delivery.properties.messageId == id }, "\(id) not dead-lettered")
            #expect(copy.header?["x-tollgate-error"]?.stringValue?.contains(reason) == true, "\(id)")
            #expect(copy.header?["x-tollgate-queue"]?.stringValue == "\(worker.prefix).toolcalls.w1")
            #expect(copy.delivery.properties.replyTo == agent.replyQueue)
        }
        // The original bodies are kept as they were.
        #expect(dead.first { $0.delivery.properties.messageId == "bad-2" }?.delivery.body == bad[2].body)
        #expect(worker.isRunning)
        // Every rejection is in the audit trail.
        let audit = try runTollgate(["audit", "export", "--db", worker.databasePath])
        #expect(audit.output.components(separatedBy: #""resolution":"invalid""#).count - 1 == bad.count)
        #expect(worker.terminate() == 0)
    }

    @Test("a message that keeps killing the worker is answered and dead-lettered on its last delivery")
    func poisonMessage() throws {
        let scratch = try Scratch()
        let worker = WorkerProcess(scratch: scratch, policies: [seedPolicy], arguments: ["--delivery-limit", "2"])
        try worker.start()
        let agent = try TestClient()
        defer { agent.close() }
        try agent.observe(worker.topology.dead, key: "", label: "dead")
        worker.terminate()
        let id = try agent.call(prefix: worker.prefix, tool: "poison_tool", messageID: "poison-1")
        // Deliveries 1 and 2 crash the worker; the 3rd (x-delivery-count 2 = the limit) is the
        // last before the broker would drop it: the worker answers it without evaluating it.
        for _ in 0..<2 {
            try worker.start(
                waitUntilConsuming: false,
                extraEnvironment: ["TOLLGATE_FAULT": "crash-on-tool:poison_tool"]
            )
            #expect(worker.waitForExit() == 86)
        }
        try worker.start(extraEnvironment: ["TOLLGATE_FAULT": "crash-on-tool:poison_tool"])
        let reply = try agent.reply(to: id)
        #expect(reply.string("resolution") == "invalid")
        #expect(reply.string("reason")?.hasPrefix("delivered 3 times without being settled") == true, "\(reply.json)")
        let dead = try #require(agent.await("dead", count: 1).first)
        #expect(dead.header?["x-tollgate-error"]?.stringValue?.contains("delivered 3 times") == true)
        #expect(worker.isRunning)
        #expect(worker.terminate() == 0)
    }

    @Test("the worker connects over TLS (amqps://) and verifies the broker's certificate")
    func overTLS() throws {
        let ca = ProcessInfo.processInfo.environment["TOLLGATE_TEST_TLS_CA"] ?? "/var/lib/rabbitmq/tollgate-tls/ca.pem"
        try #require(FileManager.default.fileExists(atPath: ca), "no test CA at \(ca): run deploy/broker.sh start")
        let scratch = try Scratch()
        let worker = WorkerProcess(scratch: scratch, policies: [seedPolicy], arguments: ["--tls-ca-file", ca])
        worker.amqpURL = "amqps://guest:guest@localhost:5671/"
        // guest may only log in from localhost, which is where the TLS listener is.
        try worker.start()
        #expect(worker.log.contains("broker=amqps://guest@localhost:5671/"))
        let agent = try TestClient()
        defer { agent.close() }
        #expect(
            try agent.reply(to: agent.call(prefix: worker.prefix, tool: "delete_database")).string("decision") == "deny"
        )
        #expect(worker.terminate() == 0)

        // Without the CA the certificate cannot be verified: refused, with a clear error.
        let refused = WorkerProcess(
            scratch: scratch,
            policies: [seedPolicy],
            workerID: "w2",
            // A CA bundle that did not sign the test broker's certificate.
            arguments: ["--tls-ca-file", "/etc/ssl/certs/ca-certificates.crt"]
        )
        refused.amqpURL = "amqps://guest:guest@localhost:5671/"
        try refused.start(waitUntilConsuming: false)
        #expect(refused.waitForLog("TLS failed", timeout: .seconds(10)), "\(refused.log)")
        #expect(refused.log.contains("SSL peer cert verification failed"))
        refused.kill()
    }

    @Test("a call published with a routing key other than its agent_id is rejected")
    func routingKeyMustBeAgent() throws {
        let scratch = try Scratch()
        let worker = WorkerProcess(scratch: scratch, policies: [seedPolicy])
        try worker.start()
        let agent = try TestClient()
        defer { agent.close() }
        let id = try agent.call(
            prefix: worker.prefix,
            agent: "finance-agent",
            tool: "search_documents",
            routingKey: "someone-else"
        )
        let reply = try agent.reply(to: id)
        #expect(reply.string("resolution") == "invalid")
        #expect(
            reply.string("reason")?.contains("routing key 'someone-else' is not the agent_id 'finance-agent'") == true
        )
        worker.terminate()
    }

    @Test("a redelivered call keeps its request id and decision and is charged once")
    func idempotentMessageID() throws {
        let scratch = try Scratch()
        let policy = try scratch.write(
            "budget.yaml",
            """
            version: "1.0"
            name: budget
            rules:
              - name: no-deletes
                condition: {field: tool_name, operator: eq, value: delete_database}
                action: deny
            defaults:
              action: allow
              max_tool_calls: 3
            """
        )
        let worker = WorkerProcess(scratch: scratch, policies: [policy])
        try worker.start()
        let agent = try TestClient()
        defer { agent.close() }

        // The same message five times: one decision, one charge.
        var ids: [String] = []
        for _ in 0..<5 {
            ids.append(try agent.call(prefix: worker.prefix, tool: "search_documents", messageID: "same-call"))
        }
        let first = try ids.map { try agent.reply(to: $0) }
        #expect(Set(first.compactMap { $0.string("request_id") }).count == 1)
        #expect(first.allSatisfy { $0.string("decision") == "allow" })
        // Byte-identical but for the echoed correlation id.
        #expect(Set(first.map { $0.json["reason"] ?? .null }).count == 1)

        // Budget of 3: two more distinct calls pass, the next is denied with resolution limit.
        let second = try agent.call(prefix: worker.prefix, tool: "search_documents")
        let third = try agent.call(prefix: worker.prefix, tool: "search_documents")
        let fourth = try agent.call(prefix: worker.prefix, tool: "search_documents")
        #expect(try agent.reply(to: second).string("decision") == "allow")
        #expect(try agent.reply(to: third).string("decision") == "allow")
        let limited = try agent.reply(to: fourth)
        #expect(limited.string("decision") == "deny")
        #expect(limited.string("resolution") == "limit")
        #expect(limited.string("reason") == "max_tool_calls budget of 3 is spent for agent finance-agent")
        // Denials are not charged; other agents and sessions have their own budgets.
        let other = try agent.call(prefix: worker.prefix, agent: "support-agent", tool: "search_documents")
        #expect(try agent.reply(to: other).string("decision") == "allow")
        let session = try agent.call(prefix: worker.prefix, tool: "search_documents", context: #"{"session_id":"s-2"}"#)
        #expect(try agent.reply(to: session).string("decision") == "allow")

        // One audit record per distinct call: 1 + 2 + limit + 2 = 6.
        let audit = try runTollgate(["audit", "export", "--db", worker.databasePath])
        #expect(auditEntries(audit.output).count == 6)
        #expect(worker.terminate() == 0)
    }

    @Test("a call redelivered after the worker died before acking gets the same request id")
    func redeliveryAfterCrash() throws {
        let scratch = try Scratch()
        let worker = WorkerProcess(scratch: scratch, policies: [seedPolicy])
        // Dies after publishing the first batch's replies, before any ack.
        try worker.start(extraEnvironment: ["TOLLGATE_FAULT": "after-publish"])
        let agent = try TestClient()
        defer { agent.close() }
        let withID = try agent.call(prefix: worker.prefix, tool: "search_documents", messageID: "m-1")
        #expect(worker.waitForExit() == 86)
        let firstReply = try agent.reply(to: withID)
        worker.environment = [:]
        try worker.start()
        // The broker redelivers it; the worker answers again from its record.
        try agent.await(count: 2)
        let replies = agent.messages(correlation: withID)
        #expect(replies.count == 2)
        #expect(Set(replies.compactMap { $0.string("request_id") }) == [firstReply.string("request_id")!])
        #expect(replies[0].delivery.body == replies[1].delivery.body)
        let audit = try runTollgate(["audit", "export", "--db", worker.databasePath])
        #expect(auditEntries(audit.output).count == 1, "decided once")
        worker.terminate()
    }

    @Test("a call without message_id redelivered after a crash is recognised by its content")
    func redeliveryWithoutMessageID() throws {
        let scratch = try Scratch()
        let worker = WorkerProcess(scratch: scratch, policies: [seedPolicy])
        try worker.start(extraEnvironment: ["TOLLGATE_FAULT": "before-ack"])
        let agent = try TestClient()
        defer { agent.close() }
        let id = try agent.call(prefix: worker.prefix, tool: "transfer_funds", messageID: nil)
        #expect(worker.waitForExit() == 86)
        worker.environment = [:]
        try worker.start()
        try agent.await(count: 2)
        let replies = agent.messages(correlation: id)
        #expect(replies.count == 2)
        #expect(Set(replies.compactMap { $0.string("request_id") }).count == 1)
        // Parked once: one pending escalation.
        let pending = try runTollgate(["pending", "--db", worker.databasePath, "--json"])
        #expect(pending.output.split(separator: "\n").count == 1)
        worker.terminate()
    }

    @Test(
        "a decision is published only once its commit is on disk: with syncs held, the call is recorded, not answered"
    )
    func publishedOnlyWhenSynced() throws {
        let scratch = try Scratch()
        let hold = scratch.path("hold-syncs")
        let worker = WorkerProcess(scratch: scratch, policies: [seedPolicy])
        try worker.start(extraEnvironment: ["TOLLGATE_FAULT": "sync-hold-file:\(hold)"])
        let agent = try TestClient()
        defer { agent.close() }
        #expect(FileManager.default.createFile(atPath: hold, contents: nil))
        let id = try agent.call(prefix: worker.prefix, tool: "search_documents", messageID: "held-1")
        // Committed: another process reads the decision in the audit trail ...
        let deadline = ContinuousClock.now + .seconds(10)
        var entries = 0
        while entries == 0, ContinuousClock.now < deadline {
            entries = auditEntries(try runTollgate(["audit", "export", "--db", worker.databasePath]).output).count
            if entries == 0 { Thread.sleep(forTimeInterval: 0.05) }
        }
        #expect(entries == 1, "the decision was committed")
        // ... but while its commit is not synced, nothing of it is published.
        try agent.drain(for: .seconds(1))
        #expect(agent.messages(correlation: id).isEmpty, "published before the commit was on disk")
        try FileManager.default.removeItem(atPath: hold)
        let reply = try agent.reply(to: id, timeout: .seconds(5))
        #expect(reply.string("decision") == "allow")
        #expect(worker.terminate() == 0)
    }

    @Test(
        "a failed sync is an outage: nothing unsynced is published, and once syncs work every call is answered once"
    )
    func failedSync() throws {
        let scratch = try Scratch()
        let fail = scratch.path("fail-syncs")
        let worker = WorkerProcess(scratch: scratch, policies: [seedPolicy])
        try worker.start(extraEnvironment: ["TOLLGATE_FAULT": "sync-fail-file:\(fail)"])
        let agent = try TestClient()
        defer { agent.close() }
        try agent.observe(worker.topology.decisions, label: "feed")
        #expect(FileManager.default.createFile(atPath: fail, contents: nil))
        // A burst, unconfirmed, so that the worker has deliveries in hand when it learns that
        // a sync failed, 50 ms after its first commit (those of that turn were once dropped:
        // unacked, never answered).
        var ids: [String] = []
        for i in 0..<3000 {
            let id = "sync-\(i)"
            let tool = i % 4 == 3 ? "delete_database" : "search_documents"
            try agent.publish(
                exchange: worker.topology.toolcalls,
                routingKey: "agent-\(i)",
                body: Array(#"{"agent_id":"agent-\#(i)","tool_name":"\#(tool)"}"#.utf8),
                // Every tenth without a message_id: recognised by its content when decided again.
                messageID: i % 10 == 9 ? nil : id,
                correlationID: id,
                replyTo: agent.replyQueue,
                waitForConfirm: false
            )
            ids.append(id)
        }
        #expect(worker.waitForLog("write-ahead log could not be synced"))
        #expect(worker.waitForLog("cannot write the database"))
        try agent.drain(for: .seconds(1))
        #expect(agent.messages().isEmpty, "published while no sync worked")
        try FileManager.default.removeItem(atPath: fail)
        let replies = try agent.awaitAll(Set(ids), timeout: .seconds(30))
        #expect(worker.waitForLog("the database can be written again"))
        // Answered by the resumed worker itself, not by a redelivery after a reconnect (a
        // reconnect would hide held inputs that were dropped).
        #expect(!worker.log.contains("reconnecting"), "\(worker.log)")
        try agent.drain(for: .milliseconds(500))
        for (i, id) in ids.enumerated() {
            let answers = agent.messages(correlation: id)
            #expect(answers.count == 1, "\(id): \(answers.count) answers")
            #expect(answers.first?.string("decision") == (i % 4 == 3 ? "deny" : "allow"), "\(id)")
        }
        #expect(Set(replies.compactMap(\.correlationID)).isSuperset(of: ids))
        // The decision feed carries each once (those decided again from their records too).
        let feed = try agent.awaitAll(Set(ids), label: "feed", timeout: .seconds(10))
        var onFeed: [String: Int] = [:]
        for line in feed { onFeed[line.correlationID ?? "-", default: 0] += 1 }
        let offFeed = ids.filter { onFeed[$0] != 1 }
        let examples = offFeed.prefix(3).map { "\($0): \(onFeed[$0] ?? 0)" }
        #expect(offFeed.isEmpty, "\(offFeed.count) calls not once on the feed, e.g. \(examples)")
        // Decided once each: one audit entry per call, the chain intact.
        let export = try runTollgate(["audit", "export", "--db", worker.databasePath]).output
        #expect(auditEntries(export).count == ids.count)
        #expect(try runTollgate(["audit", "verify", "--db", worker.databasePath]).status == 0)
        #expect(worker.terminate() == 0)
    }

    @Test("SIGTERM stops gracefully: everything in flight is answered and acked, exit 0")
    func gracefulStop() throws {
        let scratch = try Scratch()
        let worker = WorkerProcess(scratch: scratch, policies: [seedPolicy])
        try worker.start()
        let agent = try TestClient()
        defer { agent.close() }
        var ids: [String] = []
        for i in 0..<500 {
            ids.append(
                try agent.call(
                    prefix: worker.prefix,
                    agent: "agent-\(i % 7)",
                    tool: "search_documents",
                    messageID: "g-\(i)"
                )
            )
        }
        #expect(worker.terminate(timeout: .seconds(10)) == 0)
        #expect(worker.log.contains("shutting down"))
        #expect(worker.log.contains("worker stopped"))
        // What was answered before the stop was acked: a new worker answers only the rest, and
        // every call is answered exactly once overall unless the stop cut in between.
        try worker.start()
        let replies = try agent.awaitAll(Set(ids), timeout: .seconds(30))
        try agent.drain(for: .milliseconds(500))
        let answered = Set(replies.compactMap(\.correlationID))
        #expect(answered == Set(ids))
        #expect(agent.messages().count == ids.count, "no call answered twice after a graceful stop")
        worker.terminate()
    }

    @Test("SIGHUP reloads the policy; an invalid one is refused and the old one kept")
    func reload() throws {
        let scratch = try Scratch()
        let path = try scratch.write(
            "p.yaml",
            """
            version: "1.0"
            name: reloadable
            rules:
              - name: block-search
                condition: {field: tool_name, operator: eq, value: search_documents}
                action: deny
                message: blocked in v1
            """
        )
        let worker = WorkerProcess(scratch: scratch, policies: [path])
        try worker.start()
        let agent = try TestClient()
        defer { agent.close() }
        #expect(
            try agent.reply(to: agent.call(prefix: worker.prefix, tool: "search_documents")).string("reason")
                == "blocked in v1"
        )

        try scratch.write(
            "p.yaml",
            "version: \"2.0\"\nname: reloadable\nrules:\n  - name: x\n    condition: {field: tool_name, operator: equals, value: a}\n    action: allow\n"
        )
        worker.signal(SIGHUP)
        #expect(worker.waitForLog("policy reload refused"))
        #expect(worker.log.contains("p.yaml:5:"), "the error names file and line")
        #expect(
            try agent.reply(to: agent.call(prefix: worker.prefix, tool: "search_documents")).string("reason")
                == "blocked in v1"
        )

        try scratch.write(
            "p.yaml",
            """
            version: "2.0"
            name: reloadable
            rules:
              - name: allow-search
                condition: {field: tool_name, operator: eq, value: search_documents}
                action: allow
                message: allowed in v2
            """
        )
        worker.signal(SIGHUP)
        #expect(worker.waitForLog("policies reloaded"))
        let reply = try agent.reply(to: agent.call(prefix: worker.prefix, tool: "search_documents"))
        #expect(reply.string("reason") == "allowed in v2")
        #expect(reply.string("policy_version")?.hasPrefix("reloadable@2.0#") == true)
        #expect(worker.terminate() == 0)
    }

    @Test("a bad policy stops the start with file, line and column")
    func badPolicyRefusesToStart() throws {
        let scratch = try Scratch()
        let path = try scratch.write(
            "bad.yaml",
            "version: \"1.0\"\nname: bad\nrules:\n  - name: r\n    condition: {field: tool_name, operator: eq, value: x}\n    action: maybe\n"
        )
        let result = try runTollgate(["worker", "--policy", path, "--db", scratch.path("x.db"), "--worker-id", "w1"])
        #expect(result.status == 1)
        #expect(result.output.contains("bad.yaml:6:13"), "\(result.output)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path("x.db")), "nothing started")
    }

    @Test("SIGKILL in the middle of thousands of calls, then restart: every call answered, none decided twice")
    func killAndRestart() throws {
        let scratch = try Scratch()
        let worker = WorkerProcess(scratch: scratch, policies: [seedPolicy])
        try worker.start()
        let agent = try TestClient()
        defer { agent.close() }
        let total = 3000
        var ids: [String] = []
        let tools = ["search_documents", "write_file", "delete_database", "transfer_funds", "send_email"]
        for i in 0..<total {
            let id = "k-\(i)"
            try agent.publish(
                exchange: worker.topology.toolcalls,
                routingKey: "agent-\(i % 13)",
                body: Array(#"{"agent_id":"agent-\#(i % 13)","tool_name":"\#(tools[i % 5])"}"#.utf8),
                messageID: id,
                correlationID: id,
                replyTo: agent.replyQueue,
                waitForConfirm: false
            )
            ids.append(id)
            if i == total / 3 {
                // Let it get going, then kill it mid-stream.
                try agent.waitForConfirms()
                _ = try agent.await(count: 200, timeout: .seconds(20))
                worker.kill()
            }
        }
        try agent.waitForConfirms(timeout: .seconds(30))
        try worker.start()
        let replies = try agent.awaitAll(Set(ids), timeout: .seconds(60))
        let answered = Set(replies.compactMap(\.correlationID))
        #expect(answered.count == total, "\(total - answered.count) calls unanswered")
        // Repeated answers are identical: one request id and one decision per call.
        var byCall: [String: Set<[UInt8]>] = [:]
        for r in replies { byCall[r.correlationID ?? "", default: []].insert(r.delivery.body) }
        #expect(byCall.values.allSatisfy { $0.count == 1 }, "a call got two different answers")
        // Decided once each: one audit record per call.
        let audit = try runTollgate(["audit", "export", "--db", worker.databasePath])
        #expect(auditEntries(audit.output).count == total)
        #expect(try runTollgate(["audit", "verify", "--db", worker.databasePath]).status == 0)
        worker.terminate()
    }
}
