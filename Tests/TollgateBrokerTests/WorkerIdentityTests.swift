// One worker per id, enforced by the broker, and a worker id's queues bound to one database.
import Foundation
import Testing
import TollgateAMQP

@Suite("Worker identity", .serialized)
struct WorkerIdentityTests {
    @Test("a second worker with the same id and database waits, and takes over when the first goes away")
    func sameDatabaseWaits() throws {
        let scratch = try Scratch()
        let first = WorkerProcess(scratch: scratch, policies: [seedPolicy])
        try first.start()
        let second = WorkerProcess(scratch: scratch, policies: [seedPolicy], prefix: first.prefix, logName: "second")
        try second.start(waitUntilConsuming: false)
        #expect(second.waitForLog("another worker is running with --worker-id w1", timeout: .seconds(10)))
        #expect(!second.log.contains("] consuming"))
        #expect(first.terminate() == 0)
        #expect(second.waitForLog("] consuming", timeout: .seconds(30)))
        second.terminate()
    }

    @Test("a worker with the id of a running one and another database never consumes, loses nothing, and is refused")
    func otherDatabaseRefused() throws {
        let scratch = try Scratch()
        let first = WorkerProcess(scratch: scratch, policies: [seedPolicy])
        try first.start()
        let client = try TestClient()
        defer { client.close() }
        let other = try Scratch()
        let second = WorkerProcess(scratch: other, policies: [seedPolicy], prefix: first.prefix)
        try second.start(waitUntilConsuming: false)
        // Calls while both run: the first answers every one, each message id once.
        var ids = Set<String>()
        for n in 0..<1_500 {
            let id = "c-\(n)"
            ids.insert(id)
            try client.publish(
                exchange: "\(first.prefix).toolcalls",
                routingKey: "agent-\(n % 30)",
                body: Array(#"{"agent_id":"agent-\#(n % 30)","tool_name":"search_documents"}"#.utf8),
                messageID: "m-\(n)",
                correlationID: id,
                replyTo: client.replyQueue,
                waitForConfirm: n % 100 == 99
            )
        }
        try client.waitForConfirms()
        let replies = try client.awaitAll(ids, timeout: .seconds(60))
        #expect(Set(replies.compactMap(\.correlationID)) == ids, "every call answered")
        #expect(Set(replies.compactMap { $0.string("request_id") }).count == ids.count, "one request per message id")
        #expect(!second.log.contains("] consuming"))
        // When the first stops, the second finds the queues belong to another database.
        #expect(first.terminate() == 0)
        #expect(second.waitForExit(timeout: .seconds(30)) == 1)
        #expect(second.log.contains("the queues of worker 'w1' belong to database"), "\(second.log.suffix(800))")
        #expect(second.log.contains("--take-over-queues"))
        // Started with its own database again, the first one carries on.
        try first.start()
        first.terminate()
    }

    @Test("--take-over-queues lets a new database take a worker id whose database was lost")
    func takeOver() throws {
        let scratch = try Scratch()
        let first = WorkerProcess(scratch: scratch, policies: [seedPolicy])
        try first.start()
        #expect(first.terminate() == 0)
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: first.databasePath + suffix) }
        try first.start(waitUntilConsuming: false)
        #expect(first.waitForExit(timeout: .seconds(20)) == 1)
        first.arguments += ["--take-over-queues"]
        try first.start()
        #expect(first.log.contains("taking over the queues of another database"))
        first.terminate()
        first.arguments.removeLast()
        // The new database is now the owner: a plain restart works.
        try first.start()
        first.terminate()
    }

    @Test("two workers with one id and one new database started together: one consumes, neither crashes")
    func startedTogether() throws {
        for trial in 0..<6 {
            let scratch = try Scratch()
            let a = WorkerProcess(scratch: scratch, policies: [seedPolicy])
            let b = WorkerProcess(scratch: scratch, policies: [seedPolicy], prefix: a.prefix, logName: "b")
            try a.start(waitUntilConsuming: false)
            try b.start(waitUntilConsuming: false)
            #expect(
                a.waitForLog("] consuming", timeout: .seconds(20)) || b.waitForLog("] consuming", timeout: .seconds(1))
            )
            Thread.sleep(forTimeInterval: 1)
            let consuming = [a, b].filter { $0.log.contains("] consuming") }.count
            #expect(consuming == 1, "trial \(trial): \(consuming) consumers")
            #expect(a.isRunning && b.isRunning, "trial \(trial): \(a.log.suffix(400)) \(b.log.suffix(400))")
            for w in [a, b] { #expect(!w.log.contains("already exists"), "\(w.log.suffix(400))") }
            a.terminate()
            b.terminate()
        }
    }
}
