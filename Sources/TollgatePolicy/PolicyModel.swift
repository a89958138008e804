/// What a rule (or the defaults) prescribes. `allow`, `deny`, `audit` and `block` are
/// agent-os's; `escalate` is Tollgate's third outcome.
public enum PolicyAction: String, Sendable, CaseIterable {
    case allow, deny, audit, block, escalate

    /// agent-os: `allowed = action in (allow, audit)`.
    public var isAllowed: Bool { self == .allow || self == .audit }
}

/// The comparison of a condition, as agent-os names it.
public enum PolicyOperator: String, Sendable, CaseIterable {
    case eq, ne, gt, lt, gte, lte
    case `in` = "in"
    case notIn = "not_in"
    case matches, contains
}

/// A condition: agent-os's single `{field, operator, value}`, or Tollgate's compound forms.
public indirect enum PolicyCondition: Sendable {
    case leaf(LeafCondition)
    case all([PolicyCondition])
    case any([PolicyCondition])
    case not(PolicyCondition)
}

/// `{field, operator, value}`.
public struct LeafCondition: Sendable {
    public let field: String
    public let op: PolicyOperator
    public let value: PolicyValue
    /// For `matches`: compiled once at load.
    let regex: PythonRegex?
}

/// What the human-approval step of an escalating decision needs: who may vote, how many
/// approvals or denials decide, and what happens on timeout.
public struct EscalationSpec: Sendable, Equatable {
    public enum TimeoutAction: String, Sendable { case allow, deny }
    /// When a vote needs a comment: `never` (agent-os's behaviour), `deny`, or `always`.
    public enum CommentRequirement: String, Sendable { case never, deny, always }

    /// Who may vote; empty means anyone but the requesting agent.
    public var approvers: [String]
    public var requiredApprovals: Int
    public var requiredDenials: Int
    /// nil: the worker's default applies.
    public var timeoutSeconds: Int?
    public var timeoutAction: TimeoutAction
    public var requireComment: CommentRequirement
    /// The longest standing grant an approval may make (seconds); 0: none.
    public var maxGrantSeconds: Int
    /// Approval stages that decide in order (`escalation.stages`); empty: the single stage
    /// above (`approvers`, `required_approvals`, `timeout_seconds`, `timeout_action`).
    public var stages: [Stage] = []
    /// Escalation fatigue limits written on the rule itself: they count the agent's escalations
    /// of this rule.
    public var ruleLimits = EscalationLimits()
    /// The limits of the document's `defaults.escalation`: they count all of the agent's
    /// escalations, whatever the rule.
    public var agentLimits = EscalationLimits()

    /// One stage of a staged approval: who approves, how many, how long they have, and what
    /// the clock does then.
    public struct Stage: Sendable, Equatable {
        public enum OnTimeout: Sendable, Equatable {
            /// The request is denied (the default).
            case deny
            /// The stage is waived (`tollgate validate --strict` refuses it).
            case allow
            /// The stage goes to these approvers, with a new deadline; when they do not answer
            /// either, the request is denied.
            case fallback([String])
        }

        public var name: String?
        public var approvers: [String]
        public var requiredApprovals: Int
        /// nil: the worker's default.
        public var timeoutSeconds: Int?
        public var onTimeout: OnTimeout

        public init(
            name: String? = nil,
            approvers: [String],
            requiredApprovals: Int = 1,
            timeoutSeconds: Int? = nil,
            onTimeout: OnTimeout = .deny
        ) {
            self.name = name
            self.approvers = approvers
            self.requiredApprovals = requiredApprovals
            self.timeoutSeconds = timeoutSeconds
            self.onTimeout = onTimeout
        }
    }

    public init(
        approvers: [String] = [],
        requiredApprovals: Int = 1,
        requiredDenials: Int = 1,
        timeoutSeconds: Int? = nil,
        timeoutAction: TimeoutAction = .deny,
        requireComment: CommentRequirement = .never,
        maxGrantSeconds: Int = 0
    ) {
        self.requireComment = requireComment
        self.maxGrantSeconds = maxGrantSeconds
        self.approvers = approvers
        self.requiredApprovals = requiredApprovals
        self.requiredDenials = requiredDenials
        self.timeoutSeconds = timeoutSeconds
        self.timeoutAction = timeoutAction
    }
}

/// How often one agent may escalate before its new escalations are denied at once (escalation
/// fatigue): at most `maxPending` of its escalations waiting for people, at most `maxNew` new
/// ones in the last `windowSeconds`. agent-os 5 calls the second `fatigue_threshold` and
/// `fatigue_window_seconds`.
public struct EscalationLimits: Sendable, Equatable {
    public var maxPending: Int?
    public var maxNew: Int?
    public var windowSeconds: Int

    public static let defaultWindowSeconds = 60

    public init(maxPending: Int? = nil, maxNew: Int? = nil, windowSeconds: Int = defaultWindowSeconds) {
        self.maxPending = maxPending
        self.maxNew = maxNew
        self.windowSeconds = windowSeconds
    }

    public var isEmpty: Bool { maxPending == nil && maxNew == nil }

