import Metrics
import Synchronization

/// The bridge's Prometheus metrics, per target (label `target`):
///
/// - `tollgate_webhook_deliveries_total{target,event}`: notices delivered (a 2xx answer);
/// - `tollgate_webhook_attempts_total{target}`: POSTs made, retries included;
/// - `tollgate_webhook_failures_total{target,kind}`: failed POSTs (`unreachable`, `429`, `4xx`, `5xx`, ...);
/// - `tollgate_webhook_dead_lettered_total{target}`: notices given up on;
/// - `tollgate_webhook_undelivered{target}`: notices the bridge holds, not yet delivered;
/// - `tollgate_webhook_oldest_undelivered_seconds{target}`: the age of the oldest of them (0 when none);
/// - `tollgate_webhook_request_duration_seconds{target}`: how long a POST took.
final class WebhookMetrics: Sendable {
    private let deliveries = Mutex<[String: Counter]>([:])
    private let failures = Mutex<[String: Counter]>([:])
    private let attemptCounters: [String: Counter]
    private let deadLettered: [String: Counter]
    private let undelivered: [String: Gauge]
    private let oldest: [String: Gauge]
    private let durations: [String: Metrics.Timer]

    init(targets: [String]) {
        func each<M>(_ make: (String) -> M) -> [String: M] {
            Dictionary(uniqueKeysWithValues: targets.map { ($0, make($0)) })
        }
        attemptCounters = each { Counter(label: "tollgate_webhook_attempts_total", dimensions: [("target", $0)]) }
        deadLettered = each { Counter(label: "tollgate_webhook_dead_lettered_total", dimensions: [("target", $0)]) }
        undelivered = each { Gauge(label: "tollgate_webhook_undelivered", dimensions: [("target", $0)]) }
        oldest = each { Gauge(label: "tollgate_webhook_oldest_undelivered_seconds", dimensions: [("target", $0)]) }
        durations = each {
            Metrics.Timer(label: "tollgate_webhook_request_duration_seconds", dimensions: [("target", $0)])
        }
        for target in targets {
            undelivered[target]?.record(0)
            oldest[target]?.record(0)
        }
    }

    func attempted(_ target: String, nanoseconds: Int64) {
        attemptCounters[target]?.increment()
        durations[target]?.recordNanoseconds(nanoseconds)
    }

    func delivered(_ target: String, event: String) {
        Self.counter(in: deliveries, "tollgate_webhook_deliveries_total", target: target, ("event", event)).increment()
    }

    func failed(_ target: String, kind: String) {
        Self.counter(in: failures, "tollgate_webhook_failures_total", target: target, ("kind", kind)).increment()
    }

    /// The counter of `label` for this target and second label, made on first use.
    private static func counter(
        in counters: borrowing Mutex<[String: Counter]>,
        _ label: String,
        target: String,
        _ second: (String, String)
    ) -> Counter {
        counters.withLock { made in
            let key = target + "\u{0}" + second.1
            if let counter = made[key] { return counter }
            let counter = Counter(label: label, dimensions: [("target", target), second])
            made[key] = counter
            return counter
        }
    }

    func deadLetteredOne(_ target: String) { deadLettered[target]?.increment() }

    func held(_ target: String, count: Int, oldestAgeMillis: Int64?) {
        undelivered[target]?.record(count)
        oldest[target]?.record(Double(oldestAgeMillis ?? 0) / 1000)
    }
}
