// Many workers on one broker (issue 8): sharding, drain with budget hand-off, fleet queries,
// broker addresses, metrics.
import Foundation
import Testing
import TollgateAMQP
import TollgateJSON

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// GET http://127.0.0.1:port/path: status and body (status 0 when nothing answers).
func httpGet(port: Int, _ path: String) -> (status: Int, body: String) {
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var result = (0, "")
    let task = URLSession.shared.dataTask(with: URL(string: "http://127.0.0.1:\(port)\(path)")!) { data, response, _ in
        result = (
            (response as? HTTPURLResponse)?.statusCode ?? 0, data.map { String(decoding: $0, as: UTF8.self) } ?? ""
        )
        done.signal()
    }
    task.resume()
    _ = done.wait(timeout: .now() + 10)
    return result
}

/// The value of one sample of a Prometheus text exposition (`name{labels}`), nil when absent.
func metric(_ text: String, _ sample: String) -> Double? {
    for line in text.split(separator: "\n") where line.hasPrefix(sample + " ") {
        return Double(line.dropFirst(sample.count + 1))
    }
    return nil
}

/// A free TCP port on loopback.
func freePort() -> Int { Int.random(in: 20_000...40_000) }

let fleetPolicyYAML = """
    version: "1.0"
    name: fleet
    rules:
      - name: escalate-transfer
        condition: {field: tool_name, operator: eq, value: transfer_funds}
        action: escalate
        message: "transfers wait for a manager"
        escalation: {approvers: [manager@corp.com], timeout_seconds: 6}
      - name: block-delete
        condition: {field: tool_name, operator: eq, value: delete_database}
        action: deny
        message: "never"
    defaults:
      action: allow
      max_tool_calls: 100000
    """

/// Workers sharing one prefix, with their own ids and databases.
final class Fleet {
    let scratch: Scratch
    let prefix = "tgf\(UInt32.random(in: 0...UInt32.max))"
    let policy: String
    var workers: [String: WorkerProcess] = [:]

    init(policy yaml: String = fleetPolicyYAML) throws {
        scratch = try Scratch()
        policy = try scratch.write("fleet.yaml", yaml)
    }

    @discardableResult
    func start(_ id: String, arguments: [String] = []) throws -> WorkerProcess {
        let worker = WorkerProcess(
            scratch: scratch,
            policies: [policy],
            workerID: id,
            prefix: prefix,
            arguments: arguments
        )
        try worker.start()
        workers[id] = worker
        return worker
    }

    /// The worker that decided a request (its id is the request id's prefix).
    static func worker(of reply: Received) -> String {
        reply.string("request_id").flatMap { id in
            id.utf8.count > 37 ? String(id.dropLast(37)) : nil
        } ?? "?"
    }

    deinit { for worker in workers.values { worker.terminate() } }
}

