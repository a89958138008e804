import Synchronization

/// What `/healthz` and `/readyz` of `tollgate webhook` report: the broker thread turns at least
/// every 250 ms; ready when connected and consuming every target's queue.
public final class WebhookStatus: Sendable {
    private let lastTurn = Atomic<Int64>(0)
    private let state = Mutex<(connected: Bool, problem: String?)>((false, "starting"))

    public init() {}

    func markTurn(_ monotonicMillis: Int64) { lastTurn.store(monotonicMillis, ordering: .relaxed) }

    /// Milliseconds since the broker thread last turned; nil before it first did.
    public func millisSinceLastTurn(now monotonicMillis: Int64) -> Int64? {
        let last = lastTurn.load(ordering: .relaxed)
        return last == 0 ? nil : monotonicMillis - last
    }

    func set(connected: Bool, problem: String?) { state.withLock { $0 = (connected, problem) } }

    /// Why it is not ready, in words (nil when ready).
    public var notReadyReason: String? {
        state.withLock { $0.connected ? nil : ($0.problem ?? "not connected to the broker") }
    }
}
