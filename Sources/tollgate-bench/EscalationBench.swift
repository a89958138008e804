import ArgumentParser
import Foundation
import Logging
import Synchronization
import TollgateAMQP
import TollgateJSON
import TollgateStore
import TollgateWorker

/// `tollgate-bench escalations`: escalations parked per second, votes turned into final
/// decisions per second, and the latency from a vote's publish to the agent's final decision,
/// with 0, 100,000 and 1,000,000 requests already pending.
struct EscalationBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "escalations",
        abstract: "Measure parking, voting and vote-to-decision latency with a backlog of pending escalations.",
        discussion: """
            For each --pending N: a new database is filled with N pending escalations (deadlines 30 days \
            away) through the Store API, a worker is started on it in this process (start-up time = until \
            it consumes), and then, in order: (1) --calls allowed and denied tool calls at full speed \
            (decisions/s with the backlog); (2) --park + --latency-votes calls of transfer_funds, which the \
            seed policy escalates, at full speed (parked/s: first publish -> last `pending` reply); (3) \
            --voter approves the first --park of them at full speed (final decisions/s: first vote -> last \
            final `allow` in the agent's reply queue); (4) it approves the rest at --vote-rate per second \
            (latency from each vote's publish to the agent receiving the final decision); (5) with \
            --timeouts K: a worker whose escalation timeout is --timeout-seconds parks K more and stops; once \
            every deadline has passed a worker starts on the database and decides them all (timeouts/s: \
            its start -> the agent's last final `deny` with resolution `timeout`). Needs a broker with the \
            test users (deploy/broker.sh start && deploy/broker-users.sh).
            """
    )

    @Option(help: "Backlogs of pending escalations to measure, comma-separated.") var pending = "0,100000,1000000"
    @Option(help: "Escalations parked and approved at full speed per backlog.") var park = 20_000
    @Option(help: "Escalations approved at --vote-rate for the latency figures.") var latencyVotes = 5_000
    @Option(help: "Votes per second for the latency figures.") var voteRate = 500.0
    @Option(help: "Allowed and denied tool calls per backlog (decision rate with the backlog; 0: skip).") var calls =
        50_000
    @Option(
        help: "Escalations left to time out per backlog, decided by a worker started after their deadlines (0: skip)."
    )
    var timeouts = 0
    @Option(help: "Escalation timeout in seconds of the worker that parks the --timeouts escalations.")
    var timeoutSeconds = 10
    @Option(help: "Distinct agent ids.") var agents = 1000
    @Option(help: "Body size of tool calls in bytes.") var bodyBytes = 256
    @Option(help: "Worker durability: full or normal.") var durability = "full"
    @Option(help: "Pending escalations inserted per transaction when filling the database.") var chunk = 50_000
    @Option(help: "Policy file (transfer_funds must escalate).") var policy = "policies/approval-workflow.yaml"
    @Option(help: "The RabbitMQ user who votes (user_id).") var voter = "manager@corp.com"
    @Option(help: "The voter's password.") var voterPassword = "secret"
    @Option(help: "Broker URL for the worker and the agents (amqp:// or amqps://).") var amqpURL =
        "amqp://guest:guest@127.0.0.1:5672/"
    @Flag(help: "Print the result as one JSON object.") var json = false

    func run() async throws {
        var logger = Logger(label: "tollgate-bench")
        logger.logLevel = .warning
        guard let durability = StoreDurability(rawValue: durability) else {
            throw ValidationError("unknown durability '\(self.durability)': use full or normal")
        }
        let backlogs = try pending.split(separator: ",").map { text -> Int in
            guard let n = Int(text.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: "")), n >= 0
            else {
                throw ValidationError("--pending takes counts separated by commas, e.g. 0,100000,1000000")
            }
            return n
        }
        guard FileManager.default.fileExists(atPath: policy) else {
            throw ValidationError("no policy at \(policy): run from the package root or give --policy")
        }
        let url = try AMQPURL(parsing: amqpURL)
        var voterURL = url
        voterURL.user = voter
        voterURL.password = voterPassword
        let agentConnection = AMQPConfiguration(url: url)
        let voterConnection = AMQPConfiguration(url: voterURL)

        var results: [EscalationMeasurement] = []
        var brokerVersion = "?"
        for n in backlogs {
            let m = try await measure(
                backlog: n,
                durability: durability,
                agents: agentConnection,
                voters: voterConnection,
                logger: logger
            )
            brokerVersion = m.brokerVersion
            if !json { print(m.line) }
            results.append(m)
        }
        let report = EscalationReport(
            command: self,
            durability: durability,
            results: results,
            machine: machineSummary(brokerVersion: brokerVersion)
        )
        print(json ? report.json : report.table)
        if results.contains(where: { !$0.complete }) { throw ExitCode(1) }
    }

    private func measure(
        backlog: Int,
        durability: StoreDurability,
        agents: AMQPConfiguration,
        voters: AMQPConfiguration,
        logger: Logger
    ) async throws -> EscalationMeasurement {
        let folder = try makeScratchFolder()
        let databasePath = "\(folder)/bench.db"
        defer {
            for suffix in ["", "-wal", "-shm"] { unlink(databasePath + suffix) }
            rmdir(folder)
        }
        var m = EscalationMeasurement(backlog: backlog)
        let fillStart = monotonicNanos()
        try fill(databasePath, pending: backlog)
        m.fillSeconds = Double(monotonicNanos() - fillStart) / 1e9
        m.databaseBytes = (try? FileManager.default.attributesOfItem(atPath: databasePath)[.size] as? Int) ?? 0

        let worker = try InProcessWorker(
            amqpURL: amqpURL,
            policy: policy,
            durability: durability,
            databasePath: databasePath
        )
        defer { worker.removeFiles() }
        let t = worker.topology
        let agentQueue = "\(worker.prefix).bench-agent"
        m.brokerVersion = try await onThread("escalation-setup") {
            let c = try AMQPConnection(configuration: agents, logger: logger)
            defer { c.close() }
            try c.queueDeclare(agentQueue, durable: true)
            return c.serverProperties["version"]?.stringValue ?? "?"
        }
        let outcome: Result<Void, any Error>
        do {
            m.startup = try await worker.start()
            m.memoryStarted = MemoryUsage.now()
            if calls > 0 {
                let mix = ToolCallMix(
                    agents: self.agents,
                    bodyBytes: bodyBytes,
                    tag: "c",
                    tools: ToolCallMix.allowAndDeny
                )
                m.calls = try await mix.load(topology: t, connection: agents, messages: calls, logger: logger).run()
            }

            // Park: every reply is `pending`, with the request id to vote on.
            let total = park + latencyVotes
            let requestIDs = RequestIDs(count: total)
            let mix = ToolCallMix(agents: self.agents, bodyBytes: bodyBytes, tag: "p", tools: ToolCallMix.escalating)
            m.park = try await mix.load(
                topology: t,
                connection: agents,
                messages: total,
                replyQueue: agentQueue,
                onReply: { index, delivery in requestIDs.record(index, from: delivery.body) },
                logger: logger
            ).run()
            m.pendingReplies = requestIDs.pendingCount
            let ids = requestIDs.all

            // Votes at full speed, then paced.
            m.votes = try await votes(
                ids,
                range: 0..<park,
                topology: t,
                connection: voters,
                agentQueue: agentQueue,
                rate: nil,
                logger: logger
            ).run()
            if latencyVotes > 0 {
                m.pacedVotes = try await votes(
                    ids,
                    range: park..<total,
                    topology: t,
                    connection: voters,
                    agentQueue: agentQueue,
                    rate: voteRate,
                    logger: logger
                ).run()
            }
            m.counters = worker.control.status.counters
            m.memoryLoaded = MemoryUsage.now()
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        try await worker.stop()
        var timeoutOutcome: Result<Void, any Error> = .success(())
        if case .success = outcome, timeouts > 0 {
            do {
                m.timeouts = try await measureTimeouts(
                    databasePath: databasePath,
                    prefix: worker.prefix,
                    durability: durability,
                    agents: agents,
                    agentQueue: agentQueue,
                    logger: logger
                )
            } catch {
                timeoutOutcome = .failure(error)
            }
        }
        await worker.deleteTopology(connection: agents, logger: logger)
        _ = try? await onThread("escalation-cleanup") {
            let c = try AMQPConnection(configuration: agents, logger: logger)
            defer { c.close() }
            _ = try c.queueDelete(agentQueue)
        }
        try outcome.get()
        try timeoutOutcome.get()
        let store = try Store(readingExisting: databasePath)
        m.pendingAfter = try store.pendingCount()
        store.close()
        return m
    }

    /// Parks `timeouts` escalations with a worker whose escalation timeout is `timeoutSeconds`,
    /// stops it, waits until every deadline has passed, then starts a worker on the database and
    /// times how fast it decides them (on the same database, prefix and worker id).
    private func measureTimeouts(
        databasePath: String,
        prefix: String,
        durability: StoreDurability,
        agents: AMQPConfiguration,
        agentQueue: String,
        logger: Logger
    ) async throws -> TimeoutMeasurement {
        // Two workers one after the other (an InProcessWorker starts once), both with the short
        // timeout; only their logs are removed here, the database is the caller's.
        let workers = try (0..<2).map { _ in
            try InProcessWorker(
                amqpURL: amqpURL,
                policy: policy,
                durability: durability,
                databasePath: databasePath,
                prefix: prefix,
                escalationTimeoutSeconds: timeoutSeconds
            )
        }
        defer {
            for w in workers {
                unlink(w.logPath)
                rmdir((w.logPath as NSString).deletingLastPathComponent)
            }
        }
        let (parker, decider) = (workers[0], workers[1])
        var m = TimeoutMeasurement(parked: timeouts)
        try await parker.start()
        let requestIDs = RequestIDs(count: timeouts)
        let mix = ToolCallMix(agents: self.agents, bodyBytes: bodyBytes, tag: "t", tools: ToolCallMix.escalating)
        do {
            let park = try await mix.load(
                topology: parker.topology,
                connection: agents,
                messages: timeouts,
                replyQueue: agentQueue,
                onReply: { index, delivery in requestIDs.record(index, from: delivery.body) },
                logger: logger
            ).run()
            m.parkSeconds = park.elapsed.seconds
        } catch {
            try? await parker.stop()
            throw error
        }
        // Each deadline is its parking time + timeoutSeconds (on the wall clock), so all have
        // passed timeoutSeconds after the last `pending` reply; half a second more for the clocks.
        let due = monotonicNanos() + UInt64(timeoutSeconds) * 1_000_000_000 + 500_000_000
        m.pendingReplies = requestIDs.pendingCount
        try await parker.stop()
        m.timedOutWhileParking = parker.control.status.counters.timeouts
        let now = monotonicNanos()
        if due > now { try await Task.sleep(for: .nanoseconds(Int64(due - now))) }

        let expected = m.pendingReplies - m.timedOutWhileParking
        let ready = OneShot<Void>()
        async let collected = onThread("timeout-collector") {
            try collectTimeouts(queue: agentQueue, expected: expected, connection: agents, ready: ready, logger: logger)
        }
        try await ready.value
        let started = monotonicNanos()
        let outcome: Result<Void, any Error>
        do {
            m.startup = try await decider.start()
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        let found = try await collected
        m.decided = decider.control.status.counters.timeouts
        try await decider.stop()
        try outcome.get()
        m.finals = found.count
        m.elapsed = .nanoseconds(Int64(found.last > started ? found.last - started : 0))
        m.firstToLast = .nanoseconds(Int64(found.last - found.first))
        return m
    }

    /// `pending` escalations through the public Store API, `chunk` per transaction.
    private func fill(_ path: String, pending: Int) throws {
        let store = try Store(path: path, workerID: "bench")
        defer { store.close() }
        let now = Millis(Date().timeIntervalSince1970 * 1000)
        let deadline = now + 30 * 24 * 3600 * 1000
        var ids = RequestIDSource(workerID: "bench")
        var done = 0
        while done < pending {
            let count = min(chunk, pending - done)
            try store.transaction {
                for i in done..<done + count {
                    try store.insertEscalation(
                        EscalationRecord(
                            requestID: ids.next(),
                            workerID: "bench",
                            agentID: "backlog-agent-\(i % 5000)",
                            sessionID: "backlog-\(i / 40_000)",
                            toolName: "transfer_funds",
                            argumentsJSON: #"{"amount":\#(1000 + i % 9000),"to":"vendor-\#(i % 977)"}"#,
                            reason: "Agent wants to transfer funds to a vendor account",
                            rule: "escalate-transfer-funds",
                            message: "Sensitive action: transfer_funds requires human approval",
                            policyVersion: "approval-workflow-policy@1.0#backlog",
                            approvers: [],
                            requiredApprovals: 1,
                            requiredDenials: 1,
                            timeoutAction: .deny,
                            createdAt: now,
                            // Spread over a minute so the deadline index is not one value.
                            deadline: deadline + Millis(i % 60_000),
                            replyTo: "backlog-replies",
                            correlationID: "backlog-\(i)",
                            charged: true
                        )
                    )
                }
            }
            done += count
        }
    }

    /// Approvals of `ids[range]` from the voter; each one's reply is the final decision in the
    /// agent's queue, matched by the parking call's correlation id ("<index>:<ns>").
    private func votes(
        _ ids: [String],
        range: Range<Int>,
        topology: Topology,
        connection: AMQPConfiguration,
        agentQueue: String,
        rate: Double?,
        logger: Logger
    ) -> LoadGenerator {
        let base = range.lowerBound
        let voter = self.voter
        var properties = AMQPProperties(contentType: "application/json", deliveryMode: AMQPProperties.persistent)
        properties.userId = voter
        var c = LoadGenerator.Configuration(
            connection: connection,
            exchange: topology.approvalsExchange,
            routingKey: topology.workerID,
            replyQueue: agentQueue,
            messages: range.count,
            ratePerSecond: rate,
            properties: properties,
            body: { k in Array(#"{"request_id":"\#(ids[base + k])","decision":"approve"}"#.utf8) }
        )
        c.setReplyTo = false
        c.messageIdFor = { k in "vote-\(base + k)" }
        c.replyIndex = { delivery in
            guard let id = delivery.properties.correlationId, let (parked, _) = LoadGenerator.parse(id),
                case .object(let body)? = try? JSONValue.parse(delivery.body),
                body["final"]?.boolValue == true, body["decision"]?.stringValue == "allow"
            else { return nil }
            return parked - base
        }
        return LoadGenerator(configuration: c, logger: logger)
    }
}

/// Counts the final `deny` decisions with resolution `timeout` that reach `queue` (emptied first:
/// what the parking worker put there is not part of the measurement), until `expected` or 30 s
/// without one.
private func collectTimeouts(
    queue: String,
    expected: Int,
    connection: AMQPConfiguration,
    ready: OneShot<Void>,
    logger: Logger
) throws -> (count: Int, first: UInt64, last: UInt64) {
    let c: AMQPConnection
    do {
        c = try AMQPConnection(configuration: connection, logger: logger)
        _ = try c.queuePurge(queue)
        try c.basicQos(prefetchCount: 0)
        try c.basicConsume(queue: queue, noAck: true)
        ready.fulfill(.success(()))
    } catch {
        ready.fulfill(.failure(error))
        throw error
    }
    defer { c.close() }
    var count = 0
    var first: UInt64 = 0
    var last: UInt64 = 0
    var lastProgress = monotonicNanos()
    while count < expected {
        guard let event = try c.nextEvent(timeout: .milliseconds(200)) else {
            if monotonicNanos() - lastProgress > 30_000_000_000 { break }
            continue
        }
        guard case .delivery(let d) = event, case .object(let body)? = try? JSONValue.parse(d.body),
            body["final"]?.boolValue == true, body["resolution"]?.stringValue == "timeout"
        else { continue }
        let now = monotonicNanos()
        if count == 0 { first = now }
        count += 1
        last = now
        lastProgress = now
    }
    return (count, first, last)
}

/// Escalations left to time out, decided by a worker started after their deadlines.
struct TimeoutMeasurement: Sendable {
    var parked: Int
    var parkSeconds = 0.0
    var pendingReplies = 0
    /// Decided by the parking worker before it stopped (none when --timeout-seconds is long enough).
    var timedOutWhileParking = 0
    var startup: Duration = .zero
    /// Timeouts the second worker counted, and final `timeout` decisions the agent received.
    var decided = 0
    var finals = 0
    /// From the second worker's start to the last final decision, and first to last decision.
    var elapsed: Duration = .zero
    var firstToLast: Duration = .zero

    var expected: Int { pendingReplies - timedOutWhileParking }
    var perSecond: Double { elapsed > .zero ? Double(finals) / elapsed.seconds : 0 }
    var complete: Bool { pendingReplies == parked && finals == expected }

    var json: [String: Any] {
        [
            "parked": parked, "pending_replies": pendingReplies, "timed_out_while_parking": timedOutWhileParking,
            "startup_ms": startup.seconds * 1000, "decided": decided, "finals": finals,
            "seconds": elapsed.seconds, "first_to_last_seconds": firstToLast.seconds,
            "timeouts_per_second": (perSecond * 10).rounded() / 10,
        ]
    }
}

/// Request ids like the worker's (`<worker-id>-<uuid>`, a version-7 UUID: time, then random).
struct RequestIDSource {
    let workerID: String
    var random = SystemRandomNumberGenerator()

    mutating func next() -> String {
        let millis = UInt64(Date().timeIntervalSince1970 * 1000)
        let high: UInt64 = (millis << 16) | 0x7000 | (random.next() & 0x0fff)
        let low: UInt64 = (random.next() & ~(0xc0 << 56)) | (0x80 << 56)
        let uuid = UUID(
            uuid: withUnsafeBytes(of: (high.bigEndian, low.bigEndian)) { raw in
                var u: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
                withUnsafeMutableBytes(of: &u) { $0.copyMemory(from: raw) }
                return u
            }
        )
        return "\(workerID)-\(uuid.uuidString.lowercased())"
    }
}

/// The request ids of parked calls, by call index, from their `pending` replies.
final class RequestIDs: Sendable {
    private let state: Mutex<(ids: [String], pending: Int)>

    init(count: Int) { state = Mutex((ids: [String](repeating: "", count: count), pending: 0)) }

    func record(_ index: Int, from body: [UInt8]) {
        guard case .object(let reply)? = try? JSONValue.parse(body), let id = reply["request_id"]?.stringValue else {
            return
        }
        let pending = reply["decision"]?.stringValue == "pending"
        state.withLock {
            $0.ids[index] = id
            if pending { $0.pending += 1 }
        }
    }

    var all: [String] { state.withLock { $0.ids } }
    var pendingCount: Int { state.withLock { $0.pending } }
}

struct EscalationMeasurement: Sendable {
    var backlog: Int
    var brokerVersion = "?"
    var fillSeconds = 0.0
    var databaseBytes = 0
    var startup: Duration = .zero
    var calls: LoadGenerator.Result?
    var park: LoadGenerator.Result?
    var pendingReplies = 0
    var votes: LoadGenerator.Result?
    var pacedVotes: LoadGenerator.Result?
    var counters = WorkerCounters()
    var pendingAfter = 0
    var timeouts: TimeoutMeasurement?
    /// This process's resident memory (worker and load generator) once the worker has started on
    /// the backlog, and after the load.
    var memoryStarted = MemoryUsage(residentKiB: 0, peakKiB: 0)
    var memoryLoaded = MemoryUsage(residentKiB: 0, peakKiB: 0)

    var complete: Bool {
        [calls, park, votes, pacedVotes].allSatisfy { r in r.map { $0.replies == $0.messages } ?? true }
            && pendingReplies == (park?.messages ?? 0) && (timeouts?.complete ?? true)
    }

    var line: String {
        "pending \(backlog): start-up \(String(format: "%.0f", startup.seconds * 1000)) ms"
            + (calls.map { " | calls \(rateText($0.messagesPerSecond))/s" } ?? "")
            + (park.map { " | parked \(rateText($0.messagesPerSecond))/s" } ?? "")
            + (votes.map { " | final decisions \(rateText($0.messagesPerSecond))/s" } ?? "")
            + (pacedVotes.map {
                " | vote -> decision p50 \(millisText($0.latency.percentile(50))) ms p99 \(millisText($0.latency.percentile(99))) ms"
            } ?? "") + (timeouts.map { " | timeouts \(rateText($0.perSecond))/s" } ?? "")
    }
}

struct EscalationReport {
    var command: EscalationBenchCommand
    var durability: StoreDurability
    var results: [EscalationMeasurement]
    var machine: [String: String]

    var table: String {
        let c = command
        var lines = [
            "tollgate-bench escalations: parking, voting and vote -> decision latency with a backlog of pending escalations",
            "  machine     \(machine["nproc"] ?? "?") cores, \(machine["cpu"] ?? "?"), \(machine["memory_gib"] ?? "?") GiB, Linux \(machine["kernel"] ?? "?"), RabbitMQ \(machine["rabbitmq"] ?? "?")",
            "  worker      in-process WorkerService, --durability \(durability.rawValue), \(c.policy), prefetch \(WorkerConfiguration().prefetch), maxBatch 256",
            "  load        \(c.calls) tool calls; \(c.park) parked then approved at full speed; \(c.latencyVotes) approved at \(Int(c.voteRate))/s by \(c.voter)",
            "",
            "  pending     fill s  db MB  start-up ms  calls/s  parked/s  final/s  vote->final ms p50   p90    p99    max",
        ]
        for r in results {
            let paced = r.pacedVotes?.latency
            lines.append(
                "  \(pad(rateText(Double(r.backlog)), 9))  \(pad(String(format: "%.1f", r.fillSeconds), 6))  \(pad(String(r.databaseBytes >> 20), 5))  \(pad(String(format: "%.0f", r.startup.seconds * 1000), 11))  \(pad(r.calls.map { rateText($0.messagesPerSecond) } ?? "-", 7))  \(pad(r.park.map { rateText($0.messagesPerSecond) } ?? "-", 8))  \(pad(r.votes.map { rateText($0.messagesPerSecond) } ?? "-", 7))  "
                    + (paced.map {
                        "\(pad(millisText($0.percentile(50)), 18)) \(pad(millisText($0.percentile(90)), 6)) \(pad(millisText($0.percentile(99)), 6)) \(pad(millisText($0.max), 6))"
                    } ?? "-")
            )
        }
        lines.append("")
        for r in results {
            lines.append(
                "  pending \(rateText(Double(r.backlog))): pending replies \(r.pendingReplies) of \(r.park?.messages ?? 0), finals \((r.votes?.replies ?? 0) + (r.pacedVotes?.replies ?? 0)) of \((r.votes?.messages ?? 0) + (r.pacedVotes?.messages ?? 0)), votes accepted \(r.counters.votesAccepted) rejected \(r.counters.votesRejected), still pending after \(rateText(Double(r.pendingAfter)))"
                    + (r.votes.map { "; full-speed vote -> final latency \($0.latency.summary) (queueing)" } ?? "")
                    + "; process RSS \(r.memoryStarted.residentKiB >> 10) MiB after start, \(r.memoryLoaded.residentKiB >> 10) MiB after the load (peak \(r.memoryLoaded.peakKiB >> 10) MiB)"
                    + (r.timeouts.map {
                        "; timeouts: \($0.finals) of \($0.expected) decided \(rateText($0.perSecond))/s (start-up \(String(format: "%.0f", $0.startup.seconds * 1000)) ms included; first -> last \(String(format: "%.2f", $0.firstToLast.seconds)) s)"
                    } ?? "")
            )
        }
        return lines.joined(separator: "\n")
    }

    var json: String {
        let c = command
        func rate(_ r: LoadGenerator.Result?) -> Any {
            r.map { ($0.messagesPerSecond * 10).rounded() / 10 } ?? NSNull()
        }
        let rows: [[String: Any]] = results.map { r in
            [
                "pending": r.backlog, "fill_seconds": r.fillSeconds, "database_bytes": r.databaseBytes,
                "startup_ms": r.startup.seconds * 1000, "calls_per_second": rate(r.calls),
                "parked_per_second": rate(r.park),
                "final_decisions_per_second": rate(r.votes),
                "vote_to_final_ms": r.pacedVotes.map { $0.latency.jsonMillis } as Any,
                "vote_to_final_full_speed_ms": r.votes.map { $0.latency.jsonMillis } as Any,
                "pending_replies": r.pendingReplies, "votes_accepted": r.counters.votesAccepted,
                "votes_rejected": r.counters.votesRejected, "pending_after": r.pendingAfter,
                "rss_started_kib": r.memoryStarted.residentKiB, "rss_loaded_kib": r.memoryLoaded.residentKiB,
                "rss_peak_kib": r.memoryLoaded.peakKiB, "timeouts": r.timeouts?.json ?? NSNull(),
            ]
        }
        let object: [String: Any] = [
            "benchmark": "escalations", "machine": machine, "durability": durability.rawValue, "calls": c.calls,
            "park": c.park, "latency_votes": c.latencyVotes, "vote_rate": c.voteRate, "results": rows,
            "timeouts": c.timeouts, "timeout_seconds": c.timeoutSeconds,
        ]
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}
