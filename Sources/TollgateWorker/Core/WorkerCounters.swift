import TollgateStore

/// What the worker has done since it started: for the progress log, the metrics and the tests.
public struct WorkerCounters: Sendable, Equatable {
    public var allowed = 0
    public var denied = 0
    public var escalated = 0
    public var invalid = 0
    public var limited = 0
    /// Calls the policy escalated that an escalation limit (fatigue) denied at once.
    public var escalationsLimited = 0
    /// Calls the policy escalated that a standing grant allowed.
    public var granted = 0
    /// Standing grants made by approvals.
    public var grantsMade = 0
    public var duplicates = 0
    public var votesAccepted = 0
    public var votesRejected = 0
    public var approved = 0
    public var rejectedByPeople = 0
    public var timeouts = 0
    public var unroutable = 0
    public var publishNacks = 0
    /// Inputs the broker marked redelivered.
    public var redeliveries = 0
    /// Budget hand-offs received and applied, and sent while draining.
    public var handoffsReceived = 0
    public var handoffsSent = 0
    /// Call records handed to other workers on ring changes, and taken over from them.
    public var recordsHanded = 0
    public var recordsAdopted = 0
    /// Escalations parked minus escalations decided: with the pending count at start, the
    /// number pending now.
    public var pendingChange = 0
    /// Answers published, by decision and resolution: a call's first answer (`allow`, `deny` or
    /// `pending`) and, for an escalated call, its final decision later.
    public var decisions: [DecisionKey: Int] = [:]

    public struct DecisionKey: Hashable, Sendable {
        public var decision: Decision
        public var resolution: Resolution
    }

    mutating func count(_ decision: Decision, _ resolution: Resolution) {
        decisions[DecisionKey(decision: decision, resolution: resolution), default: 0] += 1
    }

    /// Tool calls decided or parked (not counting duplicates).
    public var calls: Int { allowed + denied + escalated + invalid + limited + granted + escalationsLimited }

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
