import TollgateAMQP
import TollgateStore

/// Everything a worker needs to run, with the defaults the README documents. Built by the
/// `tollgate worker` command from flags and `TOLLGATE_*` environment variables.
public struct WorkerConfiguration: Sendable {
    /// `amqp://user:pass@host:port/vhost` or `amqps://...`.
    public var amqpURL: String = "amqp://guest:guest@127.0.0.1:5672/"
    /// Certificates for `amqps://` URLs.
    public var tls = AMQPConfiguration.TLSOptions()
    /// Policy files or folders, in order (the first document's defaults apply).
    public var policyPaths: [String] = []
    /// The SQLite state file; it belongs to this worker only.
    public var databasePath: String = "tollgate.db"
    /// Names this worker's queues and prefixes its request ids. Keep it stable across restarts:
    /// parked escalations are voted on through `<prefix>.approvals.<worker-id>`.
    public var workerID: String = "w1"
    public var prefix: String = "tollgate"
    public var prefetch: UInt16 = 200
    public var maxMessageBytes: Int = 1 << 20
    /// Publishers (RabbitMQ users) allowed to name the person who voted in the body's `approver`.
    public var trustedGateways: Set<String> = []
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
    /// How often progress is logged.
    public var statsIntervalSeconds: Int = 30
    /// How many inputs are decided in one SQLite transaction at most.
    public var maxBatch: Int = 256

    public init() {}

    /// Checks values no flag parser can: a clear message for each mistake.
    public func validate() throws(WorkerError) {
        var problems: [String] = []
        if policyPaths.isEmpty { problems.append("no policy: give --policy FILE_OR_DIR (or TOLLGATE_POLICY)") }
        if workerID.isEmpty
            || workerID.contains(where: { $0 == "." || $0 == " " || $0 == "/" || $0 == "#" || $0 == "*" })
        {
            problems.append(
                "worker id '\(workerID)' must be non-empty, without spaces, dots, '/', '#' or '*' (it names queues)"
            )
        }
        if prefix.isEmpty { problems.append("prefix must not be empty") }
        if prefetch == 0 { problems.append("prefetch must be at least 1") }
        if maxMessageBytes < 1024 { problems.append("max message bytes must be at least 1024") }
        if defaultEscalationTimeoutSeconds <= 0 { problems.append("escalation timeout must be positive") }
        if deliveryLimit < 1 { problems.append("delivery limit must be at least 1") }
        if shardWeight < 1 { problems.append("shard weight must be at least 1") }
        if !problems.isEmpty { throw WorkerError.configuration(problems) }
    }
}

/// The names of the topology in the wire protocol, for one prefix and worker.
public struct Topology: Sendable, Equatable {
    public let prefix: String
    public let workerID: String

    public init(prefix: String, workerID: String) {
        self.prefix = prefix
        self.workerID = workerID
    }

    /// `x-consistent-hash` exchange agents publish tool calls to (routing key = agent_id).
    public var toolCallsExchange: String { "\(prefix).toolcalls" }
    /// This worker's shard of tool calls.
    public var toolCallsQueue: String { "\(prefix).toolcalls.\(workerID)" }
    /// Direct exchange approval bots publish votes to (routing key = worker id).
    public var approvalsExchange: String { "\(prefix).approvals" }
    public var approvalsQueue: String { "\(prefix).approvals.\(workerID)" }
    /// Topic exchange with `pending.<tool>` and `resolved.<tool>` notices.
    public var escalationsExchange: String { "\(prefix).escalations" }
    /// Topic exchange with every final decision, `<decision>.<tool>`.
    public var decisionsExchange: String { "\(prefix).decisions" }
    /// Exchange and queue of rejected messages.
    public var deadExchange: String { "\(prefix).dead" }
    public var deadQueue: String { "\(prefix).dead" }
}

/// Why a worker stopped or could not start.
public enum WorkerError: Error, CustomStringConvertible, Sendable {
    case configuration([String])
    case policy(String)
    case store(String)
    case broker(String)

    public var description: String {
        switch self {
        case .configuration(let problems): return "invalid configuration:\n  " + problems.joined(separator: "\n  ")
        case .policy(let text): return text
        case .store(let text): return text
        case .broker(let text): return text
        }
    }
}
