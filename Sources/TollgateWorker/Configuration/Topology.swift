import TollgateStore

/// The names of the wire protocol's topology for one prefix and worker: the one place exchange,
/// queue and routing-key names are made (the worker, the command line and the tests use it).
public struct Topology: Sendable, Equatable {
    public let prefix: String
    public let workerID: String

    public init(prefix: String, workerID: String = "") {
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
    /// Topic exchange with `pending.<tool>`, `voted.<tool>` and `resolved.<tool>` notices.
    public var escalationsExchange: String { "\(prefix).escalations" }
    /// Topic exchange with every final decision, `<decision>.<tool>`.
    public var decisionsExchange: String { "\(prefix).decisions" }
    /// Exchange and queue of rejected messages.
    public var deadExchange: String { "\(prefix).dead" }
    public var deadQueue: String { "\(prefix).dead" }
    /// Fanout exchange of fleet queries (`pending`), answered by every running worker.
    public var controlExchange: String { "\(prefix).control" }
    /// Exclusive queue a running worker holds: while it exists, no other worker takes this id.
    public var lockQueue: String { "\(prefix).lock.\(workerID)" }
    /// Queue holding one message that names the database this worker id's queues belong to.
    public var ownerQueue: String { "\(prefix).owner.\(workerID)" }

    /// The decision feed's routing key; `_invalid` stands for a tool a malformed call did not name.
    public func decisionRoutingKey(_ decision: Decision, toolName: String?) -> String {
        "\(decision.rawValue).\(toolName ?? "_invalid")"
    }

    /// What an escalation notice announces.
    public enum Notice: String, Sendable {
        case pending
        case voted
        case resolved
        /// A standing grant revoked early (its body: the grant, `revoked_at`, `revoked_by`).
        case revoked
        /// An escalation denied at once because its agent reached an escalation limit.
        case limited
    }

    public func noticeRoutingKey(_ notice: Notice, toolName: String) -> String { "\(notice.rawValue).\(toolName)" }

    /// The longest name any of these makes from the prefix and worker id, which AMQP limits to
    /// 255 bytes.
    var longestName: Int { max(toolCallsQueue.utf8.count, approvalsQueue.utf8.count, ownerQueue.utf8.count) }
}

/// An exchange the workers declare is not there: no worker with this prefix ever started on this
/// vhost (the gateway and the webhook bridge wait for one; they may not declare the exchanges).
public struct NoWorkerYet: Error, CustomStringConvertible {
    public var exchange: String
    public var prefix: String
    public init(exchange: String, prefix: String) {
        self.exchange = exchange
        self.prefix = prefix
    }
    public var description: String {
        "\(exchange) does not exist: no Tollgate worker has started with prefix \(prefix) on this vhost"
    }
}
