import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOSSL
import ServiceLifecycle
import Synchronization
import TollgateAMQP
import TollgateWorker

/// The gateway's own broker connection for trusted-gateway votes, made again when it breaks.
final class ServiceVoter: Sendable {
    private let current = Mutex<VoterConnection?>(nil)
    /// The gateway's own user at each broker address, tried in order.
    let urls: [AMQPURL]
    let tls: AMQPConfiguration.TLSOptions
    let topology: Topology
    let logger: Logger

    init(urls: [AMQPURL], tls: AMQPConfiguration.TLSOptions, topology: Topology, logger: Logger) {
        self.urls = urls
        self.tls = tls
        self.topology = topology
        self.logger = logger
    }

    /// A live connection, logging in (off the event loop) when there is none.
    func connection() async throws -> VoterConnection {
        if let live = current.withLock({ $0 }), live.isAlive { return live }
        let made = try await VoterConnection.open(trying: urls, tls: tls, topology: topology, logger: logger)
        current.withLock { $0 = made }
        return made
    }
}

/// The fleet watcher's thread as a Service: runs until the group shuts down.
struct FleetWatcherService: Service {
    let watcher: FleetWatcher
    let sessions: SessionStore

    func run() async throws {
        let watcher = watcher
        let thread = Thread { watcher.run() }
        thread.name = "tollgate-gateway-fleet"
        thread.start()
        await withGracefulShutdownHandler {
            // Idle sessions end (and their broker connections close) while the gateway runs.
            while !Task.isCancelledOrShuttingDown {
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(15)) }
                sessions.expire()
            }
        } onGracefulShutdown: {
            watcher.requestStop()
        }
        watcher.requestStop()
    }
}

extension Task where Success == Never, Failure == Never {
    static var isCancelledOrShuttingDown: Bool { Task.isCancelled || Task.isShuttingDownGracefully }
}

/// `tollgate gateway` as a process: the HTTP server and the fleet watcher, until SIGTERM/SIGINT.
public func runGateway(configuration: GatewayConfiguration, logger: Logger) async throws {
    let topology = Topology(prefix: configuration.prefix)
    let view = FleetView()
    let sessions = SessionStore(idleSeconds: configuration.sessionIdleSeconds)
    let watcher = FleetWatcher(
        addresses: configuration.amqpURLs,
        tls: configuration.amqpTLS,
        topology: topology,
        view: view,
        logger: logger
    )
    let gateway = Gateway(
        configuration: configuration,
        view: view,
        sessions: sessions,
        service: ServiceVoter(
            urls: try configuration.amqpURLs.map { try AMQPURL(parsing: $0) },
            tls: configuration.amqpTLS,
            topology: topology,
            logger: logger
        ),
        bots: BotAuthenticator(bots: configuration.bots),
        personLimiter: RateLimiter(perMinute: configuration.votesPerMinute, burst: configuration.votesPerMinute),
        signInLimiter: RateLimiter(perMinute: configuration.signInsPerMinute, burst: configuration.signInsPerMinute),
        logger: logger
    )
    var server: HTTPServerBuilder = .http1()
    if let certificate = configuration.tlsCertificatePath, let key = configuration.tlsKeyPath {
        let tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
        )
        server = try .tls(.http1(), tlsConfiguration: tls)
    }
    let app = Application(
        router: gateway.router(),
        server: server,
        configuration: ApplicationConfiguration(
            address: .hostname(configuration.host, port: configuration.port),
            serverName: "tollgate-gateway"
        ),
        services: [FleetWatcherService(watcher: watcher, sessions: sessions)],
        logger: logger
    )
    logger.info(
        "gateway: serving the inbox and /v1",
        metadata: [
            "listen": "\(configuration.usesTLS ? "https" : "http")://\(configuration.host):\(configuration.port)/",
            "auth": "\(configuration.authentication.rawValue)", "prefix": "\(configuration.prefix)",
        ]
    )
    try await app.runService()
}
