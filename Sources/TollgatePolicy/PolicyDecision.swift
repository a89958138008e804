import TollgateJSON

/// The answer for one tool call.
///
/// `allowed`, `action`, `rule` and `reason` are exactly agent-os's `PolicyDecision`
/// (`matched_rule` is `rule`). `outcome` is Tollgate's routing: `escalate` for an `escalate`
/// rule, or (with the keyword convention on) for a decision that is not allowed and whose reason
/// contains "requires human approval" in any case.
public struct PolicyDecision: Sendable, Equatable {
    public enum Outcome: String, Sendable {
        case allow, deny, escalate
    }

    public var allowed: Bool
    /// The matched rule's action as written (`allow`, `deny`, `audit`, `block`, `escalate`), the
    /// default action, or `deny` when evaluation failed closed.
    public var action: String
    /// The matched rule's name; nil when no rule matched or evaluation failed.
    public var rule: String?
    public var reason: String
    public var outcome: Outcome
    /// Who decides, and how, when `outcome == .escalate`; nil otherwise.
    public var escalation: EscalationSpec?
    /// The matched rule's (or default) action is `audit`: allowed, and to be recorded as such.
    public var audit: Bool
    /// Evaluation raised (as Python would): the decision is agent-os's fail-closed deny.
    public var failedClosed: Bool
    /// For a fail-closed decision: what Python would have raised (for logs, not for agents).
    public var errorDetail: String?

    public static let noMatchReason = "No rules matched; default action applied"
    public static let failClosedReason = "Policy evaluation error — access denied (fail closed)"
    public static let escalationKeyword = "requires human approval"

    static func failClosed(_ detail: String) -> PolicyDecision {
        PolicyDecision(
            allowed: false, action: "deny", rule: nil, reason: failClosedReason, outcome: .deny, escalation: nil,
            audit: false, failedClosed: true, errorDetail: detail)
    }

    /// The decision for a rule or default action, given whether the keyword convention is on.
    static func make(
        action: PolicyAction, rule: String?, reason: String, escalation: EscalationSpec, keyword: Bool
    ) -> PolicyDecision {
        let allowed = action.isAllowed
        let outcome: Outcome
        if action == .escalate {
            outcome = .escalate
        } else if allowed {
            outcome = .allow
        } else if keyword && Python.substring(escalationKeyword, of: reason.lowercased()) {
            outcome = .escalate
        } else {
            outcome = .deny
        }
        return PolicyDecision(
            allowed: allowed, action: action.rawValue, rule: rule, reason: reason, outcome: outcome,
            escalation: outcome == .escalate ? escalation : nil, audit: action == .audit, failedClosed: false,
            errorDetail: nil)
    }

    /// Writes `{"allowed","action","rule","reason","decision","policy_version"}`, the line format
    /// of `tollgate check --input`.
    public func write(to writer: inout JSONWriter, policyVersion: String) {
        writer.beginObject()
        writer.objectField("allowed", allowed)
        writer.objectField("action", action)
        writer.objectField("rule", rule)
        writer.objectField("reason", reason)
        writer.objectField("decision", outcome.rawValue)
        writer.objectField("policy_version", policyVersion)
        writer.endObject()
    }
}

/// Engine switches.
public struct EvaluationOptions: Sendable, Equatable {
    /// Route a not-allowed decision whose reason contains "requires human approval" to
    /// `escalate` (the agent-os tutorial's convention). On by default.
    public var escalationKeyword: Bool

    public init(escalationKeyword: Bool = true) {
        self.escalationKeyword = escalationKeyword
    }
}
