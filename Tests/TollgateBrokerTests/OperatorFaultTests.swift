// An operator's bad day (issue 14) and the defects found by using the worker as a client would
// (issue 7), over a real RabbitMQ.
import Foundation
import Testing
import TollgateAMQP

#if canImport(Glibc)
import Glibc
#endif

/// A policy whose escalations time out after `seconds`.
func shortDeadlinePolicy(_ scratch: Scratch, seconds: Int) throws -> String {
    try scratch.write(
        "short.yaml",
        """
        version: "1.0"
        name: short-deadlines
        rules:
          - name: escalate-transfer
            condition: {field: tool_name, operator: eq, value: transfer_funds}
            action: escalate
            message: "transfers wait for a person"
            escalation: {timeout_seconds: \(seconds), timeout_action: deny}
          - name: block-delete
            condition: {field: tool_name, operator: eq, value: delete_database}
            action: deny
            message: "never"
        defaults:
          action: allow
        """
    )
}

@Suite("Operator faults and client retries", .serialized)
struct OperatorFaultTests {
    @Test(
        "killed after committing, again and again: every final decision reaches the feed, every refusal the dead letters"
    )
    func feedAfterCrashes() throws {
        let scratch = try Scratch()
        let worker = WorkerProcess(scratch: scratch, policies: [seedPolicy])
        try worker.start()
        let agent = try TestClient()
        defer { agent.close() }
        try agent.observe(worker.topology.decisions, label: "feed")
        try agent.observe(worker.topology.dead, key: "", label: "dead")
        worker.terminate()
        var allIDs = Set<String>()
        var invalidIDs = Set<String>()
        for n in 0..<300 {
            let id = "c-\(n)"
            allIDs.insert(id)
            let body: String
            switch n % 3 {
            case 0: body = #"{"agent_id":"a\#(n % 7)","tool_name":"search_documents"}"#
            case 1: body = #"{"agent_id":"a\#(n % 7)","tool_name":"delete_database"}"#
            default:
                body = "not json \(n)"
                invalidIDs.insert(id)
            }
            try agent.publish(
                exchange: worker.topology.toolcalls,
                routingKey: "a\(n % 7)",
                body: Array(body.utf8),
                messageID: "m-\(n)",
                correlationID: id,
                replyTo: agent.replyQueue,
                waitForConfirm: n == 299
            )
        }
        // Three deaths right after a commit, before anything of that batch is published.
        for _ in 0..<3 {
            try worker.start(waitUntilConsuming: false, extraEnvironment: ["TOLLGATE_FAULT": "after-commit:1"])
            #expect(worker.waitForExit() == 86)
        }
        try worker.start()
        try agent.awaitAll(allIDs, timeout: .seconds(30))
        try agent.awaitAll(allIDs, label: "feed", timeout: .seconds(30))
        try agent.awaitAll(invalidIDs, label: "dead", timeout: .seconds(30))
        let fed = Set(agent.messages("feed").compactMap(\.correlationID))
        let dead = Set(agent.messages("dead").compactMap(\.correlationID))
        #expect(allIDs.subtracting(fed).isEmpty, "finals missing from the feed: \(allIDs.subtracting(fed).count)")
        #expect(invalidIDs.subtracting(dead).isEmpty, "dead letters missing: \(invalidIDs.subtracting(dead).count)")
        // Repeated copies are identical: one request id per call.
        for id in allIDs {
            #expect(Set(agent.messages("feed", correlation: id).compactMap { $0.string("request_id") }).count == 1)
        }
        worker.terminate()
    }