@Suite("Fleet", .serialized)
struct FleetTests {
    @Test(
        "three workers and thirty agents; one drained and a fourth added under load: nothing lost, budgets exact after the drain"
    )
    func drainAndAdd() throws {
        let fleet = try Fleet()
        for id in ["w1", "w2", "w3"] { try fleet.start(id) }
        let agent = try TestClient()
        defer { agent.close() }
        let manager = try TestClient(user: "manager@corp.com")
        defer { manager.close() }
        var calls: [(id: String, agent: String)] = []
        func send(_ n: Int, tool: String = "search_documents") throws {
            for _ in 0..<n {
                let number = calls.count
                let name = "agent-\(number % 30)"
                let id = try agent.call(prefix: fleet.prefix, agent: name, tool: tool, messageID: "m-\(number)")
                calls.append((id, name))
            }
        }
        /// Retries of earlier calls (same `message_id`, a new correlation id) after the agents
        /// moved: answered from the call records that followed them, with the first request id.
        func retryMoved(_ picks: [Int]) throws {
            var retries: [(retry: String, original: String)] = []
            for number in picks {
                let retry = try agent.call(
                    prefix: fleet.prefix,
                    agent: calls[number].agent,
                    tool: "search_documents",
                    messageID: "m-\(number)"
                )
                retries.append((retry, calls[number].id))
            }
            try agent.awaitAll(Set(retries.map(\.retry)), timeout: .seconds(60))
            for (retry, original) in retries {
                let again = try agent.reply(to: retry).string("request_id")
                let first = try agent.reply(to: original).string("request_id")
                #expect(again != nil && again == first, "retry of \(original): \(again ?? "-") vs \(first ?? "-")")
            }
        }
        // Phase 1: three workers.
        try send(600)
        try agent.awaitAll(Set(calls.map(\.id)), timeout: .seconds(60))
        var ownerBefore: [String: String] = [:]
        for call in calls { ownerBefore[call.agent] = Fleet.worker(of: try agent.reply(to: call.id)) }
        #expect(Set(ownerBefore.values) == ["w1", "w2", "w3"], "every worker owns agents: \(ownerBefore)")
        // Two escalations held by w2: one will be approved, one will time out.
        let w2Agents = ownerBefore.filter { $0.value == "w2" }.map(\.key).sorted()
        let approved = try agent.call(prefix: fleet.prefix, agent: w2Agents[0], tool: "transfer_funds")
        let timedOut = try agent.call(prefix: fleet.prefix, agent: w2Agents[1], tool: "transfer_funds")
        let approvedID = try #require(try agent.reply(to: approved).string("request_id"))
        _ = try agent.reply(to: timedOut)

        // Phase 2: drain w2 while calls keep coming.
        let w2 = try #require(fleet.workers["w2"])
        w2.signal(SIGUSR1)
        #expect(w2.waitForLog("draining: unbound from the tool-call exchange"))
        try send(600)
        #expect(w2.waitForLog("the queue is empty; handing the budgets", timeout: .seconds(30)))
        try manager.vote(prefix: fleet.prefix, worker: "w2", requestID: approvedID, decision: "approve")
        #expect(try agent.finalDecision(to: approved).string("resolution") == "approved")
        #expect(try agent.finalDecision(to: timedOut, timeout: .seconds(20)).string("resolution") == "timeout")
        #expect(w2.waitForExit(timeout: .seconds(30)) == 0, "a drained worker exits 0 by itself")
        #expect(w2.log.contains("drained: no call left in the queue, no escalation pending"))
        try agent.awaitAll(Set(calls.map(\.id)), timeout: .seconds(60))
        // Retries of w2's calls reach the workers that own its agents now.
        let ofW2 = (0..<600).filter { w2Agents.contains(calls[$0].agent) }
        #expect(ofW2.count >= 20)
        try retryMoved(Array(ofW2.prefix(20)))

        // The transfer that timed out held a unit while it waited; if w2 re-homed it before the
        // deadline, the unit stays counted at the new owner (a hand-off never lowers a count).
        try checkBudgets(fleet, agent, calls, extra: [w2Agents[0]: 1], mayHold: [w2Agents[1]: 1])
        #expect(w2.log.contains("handing the budgets to the workers that own the agents now"))

        // Phase 3: a fourth worker takes a share of the agents; nothing is lost.
        try fleet.start("w4")
        let before = calls.count
        try send(600)
        let replies = try agent.awaitAll(Set(calls.map(\.id)), timeout: .seconds(60))
        #expect(Set(replies.compactMap(\.correlationID)).isSuperset(of: calls.map(\.id)))
        let late = Set(calls[before...].map { Fleet.worker(of: try! agent.reply(to: $0.id)) })
        #expect(late.contains("w4"), "the new worker took agents: \(late)")
        // Retries of earlier calls of the agents w4 took: their records followed (some twice,
        // from w2 to a worker that stayed, then to w4).
        var ownerNow: [String: String] = [:]
        for call in calls[before...] { ownerNow[call.agent] = Fleet.worker(of: try agent.reply(to: call.id)) }
        let ofW4 = (0..<before).filter { ownerNow[calls[$0].agent] == "w4" }
        #expect(!ofW4.isEmpty)
        try retryMoved(Array(ofW4.prefix(30)))
        #expect(fleet.workers["w4"]?.log.contains("took over call records") == true)
        // Every call answered once (same request id for every copy).
        for call in calls {
            #expect(Set(agent.messages(correlation: call.id).compactMap { $0.string("request_id") }).count == 1)
        }
        // Adding a worker re-homes the budgets too: still exact.
        Thread.sleep(forTimeInterval: 1)
        try checkBudgets(fleet, agent, calls, extra: [w2Agents[0]: 1], mayHold: [w2Agents[1]: 1])
    }

