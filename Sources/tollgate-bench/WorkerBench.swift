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
    @Option(help: "Prefetch of the relay and the worker (the worker's default).") var prefetch: UInt16 = 1000
    @Option(help: "Unconfirmed publishes the load generator keeps in flight.") var confirmWindow = 1000
    @Option(help: "Messages per second to offer (default: as fast as confirms allow).") var rate: Double?
    @Option(help: "Messages published but not yet answered, at most (0: no limit).") var inFlight = 0
    @Option(help: "Messages sent first to each relay and worker and not measured.") var warmup = 10_000
    @Option(help: "Distinct agent ids (routing keys).") var agents = 1000
    @Option(help: "Worker durabilities to measure, comma-separated: full, normal.") var durability = "full,normal"
    @Option(help: "Decision feed forms to measure, comma-separated: batch, each, off (--decision-feed of the worker).")
    var decisionFeed = "batch"
    @Flag(
        help:
            "Bind a quorum queue to <prefix>.decisions (#) as an audit pipeline would, drain it after the load and check that it holds every decision."
    )
    var feedObserver = false
    @Option(
        help:
            "After each full-speed measurement, offer paced loads at these fractions of the rate it measured, for latency percentiles (comma-separated, e.g. 0.1,0.5,0.9; empty: none)."
    )
    var latencyLoads = ""
    @Option(help: "Seconds of each paced load for --latency-loads.") var latencySeconds = 10.0
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
        let feeds = try decisionFeed.split(separator: ",").map { text -> DecisionFeedForm in
            guard let f = DecisionFeedForm(rawValue: text.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("unknown decision feed '\(text)': use batch, each or off")
            }
            return f
        }
        let fractions = try latencyLoads.split(separator: ",").map { text -> Double in
            guard let f = Double(text.trimmingCharacters(in: .whitespaces)), f > 0, f <= 1 else {
                throw ValidationError("--latency-loads takes fractions in (0, 1], not '\(text)'")
            }
            return f
        }
        let configurations = durabilities.flatMap { d in feeds.map { WorkerSetup(durability: d, feed: $0) } }
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
            for setup in configurations {
                result.workers.append(
                    try await measureWorker(setup, fractions: fractions, connection: connection, logger: logger)
                )
            }
            if !json { print(result.line(run: run)) }
            runResults.append(result)
        }
        let report = WorkerBenchReport(
            command: self,
            setups: configurations,
            runs: runResults,
            machine: machineSummary(brokerVersion: brokerVersion)
        )
        print(json ? report.json : report.table)
        let incomplete = runResults.contains { run in
            (run.relay.map { $0.replies < messages } ?? false)
                || run.workers.contains { $0.load.replies < messages || !($0.feedCheck?.complete ?? true) }
        }
        if incomplete { throw ExitCode(1) }
    }

    private func measureWorker(
        _ setup: WorkerSetup,
        fractions: [Double],
        connection: AMQPConfiguration,
        logger: Logger
    ) async throws -> WorkerMeasurement {
        let worker = try InProcessWorker(
            amqpURL: amqpURL,
            policy: policy,
            durability: setup.durability,
            prefetch: prefetch,
            maxBatch: maxBatch,
            receipts: receipts ? ReceiptSigner(key: .init(), ttlSeconds: 300, workerID: "bench") : nil,
            decisionFeed: setup.feed
        )
        defer { worker.removeFiles() }
        let outcome: Result<WorkerMeasurement, any Error>
        do {
            let startup = try await worker.start()
            let memoryIdle = MemoryUsage.now()
            let observer = FeedObserver(topology: worker.topology, connection: connection, logger: logger)
            if feedObserver { try await observer.bind() }
            var sent = 0
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
                sent += warmup
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
            let memoryLoaded = MemoryUsage.now()
            let after = worker.control.status.counters
            sent += messages
            var measurement = WorkerMeasurement(
                setup: setup,
                startup: startup,
                load: load,
                counters: after.minus(before),
                cpu: cpu,
                memoryIdle: memoryIdle,
                memoryLoaded: memoryLoaded
            )
            for (n, fraction) in fractions.enumerated() {
                let offered = max(1, load.messagesPerSecond * fraction)
                let count = max(100, Int(offered * latencySeconds))
                let paced = ToolCallMix(
                    agents: agents,
                    bodyBytes: bodyBytes,
                    tag: "p\(n)",
                    tools: ToolCallMix.allowAndDeny
                )
                let result = try await paced.load(
                    topology: worker.topology,
                    connection: connection,
                    messages: count,
                    confirmWindow: confirmWindow,
                    rate: offered,
                    logger: logger
                ).run()
                sent += count
                measurement.paced.append(PacedMeasurement(fraction: fraction, offered: offered, load: result))
            }
            if feedObserver {
                let count = try await observer.drain()
                measurement.feedCheck = FeedCheck(expected: setup.feed == .off ? 0 : sent, found: count)
            }
            outcome = .success(measurement)
        } catch {
            outcome = .failure(error)
        }
        try await worker.stop()
        await worker.deleteTopology(connection: connection, logger: logger)
        return try outcome.get()
    }
}

/// One worker configuration measured by `tollgate-bench worker`.
struct WorkerSetup: Sendable, Equatable {
    var durability: StoreDurability
    var feed: DecisionFeedForm
    var label: String { "\(durability.rawValue)/\(feed.rawValue)" }
}

