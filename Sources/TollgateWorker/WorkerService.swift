import Dispatch
import Foundation
import Logging
import ServiceLifecycle
import TollgateAMQP
import TollgateStore

/// `tollgate worker` as a swift-service-lifecycle `Service`: the event loop runs on a thread of
/// its own (rabbitmq-c and SQLite calls block; Swift's shared pool has only as many threads as
/// cores), and graceful shutdown asks it to finish what is in flight.
public struct WorkerService: Service, CustomStringConvertible {
    public let configuration: WorkerConfiguration
    public let policy: LoadedPolicy
    public let control: WorkerControl
    private let logger: Logger

    /// The event loop thread's name (at most 15 bytes: the kernel's limit).
    public static let threadName = "tollgate-worker"

    /// Checks the configuration and loads the policies: a bad policy stops the start here with
    /// every error's file, line and column.
    public init(
        configuration: WorkerConfiguration,
        control: WorkerControl = WorkerControl(),
        logger: Logger
    ) throws(WorkerError) {
        try configuration.validate()
        self.configuration = configuration
        self.policy = try LoadedPolicy.load(paths: configuration.policyPaths, compat: configuration.compat)
        self.control = control
        self.logger = logger
    }

    /// For ServiceLifecycle's logs: the worker, not every field of its configuration.
    public var description: String {
        "WorkerService(worker \(configuration.workerID), db \(configuration.databasePath))"
    }

    public func run() async throws {
        logger.info(
            "starting worker",
            metadata: [
                "worker_id": "\(configuration.workerID)", "db": "\(configuration.databasePath)",
                "prefix": "\(configuration.prefix)", "durability": "\(configuration.durability.rawValue)",
                "decision_feed": "\(configuration.decisionFeed.rawValue)",
                "heartbeat_seconds": "\(configuration.heartbeatSeconds)",
            ]
        )
        logger.info("policies loaded", metadata: policy.logMetadata)
        policy.warnAboutOpenVoting(keyword: configuration.escalationKeyword, logger: logger)
        let configuration = configuration
        let policy = policy
        let control = control
        let logger = logger
        try await withGracefulShutdownHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let thread = Thread {
                    // The thread's name for the kernel (`top -H`, `ps -L`, /proc/<pid>/task/*/comm,
                    // and the benchmarks' worker-thread CPU): Foundation keeps `Thread.name` to
                    // itself, and pthread_setname_np is not in Swift's Glibc module.
                    try? Data(Self.threadName.utf8).write(to: URL(fileURLWithPath: "/proc/thread-self/comm"))
                    do {
                        guard let store = try openStore(configuration, control: control, logger: logger) else {
                            continuation.resume()
                            return
                        }
                        defer { store.close() }
                        let loop = WorkerLoop(
                            configuration: configuration,
                            policy: policy,
                            store: store,
                            control: control,
                            logger: logger
                        )
                        try loop.run()
                        logger.info("worker stopped")
                        continuation.resume()
                    } catch let error as StoreError {
                        continuation.resume(throwing: WorkerError.store(error.description))
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
                thread.name = Self.threadName
                thread.stackSize = 8 << 20
                thread.start()
            }
        } onGracefulShutdown: {
            control.requestStop()
        }
    }
}

/// Opens the worker's database. One that cannot be written yet (a read-only or full file system
/// at start) is retried with backoff, logged once, until it can or a stop is requested (nil).
func openStore(
    _ configuration: WorkerConfiguration,
    control: WorkerControl,
    logger: Logger
) throws(StoreError)
    -> Store?
{
    var backoff = Backoff(initial: .milliseconds(500), maximum: .seconds(15))
    var reported = false
    while !control.stopRequested {
        do {
            // Commits are synced on the store's own threads; the loop publishes what they caused
            // once they are on disk (WorkerLoop.publishDurable).
            let store = try Store(
                path: configuration.databasePath,
                workerID: configuration.workerID,
                durability: configuration.durability,
                deferredSync: true,
                syncFault: FaultPoints.syncFault()
            )
            if reported { logger.notice("the database can be written; starting") }
            control.update {
                $0.storeWritable = true
                $0.storeProblem = nil
            }
            return store
        } catch {
            // A file that cannot be opened in a folder that exists (a read-only file system,
            // permissions being fixed) may become writable; a folder that does not exist is a
            // mistake in the configuration.
            let folder = (configuration.databasePath as NSString).deletingLastPathComponent
            let folderExists = FileManager.default.fileExists(atPath: folder.isEmpty ? "." : folder)
            guard error.isTransient || (error.kind == .open && folderExists) else { throw error }
            if !reported {
                reported = true
                logger.error(
                    "cannot write the database at start; retrying with backoff until it can",
                    metadata: [LogKey.error: "\(error)", "db": "\(configuration.databasePath)"]
                )
                control.update {
                    $0.storeWritable = false
                    $0.storeProblem = error.message
                }
            }
            let end = ContinuousClock.now + backoff.next()
            while ContinuousClock.now < end, !control.stopRequested { Thread.sleep(forTimeInterval: 0.05) }
        }
    }
    return nil
}