    /// Each agent's whole count (every allowed call, plus `extra` units held by approved
    /// escalations) is at the worker that owns the agent now, and nowhere else.
    func checkBudgets(
        _ fleet: Fleet,
        _ agent: TestClient,
        _ calls: [(id: String, agent: String)],
        extra: [String: Int],
        mayHold: [String: Int]
    ) throws {
        var allowed = extra
        var owner: [String: String] = [:]
        for call in calls {
            let reply = try agent.reply(to: call.id)
            if reply.string("decision") == "allow" { allowed[call.agent, default: 0] += 1 }
            owner[call.agent] = Fleet.worker(of: reply)
        }
        for (name, count) in allowed.sorted(by: { $0.key < $1.key }) {
            var counts: [String: Int] = [:]
            for (id, worker) in fleet.workers {
                let text = try sqlite(
                    worker.databasePath,
                    "SELECT coalesce(sum(used), 0) FROM budgets WHERE agent_id = '\(name)'"
                )
                counts[id] = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
            }
            let home = owner[name] ?? "?"
            let allowedRange = count...(count + mayHold[name, default: 0])
            #expect(allowedRange.contains(counts[home] ?? -1), "\(name) owned by \(home): \(counts), expected \(count)")
            #expect(counts.values.reduce(0, +) == counts[home], "\(name): \(counts) counts elsewhere too")
        }
    }

    @Test("tollgate pending asks the fleet and lists the requests of three workers")
    func pendingOverTheBroker() throws {
        let fleet = try Fleet()
        for id in ["w1", "w2", "w3"] { try fleet.start(id) }
        let agent = try TestClient()
        defer { agent.close() }
        var byWorker: [String: String] = [:]
        var n = 0
        while byWorker.count < 3, n < 200 {
            let id = try agent.call(prefix: fleet.prefix, agent: "agent-\(n)", tool: "transfer_funds")
            let reply = try agent.reply(to: id)
            if byWorker[Fleet.worker(of: reply)] == nil {
                byWorker[Fleet.worker(of: reply)] = reply.string("request_id")
            }
            n += 1
        }
        let result = try runTollgate([
            "pending", "--prefix", fleet.prefix, "--amqp-url", Broker.url.description(withPassword: true),
        ])
        #expect(result.status == 0)
        for (_, requestID) in byWorker { #expect(result.output.contains(requestID), "\(result.output)") }
        #expect(result.output.contains("3 workers answered"), "\(result.output)")
        #expect(result.output.contains("0/1 approvals"))
        let json = try runTollgate([
            "pending", "--json", "--prefix", fleet.prefix, "--amqp-url", Broker.url.description(withPassword: true),
        ])
        let lines = json.output.split(separator: "\n").compactMap { try? JSONValue.parse(String($0)) }
        #expect(lines.count == n, "one line per pending request")
        #expect(Set(lines.compactMap { $0["worker_id"]?.stringValue }) == ["w1", "w2", "w3"])
    }

    @Test("a vote that does not decide publishes a voted notice with the voters so far")
    func tallyNotice() throws {
        let fleet = try Fleet(
            policy: """
                version: "1.0"
                name: quorum
                rules:
                  - name: two-of-three
                    condition: {field: tool_name, operator: eq, value: transfer_funds}
                    action: escalate
                    message: "two approvals"
                    escalation: {approvers: [manager@corp.com, cfo@corp.com, compliance@corp.com], required_approvals: 2}
                """
        )
        let worker = try fleet.start("w1")
        let agent = try TestClient()
        defer { agent.close() }
        try agent.observe(worker.topology.escalations, key: "voted.*", label: "voted")
        let call = try agent.call(prefix: fleet.prefix, tool: "transfer_funds")
        let requestID = try #require(try agent.reply(to: call).string("request_id"))
        let manager = try TestClient(user: "manager@corp.com")
        defer { manager.close() }
        try manager.vote(prefix: fleet.prefix, requestID: requestID, decision: "approve")
        let voted = try #require(try agent.await("voted", count: 1).first)
        #expect(voted.delivery.routingKey == "voted.transfer_funds")
        #expect(voted.string("request_id") == requestID)
        #expect(voted["approvals"]?.arrayValue?.compactMap(\.stringValue) == ["manager@corp.com"])
        #expect(voted["denials"]?.arrayValue?.isEmpty == true)
    }

    @Test("a worker given two broker addresses, the first refusing connections, uses the second")
    func secondAddress() throws {
        let scratch = try Scratch()
        let worker = WorkerProcess(scratch: scratch, policies: [seedPolicy])
        worker.amqpURL = "amqp://guest:guest@127.0.0.1:1/"
        worker.arguments += ["--amqp-url", Broker.url.description(withPassword: true)]
        try worker.start()
        #expect(worker.log.contains("broker connection lost or refused; reconnecting"))
        let agent = try TestClient()
        defer { agent.close() }
        #expect(
            try agent.reply(to: try agent.call(prefix: worker.prefix, tool: "search_documents")).string("decision")
                == "allow"
        )
        worker.terminate()
    }

