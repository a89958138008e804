import Foundation
import Logging
import TollgateAMQP
import TollgateStore

// One connection's life: catch up (outbox, due deadlines), consume, and turn the loop until a
// graceful stop or an error.
extension WorkerLoop {
    func serve(_ connection: AMQPConnection) throws {
        if outage == nil {
            try catchUp(connection)
            try startConsuming(connection)
            let pendingCount = try store.pendingCount()
            control.update { $0.pendingEscalations = pendingCount }
            logger.info("consuming", metadata: ["pending_escalations": "\(pendingCount)"])
        }

        var stopBy: ContinuousClock.Instant?
        var batch: [Inbound] = []
        batch.reserveCapacity(configuration.maxBatch)
        while true {
            if control.stopRequested, stopBy == nil {
                stopBy = ContinuousClock.now + .seconds(10)
                logger.info("shutting down: finishing in-flight messages", metadata: ["in_flight": "\(unacked.count)"])
                try stopConsuming(connection)
            }
            if let stopBy, (unacked.count == 0 && settlement.isIdle) || ContinuousClock.now >= stopBy {
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
            if let event = try connection.nextEvent(timeout: waitTime(stopping: stopBy != nil)) {
                try handle(event, into: &batch, connection)
                while batch.count < configuration.maxBatch, let more = try connection.nextEvent(timeout: .zero) {
                    try handle(more, into: &batch, connection)
                }
            }
            if outage != nil {
                try checkOutage(connection, stopping: stopBy != nil)
            } else {
                try runBatch(batch, connection: connection)
            }
            try flushSettled(connection)
            try housekeeping(connection)
        }
    }

    /// What the store still owes the broker from before (a crash, a lost connection, an outage),
    /// and deadlines that passed while nobody was looking.
    func catchUp(_ connection: AMQPConnection) throws {
        try republishOutbox(connection)
        nextDeadline = try store.nextDeadline()
        try runBatch([], connection: connection)
    }

    func startConsuming(_ connection: AMQPConnection) throws {
        guard !consuming else { return }
        toolCallConsumer = try connection.basicConsume(
            queue: topology.toolCallsQueue,
            consumerTag: "tollgate-calls-\(configuration.workerID)"
        )
        voteConsumer = try connection.basicConsume(
            queue: topology.approvalsQueue,
            consumerTag: "tollgate-votes-\(configuration.workerID)"
        )
        consuming = true
        control.update { $0.consuming = true }
    }

    /// Cancels the consumers; deliveries already on their way still arrive.
    func stopConsuming(_ connection: AMQPConnection) throws {
        guard consuming else { return }
        try connection.basicCancel(consumerTag: toolCallConsumer)
        try connection.basicCancel(consumerTag: voteConsumer)
        consuming = false
        control.update { $0.consuming = false }
    }

    private func waitTime(stopping: Bool) -> Duration {
        var millis: Millis = stopping ? 50 : 250
        if outage == nil, let nextDeadline { millis = min(millis, max(0, nextDeadline - clock.wallMillis())) }
        return .milliseconds(millis)
    }

    private func handle(_ event: AMQPEvent, into batch: inout [Inbound], _ connection: AMQPConnection) throws {
        switch event {
        case .delivery(let delivery):
            unacked.received(delivery.deliveryTag)
            if outage != nil {
                // Not taking work: back to the queue, for when the database can record it.
                try requeue([delivery.deliveryTag], connection)
                return
            }
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
                    deliveryCountHeader: delivery.deliveryCount
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

    /// Returns deliveries to their queue without deciding them.
    func requeue(_ tags: [UInt64], _ connection: AMQPConnection) throws {
        for tag in tags {
            unacked.remove(tag)
            try connection.nack(deliveryTag: tag, multiple: false, requeue: true)
        }
    }
}
