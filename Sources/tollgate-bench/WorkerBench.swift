import ArgumentParser
import Crypto
import Foundation
import Logging
import TollgateAMQP
import TollgateStore
import TollgateWorker

/// `tollgate-bench worker`: decisions per second of the worker end to end, against the relay
/// baseline measured in the same run on the same broker.
struct WorkerBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Measure the worker end to end (tool call -> decision) against the relay baseline of the same run.",
        discussion: """
            Each run measures the relay (tollgate-bench relay, same settings), then for each --durability a \
            fresh worker in this process (WorkerService, a new topology prefix and a new database in the \
            temporary folder) under the seed policy: persistent tool calls to <prefix>.toolcalls (routing \
            key = agent_id, --agents agents, a unique message_id each, reply_to), allowed and denied, no \
            escalations. Decisions/s = replies / (first publish -> last reply). The target: the worker at \
            80% of the relay or more. Needs a broker (deploy/broker.sh start).
            """
    )

    @Option(help: "Tool calls to send per measurement.") var messages = 200_000
    @Option(help: "Body size in bytes (relay and tool calls).") var bodyBytes = 256
    @Option(help: "Prefetch of the relay and the worker.") var prefetch: UInt16 = 200
    @Option(help: "Unconfirmed publishes the load generator keeps in flight.") var confirmWindow = 1000
    @Option(help: "Messages per second to offer (default: as fast as confirms allow).") var rate: Double?
    @Option(help: "Messages published but not yet answered, at most (0: no limit).") var inFlight = 0
    @Option(help: "Messages sent first to each relay and worker and not measured.") var warmup = 10_000
    @Option(help: "Distinct agent ids (routing keys).") var agents = 1000
    @Option(help: "Worker durabilities to measure, comma-separated: full, normal.") var durability = "full,normal"
    @Option(help: "Policy file.") var policy = "policies/approval-workflow.yaml"
    @Option(help: "The worker's maxBatch (inputs per SQLite transaction; default the worker's).") var maxBatch: Int?
    @Option(help: "Broker URL (amqp:// or amqps://).") var amqpURL = "amqp://guest:guest@127.0.0.1:5672/"
    @Option(help: "Repeat everything this many times and report the medians (the broker is noisy).") var runs = 1
    @Flag(help: "Skip the relay baseline (for profiling the worker).") var noRelay = false
    @Flag(help: "Sign a receipt into every allow (an ephemeral Ed25519 key), as --receipt-key does.") var receipts =
        false
    @Flag(help: "Print the result as one JSON object.") var json = false

    func run() async throws {
        var logger = Logger(label: "tollgate-bench")
        logger.logLevel = .warning
        let connection = AMQPConfiguration(url: try AMQPURL(parsing: amqpURL))
        let durabilities = try durability.split(separator: ",").map { text -> StoreDurability in
            guard let d = StoreDurability(rawValue: text.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("unknown durability '\(text)': use full or normal")
            }
            return d
        }
        guard FileManager.default.fileExists(atPath: policy) else {
            throw ValidationError("no policy at \(policy): run from the package root or give --policy")
        }

        var runResults: [WorkerBenchRun] = []
        var brokerVersion = "?"
        for run in 1...max(1, runs) {
            var result = WorkerBenchRun()
            if !noRelay {
                let relay = try await runRelayBenchmark(
                    connection: connection,
                    messages: messages,
                    bodyBytes: bodyBytes,
                    prefetch: prefetch,
                    confirmWindow: confirmWindow,
                    rate: rate,
                    inFlight: inFlight > 0 ? inFlight : nil,
                    warmup: warmup,
                    logger: logger
                )
                brokerVersion = relay.brokerVersion
                result.relay = relay.load
                result.relayCPU = relay.cpu
            }
            for d in durabilities {
                result.workers.append(try await measureWorker(durability: d, connection: connection, logger: logger))
            }
            if !json { print(result.line(run: run)) }
            runResults.append(result)
        }
        let report = WorkerBenchReport(
            command: self,
            durabilities: durabilities,
            runs: runResults,
            machine: machineSummary(brokerVersion: brokerVersion)
        )
        print(json ? report.json : report.table)
        let incomplete = runResults.contains { run in
            (run.relay.map { $0.replies < messages } ?? false) || run.workers.contains { $0.load.replies < messages }
        }
        if incomplete { throw ExitCode(1) }
    }

    private func measureWorker(
        durability: StoreDurability,
        connection: AMQPConfiguration,
        logger: Logger
    ) async throws -> WorkerMeasurement {
        let worker = try InProcessWorker(
            amqpURL: amqpURL,
            policy: policy,
            durability: durability,
            prefetch: prefetch,
            maxBatch: maxBatch,
            receipts: receipts ? ReceiptSigner(key: .init(), ttlSeconds: 300, workerID: "bench") : nil
        )
        defer { worker.removeFiles() }
        let outcome: Result<WorkerMeasurement, any Error>
        do {
            let startup = try await worker.start()
            if warmup > 0 {
                let mix = ToolCallMix(
                    agents: agents,
                    bodyBytes: bodyBytes,
                    tag: "warm",
                    tools: ToolCallMix.allowAndDeny
                )
                _ = try await mix.load(
                    topology: worker.topology,
                    connection: connection,
                    messages: warmup,
                    confirmWindow: confirmWindow,
                    logger: logger
                ).run()
            }
            let before = worker.control.status.counters
            let cpuBefore = CPUSnapshot.now()
            let mix = ToolCallMix(agents: agents, bodyBytes: bodyBytes, tag: "m", tools: ToolCallMix.allowAndDeny)
            let load = try await mix.load(
                topology: worker.topology,
                connection: connection,
                messages: messages,
                confirmWindow: confirmWindow,
                rate: rate,
                inFlight: inFlight > 0 ? inFlight : nil,
                logger: logger
            ).run()
            let cpu = cpuBefore.until(CPUSnapshot.now())
            let after = worker.control.status.counters
            outcome = .success(
                WorkerMeasurement(
                    durability: durability,
                    startup: startup,
                    load: load,
                    counters: after.minus(before),
                    cpu: cpu
                )
            )
        } catch {
            outcome = .failure(error)
        }
        try await worker.stop()
        await worker.deleteTopology(connection: connection, logger: logger)
        return try outcome.get()
    }
}

