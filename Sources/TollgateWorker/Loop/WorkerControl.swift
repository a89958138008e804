import Synchronization

/// Requests from other threads (signals, the service, the HTTP endpoints) to the worker's event
/// loop, and what the loop reports back. Everything in it is atomic or behind a mutex.
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
    /// Connected to the broker, topology declared.
    public var connected = false
    /// Consumers registered on the shard and votes queues.
    public var consuming = false
    /// The last write to the database succeeded (false while the disk is full or read-only).
    public var storeWritable = true
    /// Why the database cannot be written, while it cannot.
    public var storeProblem: String?
    /// Times the worker (re)connected.
    public var connections = 0
    /// The broker address in use.
    public var broker = ""
    public var counters = WorkerCounters()
    public var pendingEscalations = 0
    public var policyVersion = ""
    public var policyReloads = 0
    public var policyReloadFailures = 0

    /// Ready to take work: connected, consuming, and able to record what it decides.
    public var ready: Bool { connected && consuming && storeWritable }
}
