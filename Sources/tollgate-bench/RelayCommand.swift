import ArgumentParser
import Foundation
import Logging
import TollgateAMQP

/// `tollgate-bench relay`: the broker baseline the worker's throughput target is measured against.
struct RelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay",
        abstract: "Measure a bare relay (consume, publish a confirmed reply, ack) over librabbitmq.",
        discussion: """
            Declares a durable quorum queue, runs a relay on it (prefetch, publisher confirms, acks after \
            the reply is confirmed) and drives it with the load generator: persistent messages with \
            reply_to, confirmed in a pipelined window, replies timed per correlation id. Needs a broker \
            (deploy/broker.sh start).
            """
    )

    @Option(help: "Messages to send.") var messages = 200_000
    @Option(help: "Body size in bytes.") var bodyBytes = 256
    @Option(help: "Relay prefetch (basic.qos; the worker's default).") var prefetch: UInt16 = 1000
    @Option(help: "Unconfirmed publishes the load generator keeps in flight.") var confirmWindow = 1000
    @Option(help: "Messages per second to offer (default: as fast as confirms allow).") var rate: Double?
    @Option(help: "Messages published but not yet answered, at most (0: no limit, the input queue grows).")
    var inFlight = 0
    @Flag(help: "Publish with rabbitmq-c's three sends per message instead of one (for comparison).")
    var noCoalesce = false
    @Option(help: "Messages sent first and not measured.") var warmup = 10_000
    @Option(help: "Broker URL (amqp:// or amqps://).") var amqpURL = "amqp://guest:guest@127.0.0.1:5672/"
    @Option(help: "Repeat the measurement this many times and report the median run (the broker is noisy).")
    var runs = 1
    @Flag(help: "Print the result as one JSON object.") var json = false

    func run() async throws {
        var logger = Logger(label: "tollgate-bench")
        logger.logLevel = .warning
        let url = try AMQPURL(parsing: amqpURL)
        var connection = AMQPConfiguration(url: url)
        connection.coalescePublishFrames = !noCoalesce
        var results: [RelayBenchmarkResult] = []
        for run in 1...max(1, runs) {
            let result = try await runRelayBenchmark(
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
            if runs > 1, !json {
                print("run \(run): \(Int(result.load.messagesPerSecond.rounded())) msg/s")
            }
            results.append(result)
        }
        let sorted = results.sorted { $0.load.messagesPerSecond < $1.load.messagesPerSecond }
        var median = sorted[sorted.count / 2]
        median.allRuns = results.map(\.load.messagesPerSecond)
        print(json ? median.json : median.table)
        if results.contains(where: { $0.load.replies < messages }) { throw ExitCode(1) }
    }
}

struct RelayBenchmarkResult: Sendable {
    var url: AMQPURL
    var brokerVersion: String
    var messages: Int
    var bodyBytes: Int
    var prefetch: UInt16
    var confirmWindow: Int
    var rate: Double?
    var inFlight: Int?
    var load: LoadGenerator.Result
    var relay: Relay.Stats
    /// CPU used during the measured load (not the warm-up).
    var cpu: CPUUsage
    /// Throughput of every run when the command repeated the measurement; this result is the median.
    var allRuns: [Double] = []

    private func ms(_ ns: UInt64) -> String { String(format: "%.2f", Double(ns) / 1e6) }

    var table: String {
        let l = load.latency
        return """
            tollgate-bench relay: consume -> publish reply with confirm -> ack (librabbitmq)
              broker              \(url) (RabbitMQ \(brokerVersion))
              messages            \(messages) x \(bodyBytes) B, persistent, quorum input queue
              relay               prefetch \(prefetch), confirms pipelined, multiple acks (\(relay.ackFrames) ack frames)
              load                confirm window \(confirmWindow), in flight \(inFlight.map(String.init) ?? "unlimited"), rate \(rate.map { "\(Int($0))/s" } ?? "unlimited")
              replies             \(load.replies) of \(messages) (duplicates \(load.duplicateReplies), nacked \(load.nacked))
              throughput          \(Int(load.messagesPerSecond.rounded())) msg/s (first publish -> last reply, \(String(format: "%.2f", load.elapsed.seconds)) s)\(allRuns.count > 1 ? ", median of \(allRuns.map { String(Int($0.rounded())) }.joined(separator: ", "))" : "")
              publish rate        \(Int(load.publishedPerSecond.rounded())) msg/s (first publish -> last confirm)
              latency ms          p50 \(ms(l.percentile(50)))  p90 \(ms(l.percentile(90)))  p99 \(ms(l.percentile(99)))  max \(ms(l.max))
              CPU                 \(cpu.perMessage(messages))
            """
    }

