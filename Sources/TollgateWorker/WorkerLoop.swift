import Foundation
import Logging
import Synchronization
import TollgateAMQP
import TollgateJSON
import TollgateStore

/// Requests from other threads (signals, the service) to the worker's event loop, and what the
/// loop reports back. Everything in it is atomic or behind a mutex.
public final class WorkerControl: Sendable {
    private let stop = Atomic<Bool>(false)
    private let reload = Atomic<Bool>(false)
    private let state = Mutex(WorkerStatus())

    public init() {}

    /// Graceful stop: stop consuming, finish what is in flight, close.
    public func requestStop() { stop.store(true, ordering: .sequentiallyConsistent) }
    public var stopRequested: Bool { stop.load(ordering: .sequentiallyConsistent) }

    /// Reload the policies (SIGHUP).
    public func requestReload() { reload.store(true, ordering: .sequentiallyConsistent) }
    func takeReloadRequest() -> Bool { reload.exchange(false, ordering: .sequentiallyConsistent) }

    /// A snapshot of the worker's state.
    public var status: WorkerStatus { state.withLock { $0 } }
    func update(_ body: (inout WorkerStatus) -> Void) { state.withLock { body(&$0) } }
}

/// What a running worker reports about itself.
public struct WorkerStatus: Sendable, Equatable {
    /// Consuming from the broker.
    public var connected = false
    /// Times the worker (re)connected.
    public var connections = 0
    public var counters = WorkerCounters()
    public var policyVersion = ""
    public var policyReloads = 0
    public var policyReloadFailures = 0
}

/// The worker's event loop: one thread, one broker connection (rabbitmq-c is one connection per
/// thread), one SQLite connection.
///
/// Each turn it gathers what the broker delivered (up to `maxBatch` inputs), decides them in
/// one SQLite transaction, publishes what that caused (replies, decisions, outbox rows) with
/// pipelined publisher confirms, and acks each input once all its publishes are confirmed. It
/// waits on the socket (which also services heartbeats) no longer than the next escalation
/// deadline. A lost broker is reconnected with backoff; what was not acked is redelivered and
/// answered from the store, what was in the outbox is published again.
final class WorkerLoop {
    private let configuration: WorkerConfiguration
    private let topology: Topology
    private let control: WorkerControl
    private let logger: Logger
    private let store: Store
    private let gate: Gate
    private var faults: FaultPoints

    // Per connection.
    private var settlement = Settlement()
    private var unacked = UnackedDeliveries()
    private var inFlightOutbox: Set<Int64> = []
    private var confirmedOutbox: [Int64] = []
    private var toolCallConsumer = ""
    private var voteConsumer = ""

    // Timers (milliseconds).
    private var nextDeadline: Millis?
    private var lastStats: Millis = 0
    private var lastPrune: Millis = 0
    private var lastOutboxSweep: Millis = 0
    private var countersAtLastStats = WorkerCounters()

    init(configuration: WorkerConfiguration, policy: LoadedPolicy, store: Store, control: WorkerControl, logger: Logger)
    {
        self.configuration = configuration
        self.topology = Topology(prefix: configuration.prefix, workerID: configuration.workerID)
        self.control = control
        self.logger = logger
        self.store = store
        self.gate = Gate(configuration: configuration, store: store, policy: policy, logger: logger)
        self.faults = FaultPoints.fromEnvironment()
        control.update { $0.policyVersion = policy.versionString }
    }