    @Test("a retry with a new correlation_id gets its answer with that id in the body and the property")
    func retryCorrelation() throws {
        let scratch = try Scratch()
        let worker = WorkerProcess(scratch: scratch, policies: [seedPolicy])
        try worker.start()
        let agent = try TestClient()
        defer { agent.close() }
        let first = try agent.call(
            prefix: worker.prefix,
            tool: "search_documents",
            messageID: "same",
            correlationID: "c-1"
        )
        let retry = try agent.call(
            prefix: worker.prefix,
            tool: "search_documents",
            messageID: "same",
            correlationID: "c-2"
        )
        let a = try agent.reply(to: first)
        let b = try agent.reply(to: retry)
        #expect(b.string("correlation_id") == "c-2")
        #expect(b.string("request_id") == a.string("request_id"))
        worker.terminate()
    }

    @Test("an agent that restarted with a new reply queue gets the final decision there")
    func retryNewReplyQueue() throws {
        let scratch = try Scratch()
        let worker = WorkerProcess(scratch: scratch, policies: [seedPolicy])
        try worker.start()
        let before = try TestClient()
        let id = try before.call(
            prefix: worker.prefix,
            tool: "transfer_funds",
            messageID: "t-1",
            correlationID: "c-old"
        )
        let pending = try before.reply(to: id)
        let requestID = try #require(pending.string("request_id"))
        before.close()  // its queue is gone
        let after = try TestClient()
        defer { after.close() }
        let retry = try after.call(
            prefix: worker.prefix,
            tool: "transfer_funds",
            messageID: "t-1",
            correlationID: "c-new"
        )
        #expect(try after.reply(to: retry).string("decision") == "pending")
        let manager = try TestClient(user: "manager@corp.com")
        defer { manager.close() }
        try manager.vote(prefix: worker.prefix, requestID: requestID, decision: "approve")
        let final = try after.finalDecision(to: retry)
        #expect(final.string("decision") == "allow")
        #expect(final.string("correlation_id") == "c-new")
        worker.terminate()
    }

    @Test("tollgate call --wait on a call still pending says so, with its deadline, and exits 3")
    func callWaitPending() throws {
        let scratch = try Scratch()
        let worker = WorkerProcess(scratch: scratch, policies: [seedPolicy])
        try worker.start()
        let result = try runTollgate([
            "call", "--agent", "finance-agent", "--tool", "transfer_funds", "--wait", "1",
            "--prefix", worker.prefix, "--amqp-url", Broker.url.description(withPassword: true),
        ])
        #expect(result.status == 3)
        #expect(result.output.contains("still pending after 1 s (deadline 20"), "\(result.output)")
        #expect(!result.output.contains("is a worker running"))
        worker.terminate()
    }

    @Test("the last progress line says what happened in total")
    func progressTotals() throws {
        let scratch = try Scratch()
        let worker = WorkerProcess(scratch: scratch, policies: [seedPolicy])
        try worker.start()
        let agent = try TestClient()
        defer { agent.close() }
        var ids = Set<String>()
        for _ in 0..<5 { ids.insert(try agent.call(prefix: worker.prefix, tool: "search_documents")) }
        try agent.awaitAll(ids)
        Thread.sleep(forTimeInterval: 1.5)
        #expect(worker.terminate() == 0)
        let last = try #require(worker.log.split(separator: "\n").last { $0.contains("progress") })
        #expect(last.contains("calls_total=5"), "\(last)")
        #expect(last.contains("allow_total=5"), "\(last)")
    }
}

@Suite("Wall-clock steps", .serialized)
struct ClockStepTests {
    @Test(
        "a pending deadline keeps its wait when the wall clock steps back or forward an hour",
        arguments: [-3_600_000, 3_600_000]
    )
    func step(offset: Int) throws {
        let scratch = try Scratch()
        let offsetFile = try scratch.write("clock-offset", "0")
        // The worker's wall clock is the system's plus the milliseconds in the file.
        let worker = WorkerProcess(
            scratch: scratch,
            policies: [try shortDeadlinePolicy(scratch, seconds: 4)],
            environment: ["TOLLGATE_FAULT": "clock-offset-file:\(offsetFile)"]
        )
        try worker.start()
        let agent = try TestClient()
        defer { agent.close() }
        let id = try agent.call(prefix: worker.prefix, tool: "transfer_funds")
        #expect(try agent.reply(to: id).string("decision") == "pending")
        let parkedAt = ContinuousClock.now
        try scratch.write("clock-offset", "\(offset)")
        let final = try agent.finalDecision(to: id, timeout: .seconds(20))
        let waited = ContinuousClock.now - parkedAt
        #expect(final.string("resolution") == "timeout")
        #expect(waited >= .seconds(3), "decided after \(waited): the step cut the wait short")
        #expect(waited <= .seconds(12), "decided after \(waited): the step lengthened the wait")
        #expect(worker.log.contains("the wall clock stepped"), "\(worker.log.suffix(500))")
        worker.terminate()
    }
}

