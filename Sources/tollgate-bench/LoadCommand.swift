import ArgumentParser
import Foundation
import Logging
import Synchronization
import TollgateAMQP
import TollgateWorker

/// `tollgate-bench load`: the load of `tollgate-bench worker` offered to a topology that runs
/// elsewhere (`tollgate worker` processes, deploy/fleet.sh, any gate that speaks the wire
/// protocol), with the replies counted, and the CPU and resident memory of the processes named
/// by `--pid` measured over the load.
struct LoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Offer tool calls to <prefix>.toolcalls of running workers and count the replies.",
        discussion: """
            Publishes --warmup (not measured), then --messages persistent tool calls to the exchange \
            <prefix>.toolcalls (routing key = agent_id, --agents agents, a unique message_id each, reply_to a \
            private queue), allowed and denied under the seed policy, no escalations, with publisher \
            confirms (--confirm-window unconfirmed at most). Decisions/s = replies / (first publish -> last \
            reply). The workers must be running and consuming (e.g. deploy/fleet.sh start). CPU per \
            decision is measured for this process, the broker (beam.smp, when it runs here) and each --pid; \
            resident memory (VmRSS) of each --pid before the warm-up, before the load, at most during it \
            (sampled every 50 ms) and after it.
            """
    )

    @Option(help: "Prefix of the workers' topology.") var prefix = "tollgate"
    @Option(help: "Tool calls to send in the measurement.") var messages = 100_000
    @Option(help: "Tool calls sent first and not measured.") var warmup = 5_000
    @Option(help: "Distinct agent ids (routing keys).") var agents = 1000
    @Option(help: "Body size in bytes.") var bodyBytes = 256
    @Option(help: "Unconfirmed publishes kept in flight.") var confirmWindow = 1000
    @Option(help: "Messages per second to offer (default: as fast as confirms allow).") var rate: Double?
    @Option(help: "Messages published but not yet answered, at most (0: no limit).") var inFlight = 0
    @Option(help: "Message id and session prefix (distinct per run against the same workers).") var tag = "load"
    @Option(help: "A process to measure over the load (a worker's pid); repeatable.") var pid: [Int32] = []
    @Option(help: "Broker URL (amqp:// or amqps://).") var amqpURL = "amqp://guest:guest@127.0.0.1:5672/"
    @Flag(help: "Print the result as one JSON object.") var json = false

    func run() async throws {
        var quiet = Logger(label: "tollgate-bench")
        quiet.logLevel = .warning
        let logger = quiet
        let connection = AMQPConfiguration(url: try AMQPURL(parsing: amqpURL))
        let topology = Topology(prefix: prefix)
        let brokerVersion: String = try await onThread("load-setup") {
            let c = try AMQPConnection(configuration: connection, logger: logger)
            defer { c.close() }
            return c.serverProperties["version"]?.stringValue ?? "?"
        }
        let pids = pid
        let start = pids.map(ProcessSample.now)
        if warmup > 0 {
            let mix = ToolCallMix(
                agents: agents,
                bodyBytes: bodyBytes,
                tag: "\(tag)-warm",
                tools: ToolCallMix.allowAndDeny
            )
            let result = try await mix.load(
                topology: topology,
                connection: connection,
                messages: warmup,
                confirmWindow: confirmWindow,
                logger: logger
            ).run()
            guard result.replies == warmup else {
                throw BenchError(
                    "warm-up: \(result.replies) replies of \(warmup) (are the workers of \(prefix) running?)"
                )
            }
        }
        let before = pids.map(ProcessSample.now)
        let cpuBefore = CPUSnapshot.now()
        let stop = StopFlag()
        async let peaks = onThread("load-rss-sampler") { sampleResidentPeaks(pids, until: stop) }
        let decisions = DecisionTally()
        let mix = ToolCallMix(agents: agents, bodyBytes: bodyBytes, tag: tag, tools: ToolCallMix.allowAndDeny)
        let outcome: Result<LoadGenerator.Result, any Error>
        do {
            outcome = .success(
                try await mix.load(
                    topology: topology,
                    connection: connection,
                    messages: messages,
                    confirmWindow: confirmWindow,
                    rate: rate,
                    inFlight: inFlight > 0 ? inFlight : nil,
                    onReply: { _, delivery in decisions.record(delivery.body) },
                    logger: logger
                ).run()
            )
        } catch {
            outcome = .failure(error)
        }
        let cpu = cpuBefore.until(CPUSnapshot.now())
        let after = pids.map(ProcessSample.now)
        stop.set()
        let peak = try await peaks
        let load = try outcome.get()
        let watched = pids.indices.map { i in
            WatchedProcess(pid: pids[i], start: start[i], before: before[i], after: after[i], peakKiB: peak[i])
        }
        let report = LoadReport(
            command: self,
            load: load,
            cpu: cpu,
            decisions: decisions.counts,
            watched: watched,
            machine: machineSummary(brokerVersion: brokerVersion)
        )
        print(json ? report.json : report.table)
        if load.replies < messages { throw ExitCode(1) }
    }
}

/// CPU seconds and resident memory of one process at one moment.
struct ProcessSample: Sendable {
    var cpuSeconds: Double?
    var memory: MemoryUsage

    static func now(_ pid: Int32) -> ProcessSample {
        ProcessSample(cpuSeconds: CPUSnapshot.cpuSeconds(pid: pid), memory: MemoryUsage.now(pid: pid))
    }
}