struct WorkerMeasurement: Sendable {
    var durability: StoreDurability
    var startup: Duration
    var load: LoadGenerator.Result
    /// What the worker decided during the measured load.
    var counters: WorkerCounters
    var cpu: CPUUsage
}

struct WorkerBenchRun: Sendable {
    var relay: LoadGenerator.Result?
    var relayCPU: CPUUsage?
    var workers: [WorkerMeasurement] = []

    func ratio(_ worker: WorkerMeasurement) -> Double? {
        guard let relay, relay.messagesPerSecond > 0 else { return nil }
        return worker.load.messagesPerSecond / relay.messagesPerSecond
    }

    func line(run: Int) -> String {
        var parts: [String] = []
        if let relay { parts.append("relay \(rateText(relay.messagesPerSecond)) msg/s") }
        for w in workers {
            parts.append(
                "worker \(w.durability.rawValue) \(rateText(w.load.messagesPerSecond)) decisions/s"
                    + (ratio(w).map { String(format: " (%.2f)", $0) } ?? "")
            )
        }
        return "run \(run): " + parts.joined(separator: " | ")
    }
}

extension WorkerCounters {
    func minus(_ other: WorkerCounters) -> WorkerCounters {
        var d = WorkerCounters()
        d.allowed = allowed - other.allowed
        d.denied = denied - other.denied
        d.escalated = escalated - other.escalated
        d.invalid = invalid - other.invalid
        d.limited = limited - other.limited
        d.duplicates = duplicates - other.duplicates
        d.unroutable = unroutable - other.unroutable
        d.publishNacks = publishNacks - other.publishNacks
        return d
    }

    var decisionsText: String {
        "allow \(allowed), deny \(denied), limit \(limited), invalid \(invalid), escalated \(escalated)"
    }
}

struct WorkerBenchReport {
    var command: WorkerBenchCommand
    var durabilities: [StoreDurability]
    var runs: [WorkerBenchRun]
    var machine: [String: String]

    /// The run whose value is the median of `value` (nil values left out).
    private func medianRun<T>(_ values: [T?], by rate: (T) -> Double) -> T? {
        let present = values.compactMap { $0 }.sorted { rate($0) < rate($1) }
        return present.isEmpty ? nil : present[(present.count - 1) / 2]
    }

    private var medianRelayRun: WorkerBenchRun? {
        medianRun(runs.map { $0.relay == nil ? nil : $0 }) { $0.relay?.messagesPerSecond ?? 0 }
    }
    private var medianRelay: LoadGenerator.Result? { medianRelayRun?.relay }

    private func medianWorker(_ d: StoreDurability) -> WorkerMeasurement? {
        medianRun(runs.map { $0.workers.first { $0.durability == d } }) { $0.load.messagesPerSecond }
    }

    private func ratios(_ d: StoreDurability) -> [Double] {
        runs.compactMap { run in run.workers.first { $0.durability == d }.flatMap { run.ratio($0) } }
    }

