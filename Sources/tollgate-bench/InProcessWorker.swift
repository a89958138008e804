import Foundation
import Logging
import Synchronization
import TollgateAMQP
import TollgateStore
import TollgateWorker

#if canImport(Glibc)
import Glibc
#endif

/// A `tollgate worker` run inside the benchmark process through the public API
/// (`WorkerService`, stopped with `WorkerControl`), on a topology prefix and database of its own.
///
/// In-process rather than a subprocess of `tollgate`: it is the same code the binary runs
/// (`runWorker` only adds signal handling around `WorkerService`), built in the same release
/// build as the load generator and the relay baseline, its readiness and counters are read
/// directly (no log scraping), and a failure ends the benchmark with the worker's own error.
/// It logs at `info`, as in production, to a file (`log`), never to the terminal.
final class InProcessWorker {
    let prefix: String
    let workerID: String
    let databasePath: String
    let logPath: String
    let control = WorkerControl()
    private let sink: LogSink
    private let configuration: WorkerConfiguration
    private var task: Task<Void, any Error>?

    /// - Parameter databasePath: nil: a new database in a new temporary folder.
    init(
        amqpURL: String,
        policy: String,
        durability: StoreDurability,
        databasePath: String? = nil,
        workerID: String = "bench",
        prefix: String? = nil,
        prefetch: UInt16 = WorkerConfiguration().prefetch,
        maxBatch: Int? = nil,
        receipts: ReceiptSigner? = nil,
        decisionFeed: DecisionFeedForm = .batch,
        escalationTimeoutSeconds: Int? = nil
    ) throws {
        self.prefix = prefix ?? "tgbench\(UInt32.random(in: 0...UInt32.max))"
        self.workerID = workerID
        let folder = try makeScratchFolder()
        self.databasePath = databasePath ?? "\(folder)/\(workerID).db"
        self.logPath = "\(folder)/\(workerID).log"
        sink = try LogSink(path: logPath)
        var c = WorkerConfiguration()
        c.amqpURLs = [amqpURL]
        c.policyPaths = [policy]
        c.databasePath = self.databasePath
        c.workerID = workerID
        c.prefix = self.prefix
        c.durability = durability
        c.prefetch = prefetch
        if let maxBatch { c.maxBatch = maxBatch }
        c.receipts = receipts
        c.decisionFeed = decisionFeed
        // One worker alone in its ring: nobody hands it anything when it joins.
        c.joinSettleMillis = 0
        if let escalationTimeoutSeconds { c.defaultEscalationTimeoutSeconds = escalationTimeoutSeconds }
        configuration = c
    }

    var topology: Topology { Topology(prefix: prefix, workerID: workerID) }

    /// Starts the worker and returns once it consumes; the result is the time from the call to
    /// the worker's `consuming` log line (policy load, database open, connect, topology, outbox
    /// and deadline sweep, consumers).
    @discardableResult
    func start(timeout: Duration = .seconds(300)) async throws -> Duration {
        precondition(task == nil, "worker already started")
        let started = monotonicNanos()
        let before = sink.consumingCount
        var logger = Logger(label: "tollgate") { _ in SinkLogHandler(sink: self.sink) }
        logger.logLevel = .info
        let service = try WorkerService(configuration: configuration, control: control, logger: logger)
        let task = Task.detached { try await service.run() }
        self.task = task
        let limit = started + UInt64(timeout.seconds * 1e9)
        while sink.consumingCount == before {
            if sink.stopped {
                _ = try await task.value
                throw BenchError("the worker stopped before consuming; log: \(logPath)")
            }
            if monotonicNanos() > limit {
                control.requestStop()
                throw BenchError("the worker did not consume within \(timeout); log: \(logPath)")
            }
            try await Task.sleep(for: .milliseconds(2))
        }
        return .nanoseconds(Int64(sink.consumingAt - started))
    }

    /// Graceful stop: what is in flight is finished, confirmed and acked.
    func stop() async throws {
        guard let task else { return }
        control.requestStop()
        self.task = nil
        try await task.value
    }

    /// Deletes the worker's queues and exchanges (its prefix is its own).
    func deleteTopology(connection: AMQPConfiguration, logger: Logger) async {
        let t = topology
        _ = try? await onThread("worker-cleanup") {
            let c = try AMQPConnection(configuration: connection, logger: logger)
            defer { c.close() }
            for queue in [t.toolCallsQueue, t.approvalsQueue, t.deadQueue, t.ownerQueue] {
                _ = try c.queueDelete(queue)
            }
            for exchange in [
                t.toolCallsExchange, t.approvalsExchange, t.escalationsExchange, t.decisionsExchange, t.deadExchange,
                t.controlExchange,
            ] {
                try c.exchangeDelete(exchange)
            }
        }
    }

    /// Removes the database and log (call after `stop`).
    func removeFiles() {
        for suffix in ["", "-wal", "-shm"] { unlink(databasePath + suffix) }
        unlink(logPath)
        rmdir((logPath as NSString).deletingLastPathComponent)
    }
}

/// A fresh folder under the temporary directory (on the same disk as a real deployment's
/// database would be: fsync costs what it costs there).
func makeScratchFolder() throws -> String {
    var template = Array((NSTemporaryDirectory() + "/tollgate-bench-XXXXXX").utf8CString)
    guard let made = mkdtemp(&template) else { throw BenchError("cannot create a temporary folder") }
    return String(cString: made)
}

/// Where the in-process worker's log lines go: a file, plus the moment it said `consuming`.
final class LogSink: Sendable {
    private let fd: Int32
    private let consuming = Atomic<Int>(0)
    private let consumingNanos = Atomic<UInt64>(0)
    private let stoppedFlag = Atomic<Bool>(false)

    init(path: String) throws {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BenchError("cannot open \(path)") }
    }

    deinit { close(fd) }

    var consumingCount: Int { consuming.load(ordering: .acquiring) }
    var consumingAt: UInt64 { consumingNanos.load(ordering: .acquiring) }
    var stopped: Bool { stoppedFlag.load(ordering: .acquiring) }

    func write(_ level: Logger.Level, _ message: String, _ metadata: Logger.Metadata) {
        if message == "consuming" {
            consumingNanos.store(monotonicNanos(), ordering: .releasing)
            consuming.add(1, ordering: .releasing)
        }
        if message == "worker stopped" || level >= .critical { stoppedFlag.store(true, ordering: .releasing) }
        var line = "\(nowMillisText()) \(level) \(message)"
        if !metadata.isEmpty {
            line += " " + metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        line += "\n"
        _ = line.withCString { Glibc.write(fd, $0, strlen($0)) }
    }

    private func nowMillisText() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return "\(ts.tv_sec).\(ts.tv_nsec / 1_000_000)"
    }
}

/// A swift-log handler that writes to a `LogSink`.
struct SinkLogHandler: LogHandler {
    let sink: LogSink
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        sink.write(event.level, event.message.description, merged)
    }
}