struct WatchedProcess: Sendable {
    var pid: Int32
    /// Before the warm-up, before the measured load, after it.
    var start: ProcessSample
    var before: ProcessSample
    var after: ProcessSample
    /// The largest VmRSS sampled during the measured load.
    var peakKiB: Int

    var cpuSeconds: Double? { after.cpuSeconds.flatMap { a in before.cpuSeconds.map { a - $0 } } }
}

/// The largest VmRSS of each process, sampled every 50 ms until `stop` is set.
private func sampleResidentPeaks(_ pids: [Int32], until stop: StopFlag) -> [Int] {
    var peaks = [Int](repeating: 0, count: pids.count)
    repeat {
        for (i, pid) in pids.enumerated() { peaks[i] = max(peaks[i], MemoryUsage.now(pid: pid).residentKiB) }
        usleep(50_000)
    } while !stop.isSet
    return peaks
}

/// The `decision` of each reply, counted from its body without a JSON parse (the collector shares
/// the cores with the system under test): the first letter of the string after `"decision"`.
final class DecisionTally: Sendable {
    private let allowed = Counter()
    private let denied = Counter()
    private let pending = Counter()
    private let other = Counter()
    private static let key = Array(#""decision""#.utf8)

    func record(_ body: [UInt8]) {
        switch Self.firstLetter(body) {
        case UInt8(ascii: "a"): allowed.increment()
        case UInt8(ascii: "d"): denied.increment()
        case UInt8(ascii: "p"): pending.increment()
        default: other.increment()
        }
    }

    private static func firstLetter(_ body: [UInt8]) -> UInt8? {
        var i = 0
        while i + key.count <= body.count {
            if body[i] == key[0], body[i..<i + key.count].elementsEqual(key) {
                var j = i + key.count
                // `"decision" : "allow"`, whitespace allowed around the colon.
                while j < body.count, body[j] == UInt8(ascii: " ") || body[j] == UInt8(ascii: ":") { j += 1 }
                guard j + 1 < body.count, body[j] == UInt8(ascii: "\"") else { return nil }
                return body[j + 1]
            }
            i += 1
        }
        return nil
    }

    var counts: [String: Int] {
        ["allow": allowed.value, "deny": denied.value, "pending": pending.value, "other": other.value]
    }
}

struct LoadReport {
    var command: LoadCommand
    var load: LoadGenerator.Result
    var cpu: CPUUsage
    var decisions: [String: Int]
    var watched: [WatchedProcess]
    var machine: [String: String]

    private func micros(_ seconds: Double?) -> String {
        seconds.map { String(format: "%.0f", $0 * 1e6 / Double(max(1, command.messages))) } ?? "?"
    }

    var table: String {
        let c = command
        var lines = [
            "tollgate-bench load: tool calls to \(c.prefix).toolcalls of running workers",
            "  machine     \(machine["nproc"] ?? "?") cores, \(machine["cpu"] ?? "?"), \(machine["memory_gib"] ?? "?") GiB, Linux \(machine["kernel"] ?? "?"), RabbitMQ \(machine["rabbitmq"] ?? "?")",
            "  load        \(c.messages) x \(c.bodyBytes) B persistent, \(c.agents) agents, confirm window \(c.confirmWindow), rate \(c.rate.map { "\(Int($0))/s" } ?? "unlimited"), warm-up \(c.warmup)",
            "  decisions   \(rateText(load.messagesPerSecond))/s; replies \(load.replies) of \(c.messages), duplicates \(load.duplicateReplies); allow \(decisions["allow"] ?? 0), deny \(decisions["deny"] ?? 0), pending \(decisions["pending"] ?? 0), other \(decisions["other"] ?? 0)",
            "  latency     \(load.latency.summary)",
            "  CPU         \(cpu.perMessage(c.messages))",
        ]
        for w in watched {
            lines.append(
                "  pid \(w.pid)   CPU \(micros(w.cpuSeconds)) µs/decision; RSS \(w.start.memory.residentKiB >> 10) MiB before the warm-up, \(w.before.memory.residentKiB >> 10) MiB before the load, at most \(w.peakKiB >> 10) MiB during it, \(w.after.memory.residentKiB >> 10) MiB after"
            )
        }
        return lines.joined(separator: "\n")
    }

    var json: String {
        let c = command
        let processes: [[String: Any]] = watched.map { w in
            var o: [String: Any] = [
                "pid": Int(w.pid), "rss_start_kib": w.start.memory.residentKiB,
                "rss_before_kib": w.before.memory.residentKiB, "rss_peak_during_kib": w.peakKiB,
                "rss_after_kib": w.after.memory.residentKiB, "vmhwm_after_kib": w.after.memory.peakKiB,
            ]
            if let s = w.cpuSeconds { o["cpu_us_per_message"] = (s * 1e7 / Double(max(1, c.messages))).rounded() / 10 }
            return o
        }
        let object: [String: Any] = [
            "benchmark": "load", "machine": machine, "prefix": c.prefix, "messages": c.messages, "warmup": c.warmup,
            "agents": c.agents, "body_bytes": c.bodyBytes, "confirm_window": c.confirmWindow, "rate": c.rate as Any,
            "replies": load.replies, "duplicates": load.duplicateReplies, "nacked": load.nacked,
            "messages_per_second": (load.messagesPerSecond * 10).rounded() / 10,
            "publish_messages_per_second": (load.publishedPerSecond * 10).rounded() / 10,
            "elapsed_seconds": load.elapsed.seconds, "latency_ms": load.latency.jsonMillis, "decisions": decisions,
            "cpu": cpu.json(c.messages), "processes": processes,
        ]
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}