    var table: String {
        let c = command
        var lines = [
            "tollgate-bench worker: tool call -> decision, against the relay of the same run",
            "  machine     \(machine["nproc"] ?? "?") cores, \(machine["cpu"] ?? "?"), \(machine["memory_gib"] ?? "?") GiB, Linux \(machine["kernel"] ?? "?"), RabbitMQ \(machine["rabbitmq"] ?? "?")",
            "  load        \(c.messages) x \(c.bodyBytes) B persistent, quorum queues, prefetch \(c.prefetch), confirm window \(c.confirmWindow), rate \(c.rate.map { "\(Int($0))/s" } ?? "unlimited"), warm-up \(c.warmup)",
            "  worker      in-process WorkerService, \(c.policy), \(c.agents) agents, unique message_id, maxBatch \(c.maxBatch.map(String.init) ?? "256")",
            "  runs        \(runs.count) (medians below; the worker/relay ratio is the median of the per-run ratios)",
            "",
            "  what                 msg/s    ratio   latency (first publish -> reply)",
        ]
        if let relay = medianRelay {
            lines.append(
                "  relay           \(pad(rateText(relay.messagesPerSecond), 10))    1.00   \(relay.latency.summary)"
            )
            if let cpu = medianRelayRun?.relayCPU {
                lines.append("                       CPU: \(cpu.perMessage(c.messages))")
            }
        }
        for d in durabilities {
            guard let w = medianWorker(d) else { continue }
            let r = ratios(d)
            let ratioText = r.isEmpty ? "    -" : String(format: "%5.2f", median(r))
            lines.append(
                "  worker \(pad(d.rawValue, -8)) \(pad(rateText(w.load.messagesPerSecond), 10))   \(ratioText)   \(w.load.latency.summary)"
            )
            lines.append(
                "                       decided: \(w.counters.decisionsText); replies \(w.load.replies) of \(c.messages), duplicates \(w.load.duplicateReplies); start-up \(String(format: "%.0f", w.startup.seconds * 1000)) ms"
            )
            lines.append("                       CPU: \(w.cpu.perMessage(c.messages))")
        }
        if runs.count > 1 {
            lines.append("")
            if runs.first?.relay != nil {
                lines.append(
                    "  relay runs          "
                        + runs.compactMap(\.relay).map { rateText($0.messagesPerSecond) }.joined(separator: " ")
                )
            }
            for d in durabilities {
                let values = runs.compactMap { $0.workers.first { $0.durability == d } }
                lines.append(
                    "  worker \(pad(d.rawValue, -8)) runs "
                        + values.map { rateText($0.load.messagesPerSecond) }.joined(separator: " ")
                )
                let r = ratios(d)
                if !r.isEmpty {
                    lines.append(
                        "  ratio \(pad(d.rawValue, -8))  runs "
                            + r.map { String(format: "%.2f", $0) }.joined(separator: " ")
                    )
                }
            }
        }
        if c.rate == nil, c.inFlight == 0 {
            lines.append("")
            lines.append(
                "  (open loop at full speed: the input queue grows, so latency is mostly queueing; use --rate for latency at a load)"
            )
        }
        return lines.joined(separator: "\n")
    }

    var json: String {
        let c = command
        func loadObject(_ l: LoadGenerator.Result) -> [String: Any] {
            [
                "messages_per_second": (l.messagesPerSecond * 10).rounded() / 10, "replies": l.replies,
                "duplicates": l.duplicateReplies, "latency_ms": l.latency.jsonMillis,
                "publish_messages_per_second": (l.publishedPerSecond * 10).rounded() / 10,
            ]
        }
        var medians: [String: Any] = [:]
        if let relay = medianRelay {
            var o = loadObject(relay)
            o["cpu"] = medianRelayRun?.relayCPU?.json(c.messages)
            medians["relay"] = o
        }
        for d in durabilities {
            guard let w = medianWorker(d) else { continue }
            var o = loadObject(w.load)
            o["ratio_to_relay"] = ratios(d).isEmpty ? nil : median(ratios(d))
            o["startup_ms"] = w.startup.seconds * 1000
            o["cpu"] = w.cpu.json(c.messages)
            o["allowed"] = w.counters.allowed
            o["denied"] = w.counters.denied
            o["limited"] = w.counters.limited
            medians["worker_\(d.rawValue)"] = o
        }
        let object: [String: Any] = [
            "benchmark": "worker", "machine": machine, "messages": c.messages, "body_bytes": c.bodyBytes,
            "prefetch": Int(c.prefetch), "confirm_window": c.confirmWindow, "rate": c.rate as Any, "warmup": c.warmup,
            "agents": c.agents, "policy": c.policy, "runs": runs.count, "median": medians,
            "runs_messages_per_second": runs.map { run -> [String: Any] in
                var o: [String: Any] = [:]
                if let relay = run.relay { o["relay"] = (relay.messagesPerSecond * 10).rounded() / 10 }
                for w in run.workers {
                    o["worker_\(w.durability.rawValue)"] = (w.load.messagesPerSecond * 10).rounded() / 10
                }
                return o
            },
        ]
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}

/// Pads `text` to `width` characters: right-aligned for a positive width, left-aligned for a negative one.
func pad(_ text: String, _ width: Int) -> String {
    let missing = max(0, abs(width) - text.count)
    let spaces = String(repeating: " ", count: missing)
    return width >= 0 ? spaces + text : text + spaces
}
