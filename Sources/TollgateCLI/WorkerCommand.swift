import ArgumentParser
import Foundation
import Logging
import TollgateAMQP
import TollgateHTTP
import TollgatePolicy
import TollgateStore
import TollgateWorker

/// The value of `TOLLGATE_<name>`, when set and not empty.
func environment(_ name: String) -> String? {
    guard let value = ProcessInfo.processInfo.environment["TOLLGATE_\(name)"], !value.isEmpty else { return nil }
    return value
}

/// Options every command that talks to the broker takes.
struct BrokerOptions: ParsableArguments {
    @Option(
        name: .customLong("amqp-url"),
        help: ArgumentHelp(
            "RabbitMQ URL, amqp://user:pass@host:port/vhost or amqps://...; repeatable, for the nodes of a cluster (env TOLLGATE_AMQP_URL, several separated by ',').",
            valueName: "url"
        )
    )
    var amqpURLs: [String] = []

    @Option(help: "Prefix of every exchange and queue name (env TOLLGATE_PREFIX; default tollgate).")
    var prefix: String?

    @Option(
        help:
            "For amqps://: PEM file of the CA that signed the broker's certificate (env TOLLGATE_TLS_CA_FILE; default the system's /etc/ssl/certs/ca-certificates.crt)."
    )
    var tlsCAFile: String?

    @Option(help: "For amqps:// brokers that ask for one: client certificate, PEM (env TOLLGATE_TLS_CERT_FILE).")
    var tlsCertFile: String?

    @Option(help: "Its private key, PEM (env TOLLGATE_TLS_KEY_FILE).")
    var tlsKeyFile: String?

    @Flag(help: "For amqps://: do not verify the broker's certificate (testing only).")
    var tlsNoVerify = false

    /// The broker addresses: the flags, else `TOLLGATE_AMQP_URL` (comma-separated), else the local broker.
    var resolvedURLs: [String] {
        if !amqpURLs.isEmpty { return amqpURLs }
        let listed =
            environment("AMQP_URL")?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty } ?? []
        return listed.isEmpty ? [WorkerConfiguration.defaultAMQPURL] : listed
    }

    /// The first address, for the commands that make one short connection.
    var resolvedURL: String { resolvedURLs[0] }

    var tls: AMQPConfiguration.TLSOptions {
        let systemBundle = "/etc/ssl/certs/ca-certificates.crt"
        let ca =
            tlsCAFile ?? environment("TLS_CA_FILE")
            ?? (FileManager.default.fileExists(atPath: systemBundle) ? systemBundle : nil)
        let verify = !tlsNoVerify
        return AMQPConfiguration.TLSOptions(
            caCertificatePath: ca,
            verifyPeer: verify,
            verifyHostname: verify,
            clientCertificatePath: tlsCertFile ?? environment("TLS_CERT_FILE"),
            clientKeyPath: tlsKeyFile ?? environment("TLS_KEY_FILE")
        )
    }
    var resolvedPrefix: String { prefix ?? environment("PREFIX") ?? "tollgate" }

    /// The topology's names for this prefix (and a worker id, where one matters).
    func topology(workerID: String = "") -> Topology { Topology(prefix: resolvedPrefix, workerID: workerID) }
}

/// `--log-level` and `--log-format`, and the logger every long-running command makes.
struct LoggingOptions: ParsableArguments {
    @Option(help: "trace, debug, info, notice, warning, error or critical (env TOLLGATE_LOG_LEVEL; default info).")
    var logLevel: String?

    @Option(
        help:
            "text (one readable line per event) or json (one JSON object per line, metadata as fields: request_id, agent_id, worker_id, ...) (env TOLLGATE_LOG_FORMAT; default text)."
    )
    var logFormat: String?

