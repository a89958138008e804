import Metrics
import TollgateStore

/// The worker's metrics, through swift-metrics: the command line bootstraps the Prometheus
/// backend that `/metrics` renders; without a backend these cost next to nothing.
///
/// Counters follow `WorkerCounters` after each committed batch (a transaction that rolls back
/// counts nothing), so the metrics and the progress log never disagree.
final class WorkerMetrics {
    static let buildVersion = "0.2.0"

    private var toolCalls: [WorkerCounters.DecisionKey: Counter] = [:]
    private let votesAccepted = Counter(label: "tollgate_votes_total", dimensions: [("result", "accepted")])
    private let votesRejected = Counter(label: "tollgate_votes_total", dimensions: [("result", "rejected")])
    private let invalid = Counter(label: "tollgate_invalid_messages_total")
    private let reconnects = Counter(label: "tollgate_broker_reconnects_total")
    private let publishNacks = Counter(label: "tollgate_publish_nacks_total")
    private let unroutable = Counter(label: "tollgate_unroutable_total")
    private let redeliveries = Counter(label: "tollgate_redeliveries_total")
    private let handoffsReceived = Counter(
        label: "tollgate_budget_handoffs_total",
        dimensions: [("direction", "received")]
    )
    private let handoffsSent = Counter(label: "tollgate_budget_handoffs_total", dimensions: [("direction", "sent")])
    private let recordsHanded = Counter(
        label: "tollgate_call_record_handoffs_total",
        dimensions: [("direction", "sent")]
    )
    private let recordsAdopted = Counter(
        label: "tollgate_call_record_handoffs_total",
        dimensions: [("direction", "received")]
    )
    private let pending = Gauge(label: "tollgate_escalations_pending")
    private let ready = Gauge(label: "tollgate_ready")
    /// From a delivery's arrival to the write of what it caused (its answer published).
    let decisionDuration = Metrics.Timer(label: "tollgate_decision_duration_seconds")
    private var last = WorkerCounters()

    init(workerID: String) {
        Gauge(label: "tollgate_build_info", dimensions: [("version", Self.buildVersion), ("worker_id", workerID)])
            .record(1)
        // Every series a dashboard expects exists from the start, at 0.
        for key in [
            WorkerCounters.DecisionKey(decision: .allow, resolution: .policy),
            .init(decision: .deny, resolution: .policy), .init(decision: .pending, resolution: .policy),
        ] { counter(key).increment(by: 0) }
        pending.record(0)
    }

    private func counter(_ key: WorkerCounters.DecisionKey) -> Counter {
        if let existing = toolCalls[key] { return existing }
        let made = Counter(
            label: "tollgate_toolcalls_total",
            dimensions: [("decision", key.decision.rawValue), ("resolution", key.resolution.rawValue)]
        )
        toolCalls[key] = made
        return made
    }

    /// Adds what changed since the last call.
    func update(_ now: WorkerCounters) {
        for (key, count) in now.decisions where count > last.decisions[key, default: 0] {
            counter(key).increment(by: count - last.decisions[key, default: 0])
        }
        func add(_ counter: Counter, _ path: KeyPath<WorkerCounters, Int>) {
            let delta = now[keyPath: path] - last[keyPath: path]
            if delta > 0 { counter.increment(by: delta) }
        }
        add(votesAccepted, \.votesAccepted)
        add(votesRejected, \.votesRejected)
        add(invalid, \.invalid)
        add(publishNacks, \.publishNacks)
        add(unroutable, \.unroutable)
        add(redeliveries, \.redeliveries)
        add(handoffsReceived, \.handoffsReceived)
        add(handoffsSent, \.handoffsSent)
        add(recordsHanded, \.recordsHanded)
        add(recordsAdopted, \.recordsAdopted)
        last = now
    }

    func reconnected() { reconnects.increment() }
    func pendingEscalations(_ count: Int) { pending.record(count) }
    func readiness(_ isReady: Bool) { ready.record(isReady ? 1 : 0) }
}