    /// In the policy's words, for diffs and audit entries.
    public var description: String {
        var parts: [String] = []
        if let maxPending { parts.append("max_pending_per_agent \(maxPending)") }
        if let maxNew { parts.append("max_new_per_agent \(maxNew) in \(windowSeconds) s") }
        return parts.isEmpty ? "none" : parts.joined(separator: ", ")
    }
}

/// An `escalation:` block as written: absent fields fall back to `defaults.escalation`, then to
/// `EscalationSpec`'s defaults.
struct EscalationBlock: Sendable {
    var approvers: [String]?
    var requiredApprovals: Int?
    var requiredDenials: Int?
    var timeoutSeconds: Int?
    var timeoutAction: EscalationSpec.TimeoutAction?
    var requireComment: EscalationSpec.CommentRequirement?
    var maxGrantSeconds: Int?
    var stages: [EscalationSpec.Stage]?
    /// The block's own fatigue limits (never inherited: the defaults' limits count all of an
    /// agent's escalations, a rule's only its own).
    var limits = EscalationLimits()

    /// Whether the block says who approves itself (a single stage or stages): then a base's
    /// stages do not apply.
    var namesItsApprovals: Bool {
        approvers != nil || requiredApprovals != nil || timeoutSeconds != nil || timeoutAction != nil
            || requiredDenials != nil
    }

    /// `self` over `base`, field by field (stages as a whole: a block that names its own
    /// approvers does not inherit the base's stages).
    func over(_ base: EscalationBlock?) -> EscalationBlock {
        EscalationBlock(
            approvers: approvers ?? base?.approvers,
            requiredApprovals: requiredApprovals ?? base?.requiredApprovals,
            requiredDenials: requiredDenials ?? base?.requiredDenials,
            timeoutSeconds: timeoutSeconds ?? base?.timeoutSeconds,
            timeoutAction: timeoutAction ?? base?.timeoutAction,
            requireComment: requireComment ?? base?.requireComment,
            maxGrantSeconds: maxGrantSeconds ?? base?.maxGrantSeconds,
            stages: stages ?? (namesItsApprovals ? nil : base?.stages),
            limits: limits
        )
    }

    var spec: EscalationSpec {
        var spec = EscalationSpec(
            approvers: approvers ?? [],
            requiredApprovals: requiredApprovals ?? 1,
            requiredDenials: requiredDenials ?? 1,
            timeoutSeconds: timeoutSeconds,
            timeoutAction: timeoutAction ?? .deny,
            requireComment: requireComment ?? .never,
            maxGrantSeconds: maxGrantSeconds ?? 0
        )
        spec.stages = stages ?? []
        spec.ruleLimits = limits
        return spec
    }
}

public struct PolicyRule: Sendable {
    public let name: String
    public let condition: PolicyCondition
    public let action: PolicyAction
    public let priority: Int
    public let message: String
    public let override: Bool
    /// The rule's escalation block merged over its document's `defaults.escalation`.
    public let escalation: EscalationSpec
    public let location: SourceLocation
}

/// Which generation of agent-os a policy decides like. They differ in one default: when the first
/// document has no `defaults.action`, agent-os 3.7 (`agent-os-kernel`, the seed's) allows what no
/// rule matches and agent-os 5 (`agent-governance-toolkit-core`) denies it.
public enum PolicyCompatibility: String, Sendable, CaseIterable {
    case agentOS3 = "agent-os-3.7"
    case agentOS5 = "agent-os-5"
}

public struct PolicyDefaults: Sendable {
    /// nil when the file writes none: then the policy's generation decides
    /// (`PolicySet.defaultAction`: agent-os 3.7 allows, 5 denies).
    public var action: PolicyAction?
    /// Only when written: agent-os's implicit 10 would cap every agent forever.
    public var maxToolCalls: Int?
    public var maxTokens: Int = 4096
    public var confidenceThreshold: Double = 0.8
    public var maxCPU: Double?
    public var maxMemoryMB: Int?
    public var timeoutSeconds: Int?
    public var networkDefault: String = "deny"
    /// `defaults.escalation`, merged with the built-in defaults.
    public var escalation: EscalationSpec = EscalationSpec()
    var escalationBlock: EscalationBlock?
}

/// One loaded policy file.
public struct PolicyDocument: Sendable {
    public var version: String = "1.0"
    public var name: String = "unnamed"
    public var description: String = ""
    public var rules: [PolicyRule] = []
    public var defaults = PolicyDefaults()
    public var inherit = true
    public var scope: String?
    public var networkAllowlist: [String] = []
    public var toolAllowlist: [String] = []
    /// Tollgate's `compat:` key (read from the first document only), and where it was written.
    public var compat: PolicyCompatibility?
    var compatLocation: SourceLocation?
    /// The path it was read from, as given.
    public var path: String = ""
    /// SHA-256 of the file's bytes.
    public var sha256: [UInt8] = []
    /// What `tollgate validate --strict` refuses in a valid file (a stage whose timeout
    /// approves), with where it is.
    public var strictFindings: [PolicyDiagnostic] = []
}