    func makeLogger(label: String, metadata: Logger.Metadata = [:]) throws -> Logger {
        let text = logLevel ?? environment("LOG_LEVEL") ?? "info"
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw ValidationError(
                "unknown log level '\(text)': use trace, debug, info, notice, warning, error or critical"
            )
        }
        let format = (logFormat ?? environment("LOG_FORMAT") ?? "text").lowercased()
        var logger: Logger
        switch format {
        case "text": logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
        case "json": logger = Logger(label: label) { JSONLogHandler(label: $0) }
        default: throw ValidationError("unknown log format '\(format)': use text or json")
        }
        logger.logLevel = level
        for (key, value) in metadata { logger[metadataKey: key] = value }
        return logger
    }
}

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Consume tool calls from RabbitMQ, decide them with the policies, park escalations for people.",
        discussion: """
            Declares the topology of the wire protocol (docs/wire-protocol.md), consumes its shard \
            queue <prefix>.toolcalls.<worker-id> and its votes queue <prefix>.approvals.<worker-id>, \
            and answers every call on its reply_to. Every flag can also be given as an environment \
            variable TOLLGATE_<FLAG> (flags win), e.g. TOLLGATE_AMQP_URL (several addresses separated \
            by ','), TOLLGATE_POLICY (several paths separated by ':'), TOLLGATE_WORKER_ID, TOLLGATE_DB, \
            TOLLGATE_TRUSTED_GATEWAY (separated by ',').

            With several broker addresses (the nodes of a cluster) the worker connects to the first \
            and, when it loses the connection, moves on to the next with backoff.

            Signals: SIGTERM or SIGINT stop gracefully (in-flight calls are finished, confirmed and \
            acked first); SIGHUP reloads the policies (an invalid policy is refused and the old one \
            kept). Exit status: 0 after a graceful stop, 1 on a fatal error (bad policy, broker \
            refuses the credentials, database of another worker, queues of another database).

            Examples:
              tollgate worker --policy policies/approval-workflow.yaml
              tollgate worker --policy policies/ --worker-id w2 --db var/w2.db \\
                  --amqp-url amqp://tollgate-worker:secret@rabbit-1:5672/ \\
                  --amqp-url amqp://tollgate-worker:secret@rabbit-2:5672/ --trusted-gateway tollgate-gateway
            """
    )

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var logging: LoggingOptions

    @Option(
        name: .customLong("policy"),
        help: "Policy file or folder (*.yaml then *.yml); repeatable (env TOLLGATE_POLICY)."
    )
    var policies: [String] = []

    @Option(help: "SQLite state file, one per worker (env TOLLGATE_DB; default tollgate-<worker-id>.db).")
    var db: String?

    @Option(help: "This worker's id; keep it stable across restarts (env TOLLGATE_WORKER_ID; default the host name).")
    var workerID: String?

    @Option(help: "Unacked deliveries in flight (env TOLLGATE_PREFETCH; default 1000).")
    var prefetch: UInt16?

    @Option(help: "Largest accepted message body in bytes (env TOLLGATE_MAX_MESSAGE_BYTES; default 1048576).")
    var maxMessageBytes: Int?

    @Option(
        name: .customLong("trusted-gateway"),
        help: "RabbitMQ user allowed to name the approver in a vote's body; repeatable (env TOLLGATE_TRUSTED_GATEWAY)."
    )
    var trustedGateways: [String] = []

    @Option(
        help:
            "Ed25519 private key (PEM, from `tollgate keygen`): sign a receipt into every final allow (env TOLLGATE_RECEIPT_KEY)."
    )
    var receiptKey: String?

    @Option(
        name: .customLong("receipt-ttl"),
        help: "Seconds a receipt is valid (env TOLLGATE_RECEIPT_TTL; default 300)."
    )
    var receiptTTL: Int?

    @Option(
        help: "Escalation deadline in seconds when the policy sets none (env TOLLGATE_ESCALATION_TIMEOUT; default 300)."
    )
    var escalationTimeout: Int?

    @Flag(
        help:
            "Treat deny rules whose message says \"requires human approval\" as plain denials (env TOLLGATE_NO_ESCALATION_KEYWORD=1)."
    )
    var noEscalationKeyword = false

    @OptionGroup var compatOption: CompatOption

    @Option(
        help:
            "full: every commit is synced to disk (fsync) before anything it caused is published; normal: survive a process crash, not a power cut (env TOLLGATE_DURABILITY; default full)."
    )
    var durability: String?

    @Option(
        help:
            "What <prefix>.decisions gets: batch (per batch and routing key, one JSON Lines message), each (one message per decision, the 1.1 form) or off (env TOLLGATE_DECISION_FEED; default batch)."
    )
    var decisionFeed: String?

    @Option(
        help:
            "Deliveries of one message before it is answered as poison and dead-lettered (env TOLLGATE_DELIVERY_LIMIT; default 10)."
    )
    var deliveryLimit: Int?

    @Option(
        help: "Weight of this worker's shard in the consistent-hash exchange (env TOLLGATE_SHARD_WEIGHT; default 10)."
    )
    var shardWeight: Int?

    @Option(
        help:
            "Seconds a call's message_id is remembered for redeliveries (env TOLLGATE_DEDUPE_RETENTION; default 604800)."
    )
    var dedupeRetention: Int?

    @Option(help: "Seconds between progress log lines (env TOLLGATE_STATS_INTERVAL; default 30).")
    var statsInterval: Int?

    @Option(
        help:
            "AMQP heartbeat proposed to the broker, in seconds (the smaller of both wins; 0: none; env TOLLGATE_HEARTBEAT; default 30)."
    )
    var heartbeat: Int?

    @Option(
        help:
            "On a ring change (a worker joins or drains), hand the call records of this many last seconds to the workers that own their agents now, so a retry that moves is answered, not decided again (0: none; at most --dedupe-retention; env TOLLGATE_HANDOFF_RECORDS; default 600)."
    )
    var handoffRecords: Int?

    @Option(
        help:
            "When this worker joins the ring (its first start, or its first after a drain), hold tool calls this many milliseconds while the other workers hand it the budgets and call records of the agents it now owns (0: no hold; 0-60000; env TOLLGATE_JOIN_SETTLE_MS; default 3000)."
    )
    var joinSettleMs: Int?

    @Flag(
        help:
            "Start even though this worker id's queues belong to another database, which was lost for good: its escalations and idempotency records are given up (env TOLLGATE_TAKE_OVER_QUEUES=1)."
    )
    var takeOverQueues = false

    @Option(
        help:
            "Serve Prometheus metrics on /metrics, and /healthz and /readyz, over HTTP on this port on every address (env TOLLGATE_METRICS_PORT; default none)."
    )
    var metricsPort: Int?

    @Option(
        help:
            "Address the HTTP endpoints listen on: 0.0.0.0 (every IPv4 address), 127.0.0.1 (this host only), or an address of the host (env TOLLGATE_METRICS_ADDRESS; default 0.0.0.0)."
    )
    var metricsAddress: String?

    @Option(
        name: .customLong("worker-user"),
        help:
            "Broker user whose budget hand-offs (from draining workers) are accepted; repeatable (env TOLLGATE_WORKER_USER, ','-separated; default the user of --amqp-url)."
    )
    var workerUsers: [String] = []

    @Flag(
        help:
            "Start draining at once: take no new calls, finish the queue, hand the budgets over, decide what is pending, exit 0 (a running worker drains on SIGUSR1)."
    )
    var drain = false

    func makeConfiguration() throws -> WorkerConfiguration {
        var c = WorkerConfiguration()
        c.amqpURLs = broker.resolvedURLs
        c.tls = broker.tls
        c.prefix = broker.resolvedPrefix
        c.policyPaths =
            policies.isEmpty ? (environment("POLICY")?.split(separator: ":").map(String.init) ?? []) : policies
        c.workerID = workerID ?? environment("WORKER_ID") ?? WorkerConfiguration.defaultWorkerID
        c.databasePath = db ?? environment("DB") ?? WorkerConfiguration.defaultDatabasePath(workerID: c.workerID)
        c.prefetch = try setting(prefetch, "PREFETCH", default: c.prefetch)
        c.maxMessageBytes = try setting(maxMessageBytes, "MAX_MESSAGE_BYTES", default: c.maxMessageBytes)
        c.trustedGateways = Set(list(trustedGateways, "TRUSTED_GATEWAY"))
        if let path = receiptKey ?? environment("RECEIPT_KEY") {
            let ttl = try setting(receiptTTL, "RECEIPT_TTL", default: 300)
            guard ttl > 0 else { throw ValidationError("--receipt-ttl must be a positive number of seconds") }
            do {
                c.receipts = ReceiptSigner(
                    key: try ReceiptKeys.loadPrivateKey(path: path),
                    ttlSeconds: ttl,
                    workerID: c.workerID
                )
            } catch {
                throw ValidationError("--receipt-key: \(error)")
            }
        }
        c.defaultEscalationTimeoutSeconds = try setting(
            escalationTimeout,
            "ESCALATION_TIMEOUT",
            default: c.defaultEscalationTimeoutSeconds
        )
        c.escalationKeyword = !(noEscalationKeyword || environmentFlag("NO_ESCALATION_KEYWORD"))
        if let compat = compatOption.compat {
            c.compat = compat
        } else if let text = environment("COMPAT") {
            guard let compat = PolicyCompatibility(rawValue: text) else {
                throw ValidationError("TOLLGATE_COMPAT must be agent-os-3.7 or agent-os-5, not '\(text)'")
            }
            c.compat = compat
        }
        c.takeOverQueues = takeOverQueues || environmentFlag("TAKE_OVER_QUEUES")
        c.drainAtStart = drain || environmentFlag("DRAIN")
        c.metricsPort =
            try metricsPort
            ?? environment("METRICS_PORT").map { text in
                guard let port = Int(text), (1...65535).contains(port) else {
                    throw ValidationError("TOLLGATE_METRICS_PORT='\(text)' is not a port number")
                }
                return port
            }
        c.workerUsers = Set(list(workerUsers, "WORKER_USER"))
        c.metricsAddress = metricsAddress ?? environment("METRICS_ADDRESS") ?? c.metricsAddress
        if let text = durability ?? environment("DURABILITY") {
            guard let value = StoreDurability(rawValue: text) else {
                throw ValidationError("durability must be full or normal, not '\(text)'")
            }
            c.durability = value
        }
        if let text = decisionFeed ?? environment("DECISION_FEED") {
            guard let value = DecisionFeedForm(rawValue: text) else {
                throw ValidationError("decision feed must be batch, each or off, not '\(text)'")
            }
            c.decisionFeed = value
        }
        c.deliveryLimit = try setting(deliveryLimit, "DELIVERY_LIMIT", default: c.deliveryLimit)
        c.shardWeight = try setting(shardWeight, "SHARD_WEIGHT", default: c.shardWeight)
        c.dedupeRetentionSeconds = try setting(dedupeRetention, "DEDUPE_RETENTION", default: c.dedupeRetentionSeconds)
        c.statsIntervalSeconds = try setting(statsInterval, "STATS_INTERVAL", default: c.statsIntervalSeconds)
        c.heartbeatSeconds = try setting(heartbeat, "HEARTBEAT", default: c.heartbeatSeconds)
        guard (0...3600).contains(c.heartbeatSeconds) else {
            throw ValidationError("heartbeat must be 0 to 3600 seconds, not \(c.heartbeatSeconds)")
        }
        c.joinSettleMillis = try setting(joinSettleMs, "JOIN_SETTLE_MS", default: c.joinSettleMillis)
        guard (0...60_000).contains(c.joinSettleMillis) else {
            throw ValidationError("join-settle-ms must be 0 to 60000, not \(c.joinSettleMillis)")
        }
        c.handoffRecordsSeconds = try setting(handoffRecords, "HANDOFF_RECORDS", default: c.handoffRecordsSeconds)
        guard (0...c.dedupeRetentionSeconds).contains(c.handoffRecordsSeconds) else {
            throw ValidationError(
                "handoff-records must be 0 to --dedupe-retention (\(c.dedupeRetentionSeconds)) seconds, not \(c.handoffRecordsSeconds)"
            )
        }
        return c
    }

    /// The values of a repeatable flag, else of `TOLLGATE_<name>` split at commas.
    private func list(_ flags: [String], _ name: String) -> [String] {
        let values = flags.isEmpty ? (environment(name)?.split(separator: ",").map(String.init) ?? []) : flags
        return values.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func run() async throws {
        let configuration = try makeConfiguration()
        let logger = try logging.makeLogger(
            label: "tollgate.worker",
            metadata: ["worker_id": "\(configuration.workerID)"]
        )
        do {
            try await runWorkerProcess(configuration: configuration, logger: logger)
        } catch let error as WorkerError {
            logger.critical("worker stopped: \(error)")
            throw ExitCode(1)
        }
    }
}

/// Whether `TOLLGATE_<name>` is set to 1, true or yes.
func environmentFlag(_ name: String) -> Bool {
    ["1", "true", "yes"].contains(environment(name)?.lowercased() ?? "")
}

/// A setting from its flag, else `TOLLGATE_<name>`, else the default.
func setting<T: LosslessStringConvertible>(_ flag: T?, _ name: String, default fallback: T) throws -> T {
    if let flag { return flag }
    guard let text = environment(name) else { return fallback }
    guard let value = T(text) else { throw ValidationError("TOLLGATE_\(name)='\(text)' is not a valid \(T.self)") }
    return value
}
