import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import TollgateHTTP
import TollgateWebhook

struct WebhookCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhook",
        abstract: "POST escalation notices to chat tools and ticket systems: signed, retried, in order, never lost.",
        discussion: """
            Follows <prefix>.escalations (pending, voted, resolved and limited notices by default) \
            with a durable queue per target, <prefix>.webhook.<NAME>, and POSTs every notice to the \
            target's URL: its JSON body as it is, or with --format slack a Slack message. A notice is \
            acked only when the target answered 2xx. A network error, a timeout, 408, 429 or 5xx is \
            retried with exponential backoff and jitter (Retry-After is honoured), until \
            --max-attempts or --max-age; then the notice goes to <prefix>.dead with the reason in \
            x-tollgate-error, as does a notice the target refuses with another 4xx. Notices of one \
            request are delivered one after the other, in order; different requests side by side.

            With --secret-file every request carries Tollgate-Signature: t=<unix seconds>,v1=<hex \
            HMAC-SHA256 of "<t>.<body>">; docs/webhooks.md shows how a receiver checks it.

            Examples:
              tollgate webhook --url tickets=https://tickets.example.com/hooks/tollgate \\
                  --secret-file /etc/tollgate/webhook.secret
              tollgate webhook --format slack --url slack=https://hooks.slack.com/services/T000/B000/XXXX \\
                  --inbox-url https://approvals.example.com
            """
    )

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var logging: LoggingOptions

    @Option(
        name: .customLong("url"),
        help: ArgumentHelp(
            "A target: NAME=URL; repeatable. NAME names its queue (<prefix>.webhook.NAME), kept when the URL changes.",
            valueName: "name=url"
        )
    )
    var urls: [String] = []

    @Option(help: "json (the notice's body) or slack (a Slack message with text and blocks) (default json).")
    var format = "json"

    @Option(help: "File holding the signing secret (at least 16 bytes); without it requests are not signed.")
    var secretFile: String?

    @Option(
        help:
            "Notices to deliver, comma-separated: pending, voted, resolved, limited, revoked (default pending,voted,resolved,limited)."
    )
    var events = WebhookConfiguration.defaultEvents.joined(separator: ",")

    @Option(help: "Attempts before a notice is given up on and dead-lettered (default 300).")
    var maxAttempts = 300

    @Option(help: "Seconds after its publication a notice is given up on (default 86400, one day).")
    var maxAge: Int64 = 86_400

    @Option(help: "Seconds to wait after the first failure; doubles each time (default 1).")
    var initialBackoff: Double = 1

    @Option(help: "Longest wait between two attempts, in seconds (default 300).")
    var maxBackoff: Double = 300

    @Option(help: "Seconds one POST may take (default 10).")
    var timeout: Int64 = 10

    @Option(help: "Notices per target held at once: how many requests are delivered side by side (default 32).")
    var prefetch: UInt16 = 32

    @Option(help: "The approvals inbox's address (tollgate gateway), for the link in Slack messages.")
    var inboxURL: String?

    @Option(help: "Serve Prometheus metrics on /metrics, and /healthz and /readyz, on this port (default none).")
    var metricsPort: Int?

    @Option(help: "Address the HTTP endpoints listen on (default 0.0.0.0).")
    var metricsAddress = "0.0.0.0"

    func makeConfiguration() throws -> WebhookConfiguration {
        var c = WebhookConfiguration()
        c.amqpURLs = broker.resolvedURLs
        c.amqpTLS = broker.tls
        c.prefix = broker.resolvedPrefix
        do {
            c.targets = try urls.map { try WebhookConfiguration.parseTarget($0) }
        } catch {
            throw ValidationError("\(error)")
        }
        guard let format = WebhookConfiguration.Format(rawValue: format) else {
            throw ValidationError("--format must be json or slack, not '\(format)'")
        }
        c.format = format
        c.events = events.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if let secretFile {
            guard let data = FileManager.default.contents(atPath: secretFile) else {
                throw ValidationError("cannot read the webhook secret from \(secretFile)")
            }
            // The file's bytes as they are (a key may be binary), less ASCII whitespace at either
            // end (the newline an editor or `echo` adds).
            var bytes = Array(data)[...]
            let blank: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D]
            while let first = bytes.first, blank.contains(first) { bytes = bytes.dropFirst() }
            while let last = bytes.last, blank.contains(last) { bytes = bytes.dropLast() }
            c.secret = Array(bytes)
        }
        c.retry = RetryPolicy(
            maxAttempts: maxAttempts,
            maxAgeMillis: maxAge * 1000,
            initialBackoffMillis: Int64(initialBackoff * 1000),
            maxBackoffMillis: Int64(maxBackoff * 1000)
        )
        c.timeoutSeconds = timeout
        c.prefetch = prefetch
        c.inboxURL = inboxURL
        do {
            try c.validate()
        } catch {
            throw ValidationError(error.description)
        }
        if let metricsPort, !(1...65535).contains(metricsPort) {
            throw ValidationError("--metrics-port must be 1-65535")
        }
        return c
    }

    func run() async throws {
        let configuration = try makeConfiguration()
        let logger = try logging.makeLogger(label: "tollgate.webhook")
        if configuration.secret == nil {
            logger.warning(
                "webhook: no --secret-file: requests are not signed; receivers cannot tell them from forgeries"
            )
        }
        logger.info(
            "webhook: starting",
            metadata: [
                "targets":
                    "\(configuration.targets.map { "\($0.name) -> \(WebhookSender.host($0.url))" }.joined(separator: ", "))",
                "format": "\(configuration.format.rawValue)",
                "events": "\(configuration.events.joined(separator: ","))",
                "max_attempts": "\(configuration.retry.maxAttempts)",
                "max_age_s": "\(configuration.retry.maxAgeMillis / 1000)",
            ]
        )
        let registry = HealthEndpoints.bootstrapMetrics()
        let status = WebhookStatus()
        let bridge = WebhookBridge(configuration: configuration, status: status, logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: BridgeService(bridge: bridge), successTerminationBehavior: .gracefullyShutdownGroup)
        ]
        if let metricsPort {
            let router = HealthEndpoints.router(
                millisSinceLastTurn: { status.millisSinceLastTurn(now: $0) },
                notReadyReason: { status.notReadyReason },
                registry: registry
            )
            services.append(
                .init(
                    service: HealthEndpoints.application(
                        address: metricsAddress,
                        port: metricsPort,
                        router: router,
                        logger: logger
                    )
                )
            )
        }
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        try await group.run()
    }
}

/// The bridge as a Service: runs until the group shuts down (SIGTERM, SIGINT).
struct BridgeService: Service {
    let bridge: WebhookBridge
    func run() async throws {
        await withGracefulShutdownHandler {
            await bridge.run()
        } onGracefulShutdown: {
            bridge.requestStop()
        }
    }
}
