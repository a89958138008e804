import Dispatch
import Logging
import ServiceLifecycle
import TollgateWorker

#if canImport(Glibc)
import Glibc
#endif

/// `tollgate worker` as a process: the worker service, its HTTP endpoints when a port is given,
/// and the signals: SIGTERM and SIGINT stop gracefully, SIGHUP reloads the policies, SIGUSR1
/// drains (the worker then stops by itself, exit status 0).
public func runWorkerProcess(configuration: WorkerConfiguration, logger: Logger) async throws {
    let service = try WorkerService(configuration: configuration, logger: logger)
    let control = service.control
    let registry = HealthEndpoints.bootstrapMetrics()
    let signals = [
        watch(SIGHUP, logger: logger, "SIGHUP: reloading policies") { control.requestReload() },
        watch(SIGUSR1, logger: logger, "SIGUSR1: draining") { control.requestDrain() },
    ]
    defer { for source in signals { source.cancel() } }
    var services = [
        ServiceGroupConfiguration.ServiceConfiguration(
            service: service,
            successTerminationBehavior: .gracefullyShutdownGroup
        )
    ]
    if let port = configuration.metricsPort {
        logger.info("serving /metrics, /healthz and /readyz", metadata: ["port": "\(port)"])
        services.append(
            .init(
                service: HealthEndpoints.application(port: port, control: control, registry: registry, logger: logger)
            )
        )
    }
    let group = ServiceGroup(
        configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
    )
    try await group.run()
}

/// Runs `action` on `signal` (instead of the default, which would end the process).
private func watch(
    _ number: Int32,
    logger: Logger,
    _ message: String,
    _ action: @escaping @Sendable () -> Void
)
    -> any DispatchSourceSignal
{
    signal(number, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
    source.setEventHandler {
        logger.info("\(message)")
        action()
    }
    source.resume()
    return source
}
