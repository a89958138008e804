import Foundation
import Logging
import TollgateAMQP
import TollgateJSON
import TollgateStore

/// Where a drain is: a draining worker takes no new calls, finishes what its queue holds, hands
/// its budgets to the workers that now own its agents, and stops when no escalation is pending.
enum DrainPhase: Equatable {
    /// Not draining.
    case serving
    /// Unbound from the tool-call exchange; deciding what the shard queue still holds.
    case finishingQueue
    /// The queue is empty and the budgets are handed over; waiting for the pending escalations
    /// to be decided by votes or deadlines.
    case waitingForEscalations
}

extension WorkerLoop {
    /// One step of a drain, called every turn; true when the drain is complete and the worker
    /// may stop.
    func advanceDrain(_ connection: AMQPConnection) throws -> Bool {
        guard control.drainRequested, outage == nil else { return false }
        let now = clock.monotonicMillis()
        switch drainPhase {
        case .serving:
            try connection.queueUnbind(
                queue: topology.toolCallsQueue,
                exchange: topology.toolCallsExchange,
                routingKey: "\(configuration.shardWeight)"
            )
            drainPhase = .finishingQueue
            control.update { $0.draining = true }
            logger.notice(
                "draining: unbound from the tool-call exchange; new calls go to the other workers, finishing what the queue holds",
                metadata: ["queue": "\(topology.toolCallsQueue)"]
            )
            // The ring of the consistent-hash exchange changed: every worker re-homes its counts
            // and hands its recent call records, this one at once, so the agents' new owners
            // have them within milliseconds. Its counts stay in transit here for the calls its
            // queue still holds, until the marker that follows them; what those calls charge and
            // record is handed once the queue is empty.
            try store.setRingMember(false)
            rehomeRequested = true
            rehomeRecords = true
            try requestRebalance(connection, reason: "worker \(configuration.workerID) is draining", records: true)
            return false
        case .finishingQueue:
            guard now - lastDrainCheck >= 500 else { return false }
            lastDrainCheck = now
            let queue = try connection.queueDeclare(topology.toolCallsQueue, passive: true)
            guard queue.messageCount == 0, unacked.count == 0 else { return false }
            try connection.basicCancel(consumerTag: toolCallConsumer)
            toolCallConsumer = ""
            rehomeRequested = true
            rehomeRecords = true
            drainPhase = .waitingForEscalations
            logger.notice("draining: the queue is empty; handing the budgets to the workers that own the agents now")
            return false
        case .waitingForEscalations:
            let pending = try store.pendingCount()
            if now - lastDrainReport >= 10_000 {
                lastDrainReport = now
                logger.notice(
                    "draining: waiting for pending escalations to be decided",
                    metadata: [
                        "pending_escalations": "\(pending)",
                        "next_deadline": "\(nextDeadline.map { isoTime($0) } ?? "-")",
                    ]
                )
            }
            guard pending == 0, !rehomeRequested, !rehomeRecords, unacked.count == 0, settlement.isIdle,
                awaitingSync.isEmpty,
                try store.outboxCount() == 0
            else { return false }
            logger.notice("drained: no call left in the queue, no escalation pending; stopping")
            return true
        }
    }

    /// Asks every worker (over `<prefix>.control`, as this worker's broker user) to re-home its
    /// budgets, after this worker changed the consistent-hash exchange's ring (bound or unbound),
    /// and with `records` to hand its recent call records too.
    func requestRebalance(_ connection: AMQPConnection, reason: String, records: Bool = false) throws {
        var w = JSONWriter()
        w.beginObject()
        w.objectField("query", "rebalance")
        w.objectField("worker_id", configuration.workerID)
        w.objectField("reason", reason)
        if records { w.objectField("records", true) }
        w.endObject()
        let seq = try send(
            OutboundMessage(exchange: topology.controlExchange, routingKey: "", body: w.bytes, asWorker: true),
            connection
        )
        settlement.published(seq: seq, for: .init(deliveryTag: nil, outboxID: nil))
    }
}
