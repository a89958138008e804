/// What the worker has done since it started: for the progress log, the metrics and the tests.
public struct WorkerCounters: Sendable, Equatable {
    public var allowed = 0
    public var denied = 0
    public var escalated = 0
    public var invalid = 0
    public var limited = 0
    public var duplicates = 0
    public var votesAccepted = 0
    public var votesRejected = 0
    public var approved = 0
    public var rejectedByPeople = 0
    public var timeouts = 0
    public var unroutable = 0
    public var publishNacks = 0

    /// Tool calls decided or parked (not counting duplicates).
    public var calls: Int { allowed + denied + escalated + invalid + limited }

    public init() {}
}

/// Names of log metadata keys, so logs can be searched consistently.
enum LogKey {
    static let agent = "agent_id"
    static let tool = "tool"
    static let requestID = "request_id"
    static let messageID = "message_id"
    static let workerID = "worker_id"
    static let reason = "reason"
    static let rule = "rule"
    static let decision = "decision"
    static let resolution = "resolution"
    static let voter = "voter"
    static let error = "error"
}