    @Test("a metrics scrape after a known mix of calls shows exactly those counts")
    func metricsScrape() throws {
        let fleet = try Fleet()
        let port = freePort()
        let worker = try fleet.start("w1", arguments: ["--metrics-port", "\(port)"])
        let agent = try TestClient()
        defer { agent.close() }
        var ids: [String] = []
        for _ in 0..<3 { ids.append(try agent.call(prefix: fleet.prefix, tool: "search_documents")) }
        for _ in 0..<2 { ids.append(try agent.call(prefix: fleet.prefix, tool: "delete_database")) }
        let transfer = try agent.call(prefix: fleet.prefix, tool: "transfer_funds")
        try agent.publish(
            exchange: worker.topology.toolcalls,
            routingKey: "finance-agent",
            body: Array("not json".utf8),
            correlationID: "bad",
            replyTo: agent.replyQueue
        )
        try agent.awaitAll(Set(ids + [transfer, "bad"]))
        let requestID = try #require(try agent.reply(to: transfer).string("request_id"))
        let intern = try TestClient(user: "compliance@corp.com")
        defer { intern.close() }
        try intern.vote(prefix: fleet.prefix, requestID: requestID, decision: "approve")
        _ = try intern.await(count: 1)
        let manager = try TestClient(user: "manager@corp.com")
        defer { manager.close() }
        try manager.vote(prefix: fleet.prefix, requestID: requestID, decision: "approve")
        _ = try agent.finalDecision(to: transfer)
        Thread.sleep(forTimeInterval: 0.5)
        let scrape = httpGet(port: port, "/metrics")
        #expect(scrape.status == 200)
        let text = scrape.body
        #expect(metric(text, #"tollgate_toolcalls_total{decision="allow",resolution="policy"}"#) == 3, "\(text)")
        #expect(metric(text, #"tollgate_toolcalls_total{decision="deny",resolution="policy"}"#) == 2)
        #expect(metric(text, #"tollgate_toolcalls_total{decision="deny",resolution="invalid"}"#) == 1)
        #expect(metric(text, #"tollgate_toolcalls_total{decision="pending",resolution="policy"}"#) == 1)
        #expect(metric(text, #"tollgate_toolcalls_total{decision="allow",resolution="approved"}"#) == 1)
        #expect(metric(text, #"tollgate_votes_total{result="accepted"}"#) == 1)
        #expect(metric(text, #"tollgate_votes_total{result="rejected"}"#) == 1)
        #expect(metric(text, "tollgate_invalid_messages_total") == 1)
        #expect(metric(text, "tollgate_escalations_pending") == 0)
        #expect(metric(text, "tollgate_decision_duration_seconds_count") ?? 0 >= 8)
        #expect(text.contains("tollgate_build_info{"))
        #expect(httpGet(port: port, "/healthz").status == 200)
        #expect(httpGet(port: port, "/readyz").status == 200)
        // A pending escalation holds the drain open (a drain with nothing left ends within
        // milliseconds, before a scrape could see it), so /readyz is asked while it drains.
        let held = try agent.call(prefix: fleet.prefix, tool: "transfer_funds")
        let heldID = try #require(try agent.reply(to: held).string("request_id"))
        worker.signal(SIGUSR1)
        #expect(worker.waitForLog("draining: the queue is empty"))
        let draining = httpGet(port: port, "/readyz")
        #expect(draining.status == 503 && draining.body.contains("draining"), "\(draining)")
        try manager.vote(prefix: fleet.prefix, requestID: heldID, decision: "approve")
        #expect(try agent.finalDecision(to: held).string("decision") == "allow")
        #expect(worker.waitForExit(timeout: .seconds(20)) == 0)
    }

    @Test("the worker warns at start about every rule that escalates without approvers")
    func openVotingWarning() throws {
        let scratch = try Scratch()
        let worker = WorkerProcess(scratch: scratch, policies: [seedPolicy])
        try worker.start()
        #expect(worker.log.contains("rule escalates without an approvers list"))
        #expect(worker.log.contains("rule=escalate-transfer-funds"))
        #expect(worker.log.contains("rule=escalate-send-email"))
        worker.terminate()
    }
}
