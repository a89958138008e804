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

    /// agent-os's `allowed`: true for `allow` and `audit`.
    public var allowed: Bool { storage.allowed }
    /// The matched rule's action as written (`allow`, `deny`, `audit`, `block`, `escalate`), the
    /// default action, or `deny` when evaluation failed closed.
    public var action: String { storage.action }
    /// The matched rule's name; nil when no rule matched or evaluation failed.
    public var rule: String? { storage.rule }
    public var reason: String { storage.reason }
    public var outcome: Outcome { storage.outcome }
    /// Who decides, and how, when `outcome == .escalate`; nil otherwise.
    public var escalation: EscalationSpec? { storage.escalation }
    /// The matched rule's (or default) action is `audit`: allowed, and to be recorded as such.
    public var audit: Bool { storage.audit }
    /// Evaluation raised (as Python would): the decision is agent-os's fail-closed deny.
    public var failedClosed: Bool { storage.failedClosed }
    /// For a fail-closed decision: what Python would have raised (for logs, not for agents).
    public var errorDetail: String? { storage.errorDetail }

    /// Decisions are built once per rule at load and shared: copying one is a single retain.
    final class Storage: Sendable {
        let allowed: Bool
        let action: String
        let rule: String?
        let reason: String
        let outcome: Outcome
        let escalation: EscalationSpec?
        let audit: Bool
        let failedClosed: Bool
        let errorDetail: String?

        init(
            allowed: Bool,
            action: String,
            rule: String?,
            reason: String,
            outcome: Outcome,
            escalation: EscalationSpec?,
            audit: Bool,
            failedClosed: Bool,
            errorDetail: String?
        ) {
            self.allowed = allowed
            self.action = action
            self.rule = rule
            self.reason = reason
            self.outcome = outcome
            self.escalation = escalation
            self.audit = audit
            self.failedClosed = failedClosed
            self.errorDetail = errorDetail
        }
    }

    let storage: Storage

    public init(
        allowed: Bool,
        action: String,
        rule: String?,
        reason: String,
        outcome: Outcome,
        escalation: EscalationSpec? = nil,
        audit: Bool = false,
        failedClosed: Bool = false,
        errorDetail: String? = nil
    ) {
        storage = Storage(
            allowed: allowed,
            action: action,
            rule: rule,
            reason: reason,
            outcome: outcome,
            escalation: escalation,
            audit: audit,
            failedClosed: failedClosed,
            errorDetail: errorDetail
        )
    }

    public static func == (a: PolicyDecision, b: PolicyDecision) -> Bool {
        a.storage === b.storage
            || (a.allowed == b.allowed && a.action == b.action && a.rule == b.rule && a.reason == b.reason
                && a.outcome == b.outcome && a.escalation == b.escalation && a.audit == b.audit
                && a.failedClosed == b.failedClosed && a.errorDetail == b.errorDetail)
    }

    public static let noMatchReason = "No rules matched; default action applied"
    public static let failClosedReason = "Policy evaluation error — access denied (fail closed)"
    public static let escalationKeyword = "requires human approval"

    static func failClosed(_ detail: String) -> PolicyDecision {
        PolicyDecision(
            allowed: false,
            action: "deny",
            rule: nil,
            reason: failClosedReason,
            outcome: .deny,
            escalation: nil,
            audit: false,
            failedClosed: true,
            errorDetail: detail
        )
    }

    /// The decision for a rule or default action, given whether the keyword convention is on.
    static func make(
        action: PolicyAction,
        rule: String?,
        reason: String,
        escalation: EscalationSpec,
        keyword: Bool
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
            allowed: allowed,
            action: action.rawValue,
            rule: rule,
            reason: reason,
            outcome: outcome,
            escalation: outcome == .escalate ? escalation : nil,
            audit: action == .audit,
            failedClosed: false,
            errorDetail: nil
        )
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

extension PolicyDecision: CustomStringConvertible {
    /// One line for logs: `escalate (deny, rule 'escalate-transfer-funds'): Sensitive action: ...`.
    public var description: String {
        var text = "\(outcome.rawValue) (\(action)"
        if let rule { text += ", rule '\(rule)'" }
        if failedClosed, let errorDetail { text += ", failed closed: \(errorDetail)" }
        return text + "): \(reason)"
    }
}
