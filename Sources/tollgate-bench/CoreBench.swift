import ArgumentParser
import Foundation
import Logging
import TollgateStore
import TollgateWorker

/// `tollgate-bench core`: the worker's own CPU per decision without a broker. The decision
/// core (`OfflineDecisions`: the worker's `Gate` and store) decides the `worker` benchmark's
/// tool calls in batches, one committed transaction per batch, on one thread; CPU time of that
/// thread per decision, and wall time. What the broker costs is left out, and so is the AMQP
/// side of the worker (reading deliveries, publishing, confirms, acks): `tollgate-bench worker`
/// measures the whole.
struct CoreBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "core",
        abstract: "The worker's decision core without a broker: CPU per decision on one thread.",
        discussion: """
            Tool calls of the worker benchmark (the seed policy, 1,000 agents, 3:1 allow:deny, unique \
            message ids, 256-byte bodies) decided in batches of --batch, one committed transaction each, \
            in a new database in the temporary folder, synced on the store's threads as in the worker. \
            Prints, per run, decisions/s (until the last batch is on disk), the deciding thread's CPU \
            (user and system) per decision, and the whole process's; the median run last. Steadier than the end-to-end benchmark, \
            so it is the one to compare two builds of the worker with.
            """
    )

    @Option(help: "Tool calls per run.") var calls = 100_000
    @Option(help: "Calls per transaction (the worker's batches are 50-200 at full speed).") var batch = 100
    @Option(help: "Calls decided first in each run and not measured.") var warmup = 10_000
    @Option(help: "Runs (each with a new database).") var runs = 3
    @Option(
        help:
            "Calls decided into each new database before the warm-up, in transactions of 1,000: a worker that has kept a week of call records works on a large database."
    )
    var prefill = 0
    @Option(help: "full or normal.") var durability = "full"
    @Option(help: "Distinct agent ids.") var agents = 1000
    @Option(help: "Body size in bytes.") var bodyBytes = 256
    @Option(help: "Policy file.") var policy = "policies/approval-workflow.yaml"
    @Flag(help: "Print the result as one JSON object.") var json = false

    func run() throws {
        guard let durability = StoreDurability(rawValue: durability) else {
            throw ValidationError("unknown durability '\(durability)': use full or normal")
        }
        guard batch > 0, calls > 0 else { throw ValidationError("--calls and --batch must be at least 1") }
        var logger = Logger(label: "tollgate-bench")
        logger.logLevel = .warning
        let loaded = try LoadedPolicy.load(paths: [policy])
        var results: [CoreRun] = []
        for run in 1...max(1, runs) {
            let result = try measure(loaded, durability: durability, logger: logger)
            if !json {
                print(
                    String(
                        format:
                            "run %d: %.0f decisions/s, thread CPU %.1f µs/decision (user %.1f, system %.1f); process (sync and checkpoint threads too) %.1f µs",
                        run,
                        result.perSecond,
                        result.cpuMicros,
                        result.userMicros,
                        result.systemMicros,
                        result.processMicros
                    )
                )
            }
            results.append(result)
        }
        let median = results.sorted { $0.cpuMicros < $1.cpuMicros }[results.count / 2]
        if json {
            let object: [String: Any] = [
                "calls": calls, "batch": batch, "durability": durability.rawValue,
                "runs_cpu_us_per_decision": results.map { ($0.cpuMicros * 10).rounded() / 10 },
                "runs_decisions_per_second": results.map { $0.perSecond.rounded() },
                "cpu_us_per_decision": (median.cpuMicros * 10).rounded() / 10,
                "process_cpu_us_per_decision": (median.processMicros * 10).rounded() / 10,
                "decisions_per_second": median.perSecond.rounded(),
                "messages_per_decision": median.messagesPerDecision,
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(
                String(
                    format:
                        "core (%@ durability, batches of %d, %d calls): median %.1f µs of thread CPU per decision, %.0f decisions/s; %.2f messages per decision",
                    durability.rawValue,
                    batch,
                    calls,
                    median.cpuMicros,
                    median.perSecond,
                    median.messagesPerDecision
                )
            )
        }
    }

    private func measure(_ loaded: LoadedPolicy, durability: StoreDurability, logger: Logger) throws -> CoreRun {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tgcore-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var configuration = WorkerConfiguration()
        configuration.workerID = "bench"
        configuration.databasePath = folder.appendingPathComponent("core.db").path
        configuration.durability = durability
        let core = try OfflineDecisions(configuration: configuration, policy: loaded, logger: logger)
        let mix = ToolCallMix(agents: agents, bodyBytes: bodyBytes, tag: "core", tools: ToolCallMix.allowAndDeny)
        let all = (0..<(warmup + calls)).map { index in
            OfflineDecisions.Call(
                body: mix.body(index),
                agentID: mix.agent(index),
                messageID: mix.messageID(index),
                replyTo: "replies",
                correlationID: "c\(index)"
            )
        }
        let now = Millis(Date().timeIntervalSince1970 * 1000)
        if prefill > 0 {
            let old = ToolCallMix(agents: agents, bodyBytes: bodyBytes, tag: "prefill", tools: ToolCallMix.allowAndDeny)
            for start in stride(from: 0, to: prefill, by: 1000) {
                let chunk = (start..<min(prefill, start + 1000)).map { index in
                    OfflineDecisions.Call(
                        body: old.body(index),
                        agentID: old.agent(index),
                        messageID: old.messageID(index),
                        replyTo: "replies",
                        correlationID: "p\(index)"
                    )
                }
                _ = try core.decide(chunk, now: now - 3_600_000)
            }
        }
        for start in stride(from: 0, to: warmup, by: batch) {
            _ = try core.decide(Array(all[start..<min(warmup, start + batch)]), now: now)
        }
        try core.waitForDurability()
        var messages = 0
        let before = ThreadCPU.now()
        let processBefore = CPUSnapshot.now()
        let clock = ContinuousClock.now
        for start in stride(from: warmup, to: all.count, by: batch) {
            messages += try core.decide(Array(all[start..<min(all.count, start + batch)]), now: now).messages
        }
        let after = ThreadCPU.now()
        try core.waitForDurability()
        let elapsed = ContinuousClock.now - clock
        let process = processBefore.until(CPUSnapshot.now())
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return CoreRun(
            perSecond: Double(calls) / seconds,
            userMicros: (after.user - before.user) * 1e6 / Double(calls),
            systemMicros: (after.system - before.system) * 1e6 / Double(calls),
            processMicros: process.processSeconds * 1e6 / Double(calls),
            messagesPerDecision: Double(messages) / Double(calls)
        )
    }
}

private struct CoreRun {
    var perSecond: Double
    var userMicros: Double
    var systemMicros: Double
    /// The whole process: the deciding thread, and the store's sync and checkpoint threads.
    var processMicros: Double
    var messagesPerDecision: Double
    var cpuMicros: Double { userMicros + systemMicros }
}

/// The calling thread's CPU time so far (`RUSAGE_THREAD`).
private struct ThreadCPU {
    var user: Double
    var system: Double

    static func now() -> ThreadCPU {
        var usage = rusage()
        // RUSAGE_THREAD (Linux): the calling thread only.
        getrusage(__rusage_who_t(1), &usage)
        return ThreadCPU(
            user: Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6,
            system: Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        )
    }
}
