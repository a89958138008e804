// A broker restart under load. Disruptive for every other test using the broker, so it runs
// only when TOLLGATE_DISRUPTIVE_TESTS=1, in its own `swift test` invocation (deploy/test.sh).
import Foundation
import Testing
import TollgateAMQP

@Suite(
    "Broker restart",
    .serialized,
    .enabled(
        if: ProcessInfo.processInfo.environment["TOLLGATE_DISRUPTIVE_TESTS"] == "1",
        "set TOLLGATE_DISRUPTIVE_TESTS=1"
    )
)
struct BrokerRestartTests {
    /// Runs deploy/broker.sh with `command`, its output in `log`.
    ///
    /// Through system(3), not Foundation's Process: `start` leaves a detached broker behind that
    /// inherits the descriptors Process watches to learn that its child exited, and
    /// `waitUntilExit()` would then wait for the broker to stop.
    func broker(_ command: String, log: String) throws {
        let script = packageRoot.appendingPathComponent("deploy/broker.sh").path
        let status = system("'\(script)' \(command) >>'\(log)' 2>&1 </dev/null")
        guard status == 0 else {
            throw BrokerTestError(
                "deploy/broker.sh \(command) failed (\(status)): \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")"
            )
        }
    }

    @Test("the broker restarts under load: the worker reconnects, carries on, and every call is answered")
    func restartUnderLoad() throws {
        let scratch = try Scratch()
        let worker = WorkerProcess(scratch: scratch, policies: [seedPolicy])
        try worker.start()
        var agent = try TestClient()
        let queue = agent.replyQueue
        let tools = ["search_documents", "write_file", "delete_database"]
        var ids: [String] = []
        for i in 0..<4000 {
            let id = "r-\(i)"
            try agent.publish(
                exchange: worker.topology.toolcalls,
                routingKey: "agent-\(i % 11)",
                body: Array(#"{"agent_id":"agent-\#(i % 11)","tool_name":"\#(tools[i % 3])"}"#.utf8),
                messageID: id,
                correlationID: id,
                replyTo: queue,
                waitForConfirm: false
            )
            ids.append(id)
        }
        try agent.waitForConfirms(timeout: .seconds(30))
        _ = try agent.await(count: 500, timeout: .seconds(30))
        var answered = Set(agent.messages().compactMap(\.correlationID))

        try broker("stop", log: scratch.path("broker.log"))
        try broker("start", log: scratch.path("broker.log"))
        // The worker finds the broker again by itself.
        #expect(worker.waitForLog("] consuming", count: 2, timeout: .seconds(60)), "\(worker.log.suffix(2000))")
        #expect(worker.log.contains("broker connection lost or refused; reconnecting"))

        // The old client's connection died with the broker; its durable reply queue did not.
        agent = try TestClient(replyQueue: queue)
        defer { agent.close() }
        for i in 4000..<4500 {
            let id = "r-\(i)"
            try agent.publish(
                exchange: worker.topology.toolcalls,
                routingKey: "agent-\(i % 11)",
                body: Array(#"{"agent_id":"agent-\#(i % 11)","tool_name":"search_documents"}"#.utf8),
                messageID: id,
                correlationID: id,
                replyTo: queue,
                waitForConfirm: false
            )
            ids.append(id)
        }
        try agent.waitForConfirms(timeout: .seconds(30))
        let replies = try agent.awaitAll(Set(ids).subtracting(answered), timeout: .seconds(90))
        answered.formUnion(replies.compactMap(\.correlationID))
        #expect(answered.count == ids.count, "\(ids.count - answered.count) calls unanswered")
        #expect(worker.isRunning)
        let audit = try runTollgate(["audit", "export", "--db", worker.databasePath])
        let decisions = audit.output.split(separator: "\n").filter { $0.contains(#""kind":"decision""#) }
        #expect(decisions.count == ids.count, "each call decided once")
        #expect(worker.terminate() == 0)
    }

    @Test("/readyz turns false when the broker stops and true when it is back; /healthz stays true")
    func readiness() throws {
        let scratch = try Scratch()
        let port = freePort()
        let worker = WorkerProcess(scratch: scratch, policies: [seedPolicy], arguments: ["--metrics-port", "\(port)"])
        try worker.start()
        #expect(httpGet(port: port, "/readyz").status == 200)
        try broker("stop", log: scratch.path("broker.log"))
        var notReady = (0, "")
        for _ in 0..<100 {
            notReady = httpGet(port: port, "/readyz")
            if notReady.0 == 503 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(notReady.0 == 503 && notReady.1.contains("not connected to the broker"), "\(notReady)")
        #expect(httpGet(port: port, "/healthz").status == 200, "reconnecting is healthy")
        try broker("start", log: scratch.path("broker.log"))
        #expect(worker.waitForLog("] consuming", count: 2, timeout: .seconds(60)))
        #expect(httpGet(port: port, "/readyz").status == 200)
        #expect(httpGet(port: port, "/healthz").status == 200)
        let metrics = httpGet(port: port, "/metrics").body
        #expect(metric(metrics, "tollgate_broker_reconnects_total") == 1, "\(metrics)")
        worker.terminate()
    }
}
