import Dispatch
import Foundation
import Logging
import ServiceLifecycle
import TollgateStore

/// `tollgate worker` as a swift-service-lifecycle `Service`: the event loop runs on a thread of
/// its own (rabbitmq-c and SQLite calls block; Swift's shared pool has only as many threads as
/// cores), and graceful shutdown asks it to finish what is in flight.
public struct WorkerService: Service {
    public let configuration: WorkerConfiguration
    public let policy: LoadedPolicy
    public let control: WorkerControl
    private let logger: Logger

    /// Checks the configuration and loads the policies: a bad policy stops the start here with
    /// every error's file, line and column.
    public init(
        configuration: WorkerConfiguration,
        control: WorkerControl = WorkerControl(),
        logger: Logger
    ) throws(WorkerError) {
        try configuration.validate()
        self.configuration = configuration
        self.policy = try LoadedPolicy.load(paths: configuration.policyPaths)
        self.control = control
        self.logger = logger
    }

    public func run() async throws {
        logger.info(
            "starting worker",
            metadata: [
                "worker_id": "\(configuration.workerID)", "db": "\(configuration.databasePath)",
                "prefix": "\(configuration.prefix)",
            ]
        )
        logger.info("policies loaded", metadata: policy.logMetadata)
        let configuration = configuration
        let policy = policy
        let control = control
        let logger = logger
        try await withGracefulShutdownHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let thread = Thread {
                    do {
                        let store = try Store(
                            path: configuration.databasePath,
                            workerID: configuration.workerID,
                            durability: configuration.durability
                        )
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
                thread.name = "tollgate-worker"
                thread.stackSize = 8 << 20
                thread.start()
            }
        } onGracefulShutdown: {
            control.requestStop()
        }
    }
}

/// Runs a worker until SIGTERM or SIGINT (graceful), reloading its policies on SIGHUP.
public func runWorker(configuration: WorkerConfiguration, logger: Logger) async throws {
    let service = try WorkerService(configuration: configuration, logger: logger)
    signal(SIGHUP, SIG_IGN)
    let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
    let control = service.control
    hangup.setEventHandler {
        logger.info("SIGHUP: reloading policies")
        control.requestReload()
    }
    hangup.resume()
    defer { hangup.cancel() }
    let group = ServiceGroup(
        configuration: .init(
            services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
    )
    try await group.run()
}