    /// Runs until a graceful stop completes or a fatal error. Blocking: call it on a thread of
    /// its own.
    func run() throws(WorkerError) {
        var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(15))
        while !control.stopRequested {
            do {
                let connection = try connect()
                backoff.reset()
                defer {
                    connection.close()
                    control.update { $0.connected = false }
                }
                try serve(connection)
                return
            } catch let error as AMQPError where error.isRetryable {
                let delay = backoff.next()
                logger.warning(
                    "broker connection lost; reconnecting",
                    metadata: [LogKey.error: "\(error)", "retry_in": "\(delay)"]
                )
                sleep(delay)
            } catch let error as AMQPError {
                throw WorkerError.broker("\(error)")
            } catch let error as StoreError where error.kind == .busy {
                let delay = backoff.next()
                logger.warning("database busy; retrying", metadata: [LogKey.error: "\(error)", "retry_in": "\(delay)"])
                sleep(delay)
            } catch let error as StoreError {
                throw WorkerError.store("\(error)")
            } catch {
                throw WorkerError.broker("\(error)")
            }
        }
    }

    /// Sleeps in short steps so a stop request is honoured quickly.
    private func sleep(_ duration: Duration) {
        let end = ContinuousClock.now + duration
        while ContinuousClock.now < end, !control.stopRequested {
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    // MARK: - Connection

    private func connect() throws -> AMQPConnection {
        let url = try AMQPURL(parsing: configuration.amqpURL)
        var amqp = AMQPConfiguration(url: url, tls: configuration.tls)
        amqp.heartbeatSeconds = configuration.heartbeatSeconds
        amqp.connectionName = "tollgate worker \(configuration.workerID)"
        let connection = try AMQPConnection(configuration: amqp, logger: logger)
        do {
            try declareTopology(connection)
            try connection.basicQos(prefetchCount: configuration.prefetch)
            try connection.confirmSelect()
        } catch {
            connection.close()
            throw error
        }
        settlement.reset()
        unacked.reset()
        inFlightOutbox.removeAll()
        control.update {
            $0.connected = true
            $0.connections += 1
        }
        logger.info(
            "connected to RabbitMQ",
            metadata: [
                "broker": "\(url)", "queue": "\(topology.toolCallsQueue)", "approvals": "\(topology.approvalsQueue)",
                "prefetch": "\(configuration.prefetch)",
            ]
        )
        return connection
    }

    /// Declares the wire protocol's topology (idempotent; every worker does it at start).
    private func declareTopology(_ c: AMQPConnection) throws {
        let t = topology
        try c.exchangeDeclare(t.deadExchange, type: "fanout", durable: true)
        _ = try c.queueDeclare(t.deadQueue, durable: true, arguments: ["x-queue-type": "quorum"])
        try c.queueBind(queue: t.deadQueue, exchange: t.deadExchange, routingKey: "")
        try c.exchangeDeclare(t.toolCallsExchange, type: "x-consistent-hash", durable: true)
        try c.exchangeDeclare(t.approvalsExchange, type: "direct", durable: true)
        try c.exchangeDeclare(t.escalationsExchange, type: "topic", durable: true)
        try c.exchangeDeclare(t.decisionsExchange, type: "topic", durable: true)
        let shardArguments: AMQPTable = [
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": .string(t.deadExchange),
            "x-delivery-limit": .int64(Int64(configuration.deliveryLimit)),
        ]
        let calls = try c.queueDeclare(t.toolCallsQueue, durable: true, arguments: shardArguments)
        // The binding key of a consistent-hash exchange is the queue's weight.
        try c.queueBind(
            queue: t.toolCallsQueue,
            exchange: t.toolCallsExchange,
            routingKey: "\(configuration.shardWeight)"
        )
        let votes = try c.queueDeclare(t.approvalsQueue, durable: true, arguments: shardArguments)
        try c.queueBind(queue: t.approvalsQueue, exchange: t.approvalsExchange, routingKey: configuration.workerID)
        // One worker per id: a second one would split this worker's agents and receive votes for
        // escalations it does not hold. (A connection of a worker that just died may linger until
        // its heartbeat times out, so this is retried, not fatal.)
        for queue in [calls, votes] where queue.consumerCount > 0 {
            throw AMQPError(
                .closed,
                message:
                    "queue '\(queue.name)' already has \(queue.consumerCount) consumer(s): is another worker running with --worker-id \(configuration.workerID)? waiting for it to go away",
                context: "checking that this worker id is free"
            )
        }
    }

    // MARK: - Serving

    private func serve(_ connection: AMQPConnection) throws {
        // What the store still owes the broker from before (a crash, a lost connection), and
        // deadlines that passed while nobody was looking, first.
        try republishOutbox(connection)
        nextDeadline = try store.nextDeadline()
        try runBatch([], connection: connection)

        toolCallConsumer = try connection.basicConsume(
            queue: topology.toolCallsQueue,
            consumerTag: "tollgate-calls-\(configuration.workerID)"
        )
        voteConsumer = try connection.basicConsume(
            queue: topology.approvalsQueue,
            consumerTag: "tollgate-votes-\(configuration.workerID)"
        )
        let pendingCount = try store.pendingCount()
        logger.info("consuming", metadata: ["pending_escalations": "\(pendingCount)"])

        var stopping = false
        var stopBy = ContinuousClock.now
        var batch: [Inbound] = []
        batch.reserveCapacity(configuration.maxBatch)
        while true {
            if control.stopRequested, !stopping {
                stopping = true
                stopBy = ContinuousClock.now + .seconds(10)
                logger.info("shutting down: finishing in-flight messages", metadata: ["in_flight": "\(unacked.count)"])
                try connection.basicCancel(consumerTag: toolCallConsumer)
                try connection.basicCancel(consumerTag: voteConsumer)
            }
            if stopping, (unacked.count == 0 && settlement.isIdle) || ContinuousClock.now >= stopBy {
                if unacked.count > 0 {
                    logger.warning(
                        "stopping with unconfirmed messages; the broker will redeliver them",
                        metadata: ["unacked": "\(unacked.count)"]
                    )
                }
                logStats(force: true)
                return
            }
            if control.takeReloadRequest() { reloadPolicy() }

            // Gather: wait for the first event no longer than the next timer, then take what
            // is already buffered.
            batch.removeAll(keepingCapacity: true)
            if let event = try connection.nextEvent(timeout: waitTime(stopping: stopping)) {
                try handle(event, into: &batch)
                while batch.count < configuration.maxBatch, let more = try connection.nextEvent(timeout: .zero) {
                    try handle(more, into: &batch)
                }
            }
            try runBatch(batch, connection: connection)
            try flushSettled(connection)
            try housekeeping(connection)
        }
    }

    private func waitTime(stopping: Bool) -> Duration {
        var millis: Millis = stopping ? 50 : 250
        if let nextDeadline { millis = min(millis, max(0, nextDeadline - nowMillis())) }
        return .milliseconds(millis)
    }

    private func handle(_ event: AMQPEvent, into batch: inout [Inbound]) throws {
        switch event {
        case .delivery(let delivery):
            unacked.received(delivery.deliveryTag)
            let properties = delivery.properties
            batch.append(
                Inbound(
                    source: delivery.consumerTag == voteConsumer ? .vote : .toolCall,
                    deliveryTag: delivery.deliveryTag,
                    body: delivery.body,
                    routingKey: delivery.routingKey,
                    replyTo: properties.replyTo,
                    correlationID: properties.correlationId,
                    messageID: properties.messageId,
                    userID: properties.userId,
                    redelivered: delivery.redelivered,
                    deliveryCount: properties.headers?["x-delivery-count"]?.intValue ?? 0
                )
            )
        case .publishAck(let seq, let multiple):
            settlement.confirm(seq: seq, multiple: multiple, accepted: true)
        case .publishNack(let seq, let multiple):
            gate.countPublishNack()
            logger.warning("the broker rejected a publish; it will be retried", metadata: ["seq": "\(seq)"])
            settlement.confirm(seq: seq, multiple: multiple, accepted: false)
        case .returned(let returned):
            gate.countUnroutable()
            logger.warning(
                "a reply was unroutable (no such queue); the input is settled anyway",
                metadata: [
                    "routing_key": "\(returned.routingKey)", "reply_code": "\(returned.replyCode)",
                    "correlation_id": "\(returned.properties.correlationId ?? "-")",
                ]
            )
        case .consumerCancelled(let tag):
            throw AMQPError(
                .closed,
                message:
                    "the broker cancelled consumer \(tag) (was the queue deleted?); reconnecting to declare it again",
                context: "consuming"
            )
        case .blocked(let reason):
            logger.warning(
                "the broker blocked publishing (resource alarm); waiting",
                metadata: [LogKey.reason: "\(reason)"]
            )
        case .unblocked:
            logger.notice("the broker unblocked publishing")
        }
    }

    /// Decides `batch` (and due deadlines) in one transaction, then publishes what it caused.
    private func runBatch(_ batch: [Inbound], connection: AMQPConnection) throws {
        let now = nowMillis()
        let deadlinesDue = nextDeadline.map { $0 <= now } ?? false
        guard !batch.isEmpty || deadlinesDue || !confirmedOutbox.isEmpty else { return }
        let deletes = confirmedOutbox
        var deadlinePublishes: [Publish] = []
        let results: [[Publish]] = try store.transaction {
            if !deletes.isEmpty { try store.deleteOutbox(ids: deletes) }
            var results: [[Publish]] = []
            results.reserveCapacity(batch.count)
            for input in batch {
                switch input.source {
                case .toolCall: results.append(try gate.handleToolCall(input, now: now))
                case .vote: results.append(try gate.handleVote(input, now: now))
                }
            }
            if deadlinesDue { deadlinePublishes = try gate.handleDeadlines(now: now) }
            return results
        }
        confirmedOutbox.removeAll(keepingCapacity: true)
        if deadlinesDue || results.contains(where: { $0.contains { $0.outboxID != nil } }) {
            nextDeadline = try store.nextDeadline()
        }
        faults.reached(.afterCommit)

        // One write for the whole batch's publishes instead of one per message: it halves the
        // worker's kernel time and the broker reads them in bulk.
        connection.holdPublishes()
        for (input, publishes) in zip(batch, results) {
            if publishes.isEmpty {
                settlement.settledWithoutPublishing(deliveryTag: input.deliveryTag)
                continue
            }
            for publish in publishes {
                let seq = try send(publish, connection)
                settlement.published(seq: seq, for: .init(deliveryTag: input.deliveryTag, outboxID: publish.outboxID))
            }
        }
        for publish in deadlinePublishes {
            let seq = try send(publish, connection)
            settlement.published(seq: seq, for: .init(deliveryTag: nil, outboxID: publish.outboxID))
        }
        try connection.flushPublishes()
        faults.reached(.afterPublish)
        control.update { $0.counters = gate.counters }
    }

    private func send(_ publish: Publish, _ connection: AMQPConnection) throws -> UInt64 {
        var properties = AMQPProperties()
        properties.contentType = "application/json"
        properties.deliveryMode = 2
        properties.correlationId = publish.correlationID
        properties.messageId = publish.messageID
        properties.replyTo = publish.replyTo
        properties.appId = "tollgate"
        if !publish.headers.isEmpty {
            properties.headers = AMQPTable(publish.headers.map { AMQPTable.Entry(key: $0.0, value: .string($0.1)) })
        }
        if let id = publish.outboxID { inFlightOutbox.insert(id) }
        return try connection.publish(
            exchange: publish.exchange,
            routingKey: publish.routingKey,
            body: publish.body,
            properties: properties,
            mandatory: publish.mandatory
        )
    }

    /// Acks inputs whose publishes are confirmed, requeues those the broker rejected.
    private func flushSettled(_ connection: AMQPConnection) throws {
        let ready = settlement.take()
        for id in ready.confirmedOutbox { inFlightOutbox.remove(id) }
        for id in ready.rejectedOutbox { inFlightOutbox.remove(id) }
        confirmedOutbox += ready.confirmedOutbox
        if !ready.ack.isEmpty { faults.reached(.beforeAck) }
        for (tag, multiple) in unacked.plan(ready: ready.ack) {
            try connection.ack(deliveryTag: tag, multiple: multiple)
        }
        for tag in ready.requeue {
            unacked.remove(tag)
            try connection.nack(deliveryTag: tag, multiple: false, requeue: true)
        }
    }

    private func republishOutbox(_ connection: AMQPConnection) throws {
        let rows = try store.outbox()
        guard !rows.isEmpty else { return }
        logger.info("publishing messages left in the outbox", metadata: ["count": "\(rows.count)"])
        connection.holdPublishes()
        for row in rows where !inFlightOutbox.contains(row.id) {
            let seq = try send(Publish(outbox: row, id: row.id), connection)
            settlement.published(seq: seq, for: .init(deliveryTag: nil, outboxID: row.id))
        }
        try connection.flushPublishes()
    }

    // MARK: - Housekeeping

    private func housekeeping(_ connection: AMQPConnection) throws {
        let now = nowMillis()
        if now - lastOutboxSweep >= 10_000 {
            lastOutboxSweep = now
            // Rows the broker rejected (nack) are published again here; normally every row is
            // in flight and this publishes nothing.
            if try store.outboxCount() > inFlightOutbox.count { try republishOutbox(connection) }
        }
        if now - lastPrune >= 60_000 {
            lastPrune = now
            let cutoff = now - Millis(configuration.dedupeRetentionSeconds) * 1000
            let removed = try store.transaction { try store.pruneInputs(receivedBefore: cutoff) }
            if removed > 0 { logger.debug("forgot old inputs", metadata: ["count": "\(removed)"]) }
        }
        logStats(force: false)
    }

    private func logStats(force: Bool) {
        let now = nowMillis()
        if lastStats == 0 { lastStats = now }
        let elapsed = now - lastStats
        guard force || elapsed >= Millis(configuration.statsIntervalSeconds) * 1000 else { return }
        let c = gate.counters
        let before = countersAtLastStats
        let calls = c.calls - before.calls
        guard force || calls > 0 || c != before else {
            lastStats = now
            return
        }
        let rate = elapsed > 0 ? Double(calls) * 1000 / Double(elapsed) : 0
        logger.info(
            "progress",
            metadata: [
                "calls": "\(calls)", "per_second": "\(Int(rate))",
                "allow": "\(c.allowed - before.allowed)", "deny": "\(c.denied - before.denied)",
                "escalated": "\(c.escalated - before.escalated)", "invalid": "\(c.invalid - before.invalid)",
                "limit": "\(c.limited - before.limited)", "duplicates": "\(c.duplicates - before.duplicates)",
                "votes_accepted": "\(c.votesAccepted - before.votesAccepted)",
                "votes_rejected": "\(c.votesRejected - before.votesRejected)",
                "timeouts": "\(c.timeouts - before.timeouts)", "unroutable": "\(c.unroutable - before.unroutable)",
            ]
        )
        countersAtLastStats = c
        lastStats = now
    }

    private func reloadPolicy() {
        do {
            let next = try LoadedPolicy.load(paths: configuration.policyPaths)
            gate.policy = next
            logger.info("policies reloaded", metadata: next.logMetadata)
            control.update {
                $0.policyVersion = next.versionString
                $0.policyReloads += 1
            }
        } catch {
            logger.error("policy reload refused; keeping the policies in force", metadata: [LogKey.error: "\(error)"])
            control.update { $0.policyReloadFailures += 1 }
        }
    }
}