/// A small tmpfs for the database, mounted and unmounted by the test (needs root).
final class SmallDisk {
    let path: String
    init(_ scratch: Scratch, megabytes: Int) throws {
        path = scratch.path("disk")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard system("mount -t tmpfs -o size=\(megabytes)m tmpfs '\(path)'") == 0 else {
            throw BrokerTestError("cannot mount a tmpfs at \(path)")
        }
    }
    deinit { _ = system("umount -l '\(path)'") }

    func fill() { _ = system("dd if=/dev/zero of='\(path)/filler' bs=64k >/dev/null 2>&1") }
    func free() { _ = system("rm -f '\(path)/filler'") }
    func remount(readOnly: Bool) { _ = system("mount -o remount,\(readOnly ? "ro" : "rw") '\(path)'") }
}

@Suite("A database that cannot be written", .serialized, .enabled(if: getuid() == 0))
struct DiskFaultTests {
    @Test("a full disk stops the taking of work, says why, and the worker carries on when space is back")
    func fullDisk() throws {
        let scratch = try Scratch()
        let disk = try SmallDisk(scratch, megabytes: 8)
        let worker = WorkerProcess(scratch: scratch, policies: [seedPolicy], arguments: ["--db", "\(disk.path)/w1.db"])
        try worker.start()
        let agent = try TestClient()
        defer { agent.close() }
        #expect(
            try agent.reply(to: try agent.call(prefix: worker.prefix, tool: "search_documents")).string("decision")
                == "allow"
        )
        disk.fill()
        var ids = Set<String>()
        for n in 0..<3_000 {
            ids.insert(
                try agent.call(
                    prefix: worker.prefix,
                    agent: "a\(n % 5)",
                    tool: "search_documents",
                    reason: String(repeating: "x", count: 400)
                )
            )
        }
        #expect(worker.waitForLog("cannot write the database", timeout: .seconds(30)), "\(worker.log.suffix(800))")
        // Held full for longer than several probes: a probe may find room for its one row while
        // a batch finds none (the proof suite's disk-full fault saw the worker take work, fail,
        // and put the inputs back every 0.5 s until their delivery limit dead-lettered them).
        try agent.drain(for: .seconds(15))
        let answeredWhileFull = Set(agent.messages().compactMap(\.correlationID)).intersection(ids).count
        #expect(answeredWhileFull < ids.count, "the disk never filled up")
        #expect(worker.isRunning, "the worker must not exit")
        disk.free()
        let replies = try agent.awaitAll(ids, timeout: .seconds(60))
        let answered = Set(replies.compactMap(\.correlationID)).intersection(ids)
        #expect(answered == ids, "calls lost: \(ids.count - answered.count)")
        let refused = replies.filter { $0.string("resolution") == "invalid" }
        #expect(refused.isEmpty, "good calls refused: \(refused.prefix(3).map { $0.string("reason") ?? "-" })")
        #expect(!worker.log.contains("without being settled"), "inputs were put back until their delivery limit")
        for id in ids.prefix(200) {
            #expect(Set(agent.messages(correlation: id).compactMap { $0.string("request_id") }).count == 1)
        }
        #expect(worker.log.contains("the database can be written again"))
        #expect(worker.isRunning)
        worker.terminate()
    }

    @Test("a database on a file system that is read-only from the start: no work taken until it is writable")
    func readOnlyAtStart() throws {
        let scratch = try Scratch()
        let disk = try SmallDisk(scratch, megabytes: 16)
        let worker = WorkerProcess(scratch: scratch, policies: [seedPolicy], arguments: ["--db", "\(disk.path)/w1.db"])
        try worker.start()
        #expect(worker.terminate() == 0)
        disk.remount(readOnly: true)
        try worker.start(waitUntilConsuming: false)
        let agent = try TestClient()
        defer { agent.close() }
        let id = try agent.call(prefix: worker.prefix, tool: "delete_database")
        #expect(worker.waitForLog("cannot write the database", timeout: .seconds(20)), "\(worker.log.suffix(800))")
        try agent.drain(for: .seconds(1))
        #expect(agent.messages(correlation: id).isEmpty, "nothing answered that is not recorded")
        #expect(worker.isRunning, "\(worker.log.suffix(2000))")
        disk.remount(readOnly: false)
        // The worker probes the file with a backoff of up to 15 s. (Under load a probe could
        // open the file while it was still read-only, and SQLite then kept it read-only after
        // the remount: the worker never recovered. It now lets go of the file after every failed
        // probe.) The worker's log when the answer is missed.
        let answer = try? agent.reply(to: id, timeout: .seconds(40))
        #expect(answer?.string("decision") == "deny", "\(worker.log.suffix(3000))")
        worker.terminate()
    }

    @Test(
        "a file system that turns read-only under the worker (ext4 errors=remount-ro): it lets go of the file, and carries on once it is repaired and mounted again",
        .enabled(if: FileManager.default.fileExists(atPath: "/dev/loop-control"))
    )
    func emergencyReadOnly() throws {
        let scratch = try Scratch()
        let image = scratch.path("fs.img")
        let mountPoint = scratch.path("fs")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        #expect(system("dd if=/dev/zero of='\(image)' bs=1M count=32 2>/dev/null && mkfs.ext4 -q '\(image)'") == 0)
        func mount() -> Bool { system("mount -o loop,errors=remount-ro '\(image)' '\(mountPoint)'") == 0 }
        guard mount() else {
            Issue.record("cannot loop-mount an ext4 image here")
            return
        }
        defer { _ = system("umount -l '\(mountPoint)' 2>/dev/null") }
        let device = try String(contentsOfFile: "/proc/mounts", encoding: .utf8).split(separator: "\n")
            .first { $0.contains(" \(mountPoint) ") }?.split(separator: " ").first.map {
                String($0.split(separator: "/").last ?? "")
            }
        let worker = WorkerProcess(
            scratch: scratch,
            policies: [seedPolicy],
            arguments: ["--db", "\(mountPoint)/w1.db"]
        )
        try worker.start()
        let agent = try TestClient()
        defer { agent.close() }
        #expect(
            try agent.reply(to: try agent.call(prefix: worker.prefix, tool: "search_documents")).string("decision")
                == "allow"
        )
        // An I/O error as ext4 would see one: the file system goes read-only.
        #expect(system("echo 1 > /sys/fs/ext4/\(device ?? "?")/trigger_fs_error") == 0)
        let id = try agent.call(prefix: worker.prefix, tool: "delete_database")
        #expect(
            worker.waitForLog("closed the database until its file system can be written", timeout: .seconds(20)),
            "\(worker.log.suffix(800))"
        )
        #expect(agent.messages(correlation: id).isEmpty, "nothing answered that is not recorded")
        // The operator repairs it: possible only because the worker let go of the file.
        #expect(system("umount '\(mountPoint)'") == 0, "the worker still holds the file")
        _ = system("e2fsck -fy '\(image)' >/dev/null 2>&1")
        #expect(mount())
        #expect(try agent.reply(to: id, timeout: .seconds(40)).string("decision") == "deny")
        #expect(worker.log.contains("the database can be written again"))
        #expect(worker.isRunning)
        worker.terminate()
    }
}
