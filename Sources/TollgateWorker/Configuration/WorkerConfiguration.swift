import Foundation
import TollgateAMQP
import TollgatePolicy
import TollgateStore

/// Everything a worker needs to run, with the defaults the README documents. Built by the
/// `tollgate worker` command from flags and `TOLLGATE_*` environment variables.
public struct WorkerConfiguration: Sendable {
    /// The broker's addresses, `amqp://user:pass@host:port/vhost` or `amqps://...`: the worker
    /// connects to the first and, when it loses a connection, moves on to the next (the nodes of
    /// a cluster).
    public var amqpURLs: [String] = [Self.defaultAMQPURL]
    public static let defaultAMQPURL = "amqp://guest:guest@127.0.0.1:5672/"
    /// Certificates for `amqps://` URLs.
    public var tls = AMQPConfiguration.TLSOptions()
    /// Policy files or folders, in order (the first document's defaults apply).
    public var policyPaths: [String] = []
    /// `--compat`: nil follows the policy's `compat:` (else agent-os 3.7).
    public var compat: PolicyCompatibility?
    /// The SQLite state file; it belongs to this worker only (default `tollgate-<worker-id>.db`).
    public var databasePath: String = Self.defaultDatabasePath(workerID: Self.defaultWorkerID)
    /// Names this worker's queues and prefixes its request ids. Keep it stable across restarts:
    /// parked escalations are voted on through `<prefix>.approvals.<worker-id>`. Default: the
    /// host's short name.
    public var workerID: String = Self.defaultWorkerID
    /// Start even when the worker id's queues belong to another database (after that database
    /// was lost for good): the new database takes them over.
    public var takeOverQueues = false
    public var prefix: String = "tollgate"
    /// Deliveries the broker may have given the worker before their acks: enough to cover a
    /// batch being decided, batches waiting for their sync, and publishes waiting for their
    /// confirms at full speed (at 200 the worker waited for deliveries; see docs/benchmarks.md).
    public var prefetch: UInt16 = 1000
    public var maxMessageBytes: Int = 1 << 20
    /// Publishers (RabbitMQ users) allowed to name the person who voted in the body's `approver`.
    public var trustedGateways: Set<String> = []
    /// Signs a receipt into every final `allow` (`--receipt-key`); nil: no receipts.
    public var receipts: ReceiptSigner?
    /// Broker users whose budget hand-offs are accepted (workers); empty: the users of
    /// `amqpURLs` (workers of one fleet usually share one).
    public var workerUsers: Set<String> = []
    /// Start draining at once (a worker whose host is gone, started elsewhere to finish).
    public var drainAtStart = false
    /// Port of the HTTP endpoints (`/metrics`, `/healthz`, `/readyz`); nil: none.
    public var metricsPort: Int?
    /// The address they listen on.
    public var metricsAddress = "0.0.0.0"

    /// The users whose hand-offs count: `workerUsers`, else the login users of the broker URLs.
    public var acceptedWorkerUsers: Set<String> {
        if !workerUsers.isEmpty { return workerUsers }
        return Set(amqpURLs.compactMap { try? AMQPURL(parsing: $0).user })
    }
    /// Escalation deadline when neither the rule nor the policy's `defaults.escalation` sets one.
    public var defaultEscalationTimeoutSeconds: Int = 300
    /// Route `deny` decisions whose reason says "requires human approval" to people (agent-os's
    /// convention). Off: they are plain denials.
    public var escalationKeyword: Bool = true
    public var durability: StoreDurability = .full
    /// Quorum-queue `x-delivery-limit`: a message delivered this many times without being settled
    /// (it keeps killing workers) is answered and dead-lettered.
    public var deliveryLimit: Int = 10
    /// Weight of this worker's shard queue in the consistent-hash exchange.
    public var shardWeight: Int = 10
    /// How long a call's `message_id` is remembered for redeliveries and retries.
    public var dedupeRetentionSeconds: Int = 7 * 24 * 3600
    public var heartbeatSeconds: Int = 30
    /// On a ring change, call records received in this many seconds are handed to the workers
    /// that own their agents now (0: none are).
    public var handoffRecordsSeconds: Int = 600
    /// A worker joining the ring holds tool calls this long, while the others hand it the
    /// budgets and call records of the agents it now owns (0: no hold).
    public var joinSettleMillis: Int = 3000
    /// How often progress is logged.
    public var statsIntervalSeconds: Int = 30
    /// How many inputs are decided in one SQLite transaction at most.
    public var maxBatch: Int = 256
    /// The form of `<prefix>.decisions` (`--decision-feed`).
    public var decisionFeed: DecisionFeedForm = .batch

    public init() {}

    /// The host's short name (what a StatefulSet pod or a systemd host is called).
    public static var defaultWorkerID: String {
        ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "w1"
    }

    public static func defaultDatabasePath(workerID: String) -> String { "tollgate-\(workerID).db" }

    /// Checks values no flag parser can: a clear message for each mistake.
    public func validate() throws(WorkerError) {
        var problems: [String] = []
        if amqpURLs.isEmpty { problems.append("no broker address: give --amqp-url (or TOLLGATE_AMQP_URL)") }
        for url in amqpURLs {
            do { _ = try AMQPURL(parsing: url) } catch { problems.append("broker address: \(error)") }
        }
        if policyPaths.isEmpty { problems.append("no policy: give --policy FILE_OR_DIR (or TOLLGATE_POLICY)") }
        if workerID.isEmpty
            || workerID.contains(where: { $0 == "." || $0 == " " || $0 == "/" || $0 == "#" || $0 == "*" })
        {
            problems.append(
                "worker id '\(workerID)' must be non-empty, without spaces, dots, '/', '#' or '*' (it names queues)"
            )
        }
        if prefix.isEmpty || prefix.contains(" ") { problems.append("prefix must be non-empty, without spaces") }
        if Topology(prefix: prefix, workerID: workerID).longestName > 255 {
            problems.append("prefix and worker id are too long: queue names are at most 255 bytes")
        }
        if prefetch == 0 { problems.append("prefetch must be at least 1") }
        if maxMessageBytes < 1024 { problems.append("max message bytes must be at least 1024") }
        if defaultEscalationTimeoutSeconds <= 0 { problems.append("escalation timeout must be positive") }
        if deliveryLimit < 1 { problems.append("delivery limit must be at least 1") }
        if shardWeight < 1 { problems.append("shard weight must be at least 1") }
        if !problems.isEmpty { throw WorkerError.configuration(problems) }
    }
}