/// A paced load at a fraction of the measured maximum, for latency.
struct PacedMeasurement: Sendable {
    var fraction: Double
    var offered: Double
    var load: LoadGenerator.Result
}

/// What the feed observer found against the decisions the worker was sent.
struct FeedCheck: Sendable {
    var expected: Int
    var found: FeedObserver.Count
    var complete: Bool { found.decisions == expected && found.malformed == 0 }
    var text: String {
        "feed: \(found.decisions) decisions of \(expected) in \(found.messages) messages"
            + (found.malformed > 0 ? ", \(found.malformed) malformed" : "") + (complete ? "" : "  INCOMPLETE")
    }
}

struct WorkerMeasurement: Sendable {
    var setup: WorkerSetup
    var startup: Duration
    var load: LoadGenerator.Result
    /// What the worker decided during the measured load.
    var counters: WorkerCounters
    var cpu: CPUUsage
    /// This process (the worker and the load generator): after start-up, and after the load.
    var memoryIdle: MemoryUsage
    var memoryLoaded: MemoryUsage
    var paced: [PacedMeasurement] = []
    var feedCheck: FeedCheck?
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
                "worker \(w.setup.label) \(rateText(w.load.messagesPerSecond)) decisions/s"
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
    var setups: [WorkerSetup]
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

    private func medianWorker(_ d: WorkerSetup) -> WorkerMeasurement? {
        medianRun(runs.map { $0.workers.first { $0.setup == d } }) { $0.load.messagesPerSecond }
    }

    private func ratios(_ d: WorkerSetup) -> [Double] {
        runs.compactMap { run in run.workers.first { $0.setup == d }.flatMap { run.ratio($0) } }
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
        for d in setups {
            guard let w = medianWorker(d) else { continue }
            let r = ratios(d)
            let ratioText = r.isEmpty ? "    -" : String(format: "%5.2f", median(r))
            lines.append(
                "  worker \(pad(d.label, -12)) \(pad(rateText(w.load.messagesPerSecond), 6))   \(ratioText)   \(w.load.latency.summary)"
            )
            lines.append(
                "                       decided: \(w.counters.decisionsText); replies \(w.load.replies) of \(c.messages), duplicates \(w.load.duplicateReplies); start-up \(String(format: "%.0f", w.startup.seconds * 1000)) ms"
            )
            lines.append("                       CPU: \(w.cpu.perMessage(c.messages))")
            lines.append(
                "                       memory (this process): idle \(w.memoryIdle.text), after the load \(w.memoryLoaded.text)"
            )
            if let check = w.feedCheck { lines.append("                       \(check.text)") }
            for p in w.paced {
                lines.append(
                    "                       at \(Int((p.fraction * 100).rounded()))% (\(rateText(p.offered))/s offered, \(rateText(p.load.messagesPerSecond))/s done): \(p.load.latency.tailSummary)"
                )
            }
        }
        if runs.count > 1 {
            lines.append("")
            if runs.first?.relay != nil {
                lines.append(
                    "  relay runs          "
                        + runs.compactMap(\.relay).map { rateText($0.messagesPerSecond) }.joined(separator: " ")
                )
            }
            for d in setups {
                let values = runs.compactMap { $0.workers.first { $0.setup == d } }
                lines.append(
                    "  worker \(pad(d.label, -12)) runs "
                        + values.map { rateText($0.load.messagesPerSecond) }.joined(separator: " ")
                )
                let r = ratios(d)
                if !r.isEmpty {
                    lines.append(
                        "  ratio \(pad(d.label, -12))  runs "
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
        for d in setups {
            guard let w = medianWorker(d) else { continue }
            var o = loadObject(w.load)
            o["ratio_to_relay"] = ratios(d).isEmpty ? nil : median(ratios(d))
            o["startup_ms"] = w.startup.seconds * 1000
            o["cpu"] = w.cpu.json(c.messages)
            o["allowed"] = w.counters.allowed
            o["denied"] = w.counters.denied
            o["limited"] = w.counters.limited
            o["rss_idle_kib"] = w.memoryIdle.residentKiB
            o["rss_loaded_kib"] = w.memoryLoaded.residentKiB
            if let check = w.feedCheck {
                o["feed"] = [
                    "expected": check.expected, "decisions": check.found.decisions, "messages": check.found.messages,
                    "malformed": check.found.malformed,
                ]
            }
            o["paced"] = w.paced.map { p -> [String: Any] in
                [
                    "fraction": p.fraction, "offered_per_second": p.offered.rounded(),
                    "messages_per_second": p.load.messagesPerSecond.rounded(), "latency_ms": p.load.latency.jsonMillis,
                ]
            }
            medians["worker_\(d.label)"] = o
        }
        let object: [String: Any] = [
            "benchmark": "worker", "machine": machine, "messages": c.messages, "body_bytes": c.bodyBytes,
            "prefetch": Int(c.prefetch), "confirm_window": c.confirmWindow, "rate": c.rate as Any, "warmup": c.warmup,
            "agents": c.agents, "policy": c.policy, "runs": runs.count, "median": medians,
            "runs_messages_per_second": runs.map { run -> [String: Any] in
                var o: [String: Any] = [:]
                if let relay = run.relay { o["relay"] = (relay.messagesPerSecond * 10).rounded() / 10 }
                for w in run.workers {
                    o["worker_\(w.setup.label)"] = (w.load.messagesPerSecond * 10).rounded() / 10
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
