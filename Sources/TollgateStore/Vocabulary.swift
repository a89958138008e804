// The closed sets of values that decisions, votes and escalations take. They are enums in the
// code; their raw values are the strings of the wire protocol and of the database, converted only
// where a message or a row is encoded or read.

/// A final answer to a tool call.
public enum FinalDecision: String, Sendable, CaseIterable {
    case allow
    case deny
}

/// What the worker answers a tool call: final, or parked for people.
public enum Decision: String, Sendable, CaseIterable {
    case allow
    case deny
    case pending

    public init(_ final: FinalDecision) {
        switch final {
        case .allow: self = .allow
        case .deny: self = .deny
        }
    }

    /// `allow` or `deny`; nil for `pending`.
    public var final: FinalDecision? {
        switch self {
        case .allow: .allow
        case .deny: .deny
        case .pending: nil
        }
    }
}

/// How a decision was reached.
public enum Resolution: String, Sendable, CaseIterable {
    /// A rule or the default action (also the resolution of a `pending` answer).
    case policy
    /// People voted allow.
    case approved
    /// People voted deny.
    case denied
    /// Nobody decided before the deadline: the timeout action applied.
    case timeout
    /// The message was malformed (or poison) and was dead-lettered.
    case invalid
    /// A budget such as `max_tool_calls` was spent.
    case limit
    /// A standing grant of people allowed it without asking again.
    case grant
}

/// What a standing grant covers: the agent's calls in the request's session, or all its calls.
public enum GrantScope: String, Sendable, CaseIterable {
    case session
    case agent
}

/// What a vote asks for.
public enum VoteChoice: String, Sendable, CaseIterable {
    case approve
    case deny
}

/// When a vote on an escalation needs a comment (`escalation.require_comment`).
public enum CommentRequirement: String, Sendable, CaseIterable {
    /// agent-os's behaviour: a comment is always optional.
    case never
    /// A denial needs a comment (the reason goes back to the agent).
    case deny
    /// Every vote needs one.
    case always

    public func requires(_ choice: VoteChoice) -> Bool {
        switch self {
        case .never: false
        case .deny: choice == .deny
        case .always: true
        }
    }
}

/// The state of an escalated call.
public enum EscalationStatus: String, Sendable, CaseIterable {
    case pending
    case allow
    case deny

    public init(_ final: FinalDecision) {
        switch final {
        case .allow: self = .allow
        case .deny: self = .deny
        }
    }

    /// The final decision once decided.
    public var final: FinalDecision? {
        switch self {
        case .allow: .allow
        case .deny: .deny
        case .pending: nil
        }
    }
}
