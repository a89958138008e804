import Synchronization

/// Requests from other threads (signals, the service, the HTTP endpoints) to the worker's event
/// loop, and what the loop reports back. Everything in it is atomic or behind a mutex.
public final class WorkerControl: Sendable {
    private let stop = Atomic<Bool>(false)
    private let reload = Atomic<Bool>(false)
    private let drain = Atomic<Bool>(false)
    private let lastTurn = Atomic<Int64>(0)
    private let state = Mutex(WorkerStatus())

    public init() {}

    /// Graceful stop: stop consuming, finish what is in flight, close.
    public func requestStop() { stop.store(true, ordering: .sequentiallyConsistent) }
    public var stopRequested: Bool { stop.load(ordering: .sequentiallyConsistent) }

    /// Reload the policies (SIGHUP).
    public func requestReload() { reload.store(true, ordering: .sequentiallyConsistent) }
    func takeReloadRequest() -> Bool { reload.exchange(false, ordering: .sequentiallyConsistent) }

    /// Drain (SIGUSR1, `--drain`): stop taking new calls, finish and hand over, exit when nothing
    /// is pending.
    public func requestDrain() { drain.store(true, ordering: .sequentiallyConsistent) }
    public var drainRequested: Bool { drain.load(ordering: .sequentiallyConsistent) }

    /// The event loop marks each turn (monotonic milliseconds); `/healthz` checks it is recent.
    func markTurn(_ monotonicMillis: Int64) { lastTurn.store(monotonicMillis, ordering: .relaxed) }
    /// Milliseconds since the loop's last turn (nil before the first).
    public func millisSinceLastTurn(now monotonicMillis: Int64) -> Int64? {
        let last = lastTurn.load(ordering: .relaxed)
        return last == 0 ? nil : monotonicMillis - last
    }

    /// A snapshot of the worker's state.
    public var status: WorkerStatus { state.withLock { $0 } }
    func update(_ body: (inout WorkerStatus) -> Void) { state.withLock { body(&$0) } }
}

/// What a running worker reports about itself.
public struct WorkerStatus: Sendable, Equatable {
    /// Connected to the broker, topology declared.
    public var connected = false
    /// Consumers registered on the shard and votes queues.
    public var consuming = false
    /// The last write to the database succeeded (false while the disk is full or read-only).
    public var storeWritable = true
    /// Why the database cannot be written, while it cannot.
    public var storeProblem: String?
    /// Draining: unbound from the tool-call exchange, finishing what it holds.
    public var draining = false
    /// Times the worker (re)connected.
    public var connections = 0
    /// The broker address in use.
    public var broker = ""
    public var counters = WorkerCounters()
    public var pendingEscalations = 0
    public var policyVersion = ""
    public var policyReloads = 0
    public var policyReloadFailures = 0

    /// Ready to take work: connected, consuming, able to record what it decides, not draining.
    public var ready: Bool { connected && consuming && storeWritable && !draining }

    /// Why it is not ready, in words (nil when ready).
    public var notReadyReason: String? {
        if !connected { return "not connected to the broker" }
        if !storeWritable { return "the database cannot be written: \(storeProblem ?? "unknown")" }
        if draining { return "draining" }
        if !consuming { return "not consuming" }
        return nil
    }
}
