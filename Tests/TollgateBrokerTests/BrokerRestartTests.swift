// A broker restart under load. Disruptive for every other test using the broker, so it runs
// only when TOLLGATE_DISRUPTIVE_TESTS=1, in its own `swift test` invocation (deploy/test.sh).
import Foundation
import Testing
import TollgateAMQP

@Suite(
    "Broker restart", .serialized,
    .enabled(if: ProcessInfo.processInfo.environment["TOLLGATE_DISRUPTIVE_TESTS"] == "1", "set TOLLGATE_DISRUPTIVE_TESTS=1"))
struct BrokerRestartTests {
    /// Runs deploy/broker.sh with `command`.
    func broker(_ command: String) throws {
        let p = Process()
        p.executableURL = packageRoot.appendingPathComponent("deploy/broker.sh")
        p.arguments = [command]
        p.environment = ProcessInfo.processInfo.environment.merging(["TOLLGATE_BROKER_TLS": "0"]) { $1 }
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw BrokerTestError("deploy/broker.sh \(command) failed") }
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
                exchange: worker.topology.toolcalls, routingKey: "agent-\(i % 11)",
                body: Array(#"{"agent_id":"agent-\#(i % 11)","tool_name":"\#(tools[i % 3])"}"#.utf8), messageID: id,
                correlationID: id, replyTo: queue, waitForConfirm: false)
            ids.append(id)
        }
        try agent.waitForConfirms(timeout: .seconds(30))
        _ = try agent.await(count: 500, timeout: .seconds(30))
        var answered = Set(agent.messages().compactMap(\.correlationID))

        try broker("stop")
        try broker("start")
        // The worker finds the broker again by itself.
        #expect(worker.waitForLog("] consuming", count: 2, timeout: .seconds(60)), "\(worker.log.suffix(2000))")
        #expect(worker.log.contains("broker connection lost; reconnecting"))

        // The old client's connection died with the broker; its durable reply queue did not.
        agent = try TestClient(replyQueue: queue)
        defer { agent.close() }
        for i in 4000..<4500 {
            let id = "r-\(i)"
            try agent.publish(
                exchange: worker.topology.toolcalls, routingKey: "agent-\(i % 11)",
                body: Array(#"{"agent_id":"agent-\#(i % 11)","tool_name":"search_documents"}"#.utf8), messageID: id,
                correlationID: id, replyTo: queue, waitForConfirm: false)
            ids.append(id)
        }
        try agent.waitForConfirms(timeout: .seconds(30))
        let replies = try agent.awaitAll(Set(ids).subtracting(answered), timeout: .seconds(90))
        answered.formUnion(replies.compactMap(\.correlationID))
        #expect(answered.count == ids.count, "\(ids.count - answered.count) calls unanswered")
        #expect(worker.isRunning)
        let audit = try runTollgate(["audit", "export", "--db", worker.databasePath])
        #expect(audit.output.split(separator: "\n").count == ids.count, "each call decided once")
        #expect(worker.terminate() == 0)
    }
}