    var json: String {
        let l = load.latency
        let object: [String: Any] = [
            "benchmark": "relay", "broker": url.description, "rabbitmq_version": brokerVersion,
            "messages": messages, "body_bytes": bodyBytes, "prefetch": Int(prefetch), "confirm_window": confirmWindow,
            "rate": rate as Any, "in_flight": inFlight as Any, "replies": load.replies,
            "duplicates": load.duplicateReplies, "nacked": load.nacked,
            "messages_per_second": (load.messagesPerSecond * 10).rounded() / 10,
            "publish_messages_per_second": (load.publishedPerSecond * 10).rounded() / 10,
            "elapsed_seconds": load.elapsed.seconds, "relay_ack_frames": relay.ackFrames,
            "runs_messages_per_second": allRuns.map { ($0 * 10).rounded() / 10 }, "cpu": cpu.json(messages),
            "latency_ms": [
                "p50": Double(l.percentile(50)) / 1e6, "p90": Double(l.percentile(90)) / 1e6,
                "p99": Double(l.percentile(99)) / 1e6, "max": Double(l.max) / 1e6, "mean": l.mean / 1e6,
            ],
        ]
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}

/// Declares the input queue, starts the relay, runs the (optional) warm-up and the measured load,
/// stops the relay and deletes the queue. Callable from other benchmarks that want the baseline
/// in the same run.
func runRelayBenchmark(
    connection: AMQPConfiguration,
    messages: Int,
    bodyBytes: Int,
    prefetch: UInt16,
    confirmWindow: Int,
    rate: Double?,
    inFlight: Int?,
    warmup: Int,
    logger: Logger
) async throws -> RelayBenchmarkResult {
    let queue = "tollgate-bench.relay.\(ProcessInfo.processInfo.processIdentifier)"
    let brokerVersion: String = try await onThread("relay-setup") {
        let c = try AMQPConnection(configuration: connection, logger: logger)
        defer { c.close() }
        try c.queueDeclare(queue, durable: true, arguments: ["x-queue-type": "quorum"])
        try c.queuePurge(queue)
        return c.serverProperties["version"]?.stringValue ?? "?"
    }
    let stop = StopFlag()
    let relayReady = OneShot<Void>()
    let relay = Relay(connection: connection, queue: queue, prefetch: prefetch, logger: logger)
    async let relayStats = onThread("relay") { try relay.run(stop: stop, ready: relayReady) }

    func load(_ n: Int) -> LoadGenerator {
        let body = [UInt8](repeating: UInt8(ascii: "x"), count: bodyBytes)
        return LoadGenerator(
            configuration: .init(
                connection: connection,
                routingKey: queue,
                messages: n,
                confirmWindow: confirmWindow,
                maxInFlight: inFlight,
                ratePerSecond: rate,
                body: { _ in body }
            ),
            logger: logger
        )
    }
    let outcome: Result<LoadGenerator.Result, any Error>
    var cpu = CPUUsage(processSeconds: 0)
    do {
        try await relayReady.value
        if warmup > 0 { _ = try await load(warmup).run() }
        let before = CPUSnapshot.now()
        let result = try await load(messages).run()
        cpu = before.until(CPUSnapshot.now())
        outcome = .success(result)
    } catch {
        outcome = .failure(error)
    }
    stop.set()
    let stats = try await relayStats
    _ = try? await onThread("relay-cleanup") {
        let c = try AMQPConnection(configuration: connection, logger: logger)
        defer { c.close() }
        try c.queueDelete(queue)
    }
    return RelayBenchmarkResult(
        url: connection.url,
        brokerVersion: brokerVersion,
        messages: messages,
        bodyBytes: bodyBytes,
        prefetch: prefetch,
        confirmWindow: confirmWindow,
        rate: rate,
        inFlight: inFlight,
        load: try outcome.get(),
        relay: stats,
        cpu: cpu
    )
}
