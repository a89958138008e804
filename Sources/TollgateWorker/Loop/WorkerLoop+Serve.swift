import Foundation
import Logging
import TollgateAMQP
import TollgateStore

// One connection's life: catch up (outbox, due deadlines), consume, and turn the loop until a
// graceful stop or an error.
extension WorkerLoop {
    func serve(_ connection: AMQPConnection) throws {
        if outage == nil {
            endStaleGrants()
            try catchUp(connection)
            try startConsuming(connection)
            let pendingCount = try store.pendingCount()
            pendingBase = pendingCount - gate.counters.pendingChange
            reportCounters()
            logger.info("consuming", metadata: ["pending_escalations": "\(pendingCount)"])
            if drainPhase == .serving {
                // Binding this worker's queue changed the ring: every worker (this one too)
                // re-homes its budgets to the agents' owners.
                // Records follow the agents only when the ring really changed: this database's
                // first start, or its first since a drain (a restart keeps the binding).
                rehomeRequested = true
                let joined = try store.ringMember() != true
                try requestRebalance(connection, reason: "worker \(configuration.workerID) joined", records: joined)
                if joined {
                    try store.setRingMember(true)
                    if configuration.joinSettleMillis > 0 {
                        settleUntil = clock.monotonicMillis() + Millis(configuration.joinSettleMillis)
                        logger.info(
                            "joined the ring: holding tool calls while the other workers hand over budgets and call records",
                            metadata: ["hold_ms": "\(configuration.joinSettleMillis)"]
                        )
                    }
                }
            }
        }

        var stopBy: ContinuousClock.Instant?
        var batch: [Inbound] = []
        batch.reserveCapacity(configuration.maxBatch)
        while true {
            if control.stopRequested, stopBy == nil {
                stopBy = ContinuousClock.now + .seconds(10)
                logger.info("shutting down: finishing in-flight messages", metadata: ["in_flight": "\(unacked.count)"])
                try stopConsuming(connection, everything: true)
            }
            if let stopBy,
                (unacked.count == 0 && settlement.isIdle && awaitingSync.isEmpty) || ContinuousClock.now >= stopBy
            {
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
            releaseHeld(into: &batch, stopping: stopBy != nil)
            if let event = try nextEvent(connection, timeout: waitTime(stopping: stopBy != nil)) {
                try handle(event, into: &batch, connection)
                while batch.count < configuration.maxBatch, let more = try connection.nextEvent(timeout: .zero) {
                    try handle(more, into: &batch, connection)
                }
            }
            // What earlier batches caused, once their commits are on disk (before this batch's
            // commit, so the order of publishes is the order of commits).
            try publishDurable(connection)
            if outage != nil {
                // An outage that a failed sync began just now: this turn's inputs wait with the
                // unsynced ones (none came in if the outage was older: they go straight there).
                outageHeld.append(contentsOf: batch)
                try checkOutage(connection, stopping: stopBy != nil)
            } else {
                try runBatch(batch, connection: connection)
            }
            if countersMoved {
                // Counted outside a batch (nacks, returns): the metrics see them now, not at the
                // next commit, which may be long in coming.
                countersMoved = false
                reportCounters()
            }
            try flushSettled(connection)
            try publishDueAgain(connection)
            try housekeeping(connection)
            control.markTurn(clock.monotonicMillis())
            if stopBy == nil, try advanceDrain(connection) {
                logStats(force: true)
                return
            }
        }
    }

    /// The next broker event, waiting no longer than `timeout`; while committed batches wait for
    /// their sync, also no longer than the syncer takes to signal that it has synced.
    private func nextEvent(_ connection: AMQPConnection, timeout: Duration) throws -> AMQPEvent? {
        guard !awaitingSync.isEmpty, let syncer = store.syncer else {
            return try connection.nextEvent(timeout: timeout)
        }
        return try connection.nextEvent(timeout: timeout, wakingOn: syncer.wakeFD)
    }

    /// Hands the counters to the metrics and the status (after a committed batch).
    func reportCounters() {
        let counters = gate.counters
        let pending = pendingBase + counters.pendingChange
        metrics.update(counters)
        metrics.pendingEscalations(pending)
        control.update {
            $0.counters = counters
            $0.pendingEscalations = pending
        }
    }

    /// What the store still owes the broker from before (a crash, a lost connection, an outage),
    /// and deadlines that passed while nobody was looking.
    func catchUp(_ connection: AMQPConnection) throws {
        // Outbox rows of commits that may not be synced yet are published only once they are.
        try store.syncNow()
        try republishOutbox(connection)
        nextDeadline = try store.nextDeadline()
        try runBatch([], connection: connection)
    }

    static var voteTagPrefix: String { "tollgate-votes-" }

    func startConsuming(_ connection: AMQPConnection) throws {
        guard !consuming else { return }
        consumeRound += 1
        // A drain that handed its budgets over takes no tool calls any more, only votes.
        toolCallConsumer =
            drainPhase == .waitingForEscalations
            ? ""
            : try connection.basicConsume(
                queue: topology.toolCallsQueue,
                consumerTag: "tollgate-calls-\(configuration.workerID)-\(consumeRound)"
            )
        voteConsumer = try connection.basicConsume(
            queue: topology.approvalsQueue,
            consumerTag: "\(Self.voteTagPrefix)\(configuration.workerID)-\(consumeRound)"
        )
        if controlConsumer.isEmpty {
            // Queries are answered at once and are harmless to lose: no acks.
            controlConsumer = try connection.basicConsume(queue: controlQueue, noAck: true)
        }
        consuming = true
        control.update { $0.consuming = true }
    }

    /// Cancels the tool-call and vote consumers (and with `everything` the fleet queries'
    /// too); deliveries already on their way still arrive.
    func stopConsuming(_ connection: AMQPConnection, everything: Bool = false) throws {
        if everything, !controlConsumer.isEmpty {
            try connection.basicCancel(consumerTag: controlConsumer)
            controlConsumer = ""
        }
        guard consuming else { return }
        if !toolCallConsumer.isEmpty, drainPhase != .waitingForEscalations {
            try connection.basicCancel(consumerTag: toolCallConsumer)
        }
        try connection.basicCancel(consumerTag: voteConsumer)
        consuming = false
        control.update { $0.consuming = false }
    }

    /// The tool calls held since this worker joined the ring, once the hold is over (or the
    /// worker stops), in the order they came, ahead of anything newer.
    private func releaseHeld(into batch: inout [Inbound], stopping: Bool) {
        guard let settleUntil, outage == nil, stopping || clock.monotonicMillis() >= settleUntil else { return }
        self.settleUntil = nil
        if !held.isEmpty {
            logger.info("deciding the tool calls held since joining the ring", metadata: ["calls": "\(held.count)"])
        }
        batch.append(contentsOf: held)
        held.removeAll()
    }

    private func waitTime(stopping: Bool) -> Duration {
        var millis: Millis = stopping ? 50 : 250
        if let settleUntil { millis = min(millis, max(0, settleUntil - clock.monotonicMillis())) }
        if outage == nil, let nextDeadline { millis = min(millis, max(0, nextDeadline - clock.wallMillis())) }
        if let due = publishAgain.map(\.due).min() { millis = min(millis, max(0, due - clock.monotonicMillis())) }
        return .milliseconds(millis)
    }

    private func handle(_ event: AMQPEvent, into batch: inout [Inbound], _ connection: AMQPConnection) throws {
        switch event {
        case .delivery(let delivery) where delivery.consumerTag == controlConsumer:
            try answerQuery(delivery, connection)
        case .delivery(let delivery):
            unacked.received(delivery.deliveryTag)
            if delivery.redelivered { gate.counters.redeliveries += 1 }
            let properties = delivery.properties
            let input = Inbound(
                // By the tag's prefix: a cancelled consumer's deliveries may still come in.
                source: delivery.consumerTag.hasPrefix(Self.voteTagPrefix) ? .vote : .toolCall,
                deliveryTag: delivery.deliveryTag,
                body: delivery.body,
                routingKey: delivery.routingKey,
                replyTo: properties.replyTo,
                correlationID: properties.correlationId,
                messageID: properties.messageId,
                userID: properties.userId,
                redelivered: delivery.redelivered,
                deliveryCountHeader: delivery.deliveryCount,
                kind: properties.headers?["x-tollgate-kind"]?.stringValue,
                receivedAt: clock.monotonicMillis()
            )
            if outage != nil {
                // Not taking work: kept unacked, for when the database can record it.
                outageHeld.append(input)
            } else if settleUntil != nil, input.source == .toolCall, input.kind == nil {
                held.append(input)
            } else {
                batch.append(input)
            }
        case .publishAck(let seq, let multiple):
            settlement.confirm(seq: seq, multiple: multiple, accepted: true)
        case .publishNack(let seq, let multiple):
            gate.countPublishNack()
            countersMoved = true
            logger.debug("the broker rejected a publish", metadata: ["seq": "\(seq)"])
            settlement.confirm(seq: seq, multiple: multiple, accepted: false)
        case .returned(let returned):
            gate.countUnroutable()
            countersMoved = true
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

    /// Returns deliveries to their queue without deciding them.
    func requeue(_ tags: [UInt64], _ connection: AMQPConnection) throws {
        for tag in tags {
            unacked.remove(tag)
            try connection.nack(deliveryTag: tag, multiple: false, requeue: true)
        }
    }
}
