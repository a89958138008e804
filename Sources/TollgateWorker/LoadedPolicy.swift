import Logging
import TollgateJSON
import TollgatePolicy

/// What the worker takes from a policy decision.
struct PolicyVerdict {
    enum Outcome {
        case allow
        case deny
        case escalate
    }

    var outcome: Outcome
    var rule: String?
    var reason: String
    /// The quorum and deadline for an escalation (defaults when the policy sets none).
    var escalation: EscalationTerms
}

/// Who may decide an escalated call, how many must agree, and when the clock decides.
struct EscalationTerms {
    var approvers: [String] = []
    var requiredApprovals = 1
    var requiredDenials = 1
    /// nil: the worker's `--escalation-timeout`.
    var timeoutSeconds: Int?
    /// `allow` or `deny`.
    var timeoutAction = "deny"
}

/// The policies a worker decides with: an immutable value swapped whole on reload (SIGHUP).
public struct LoadedPolicy: Sendable {
    public let policies: PolicySet
    public var versionString: String { policies.version.description }
    /// The budget of `max_tool_calls` when the first document sets it explicitly.
    public var maxToolCalls: Int? { policies.maxToolCalls }

    /// Loads and checks every file (folders: `*.yaml` then `*.yml`); the error lists every
    /// problem with its file, line and column.
    public static func load(paths: [String]) throws(WorkerError) -> LoadedPolicy {
        do {
            return LoadedPolicy(policies: try PolicyLoader.load(paths: paths))
        } catch {
            throw WorkerError.policy("invalid policy, not started:\n\(error)")
        }
    }

    /// Log metadata naming each document, its version and rule count.
    public var logMetadata: Logger.Metadata {
        [
            "policy_version": "\(versionString)",
            "documents":
                "\(policies.documents.map { "\($0.name)@\($0.version) (\($0.rules.count) rules)" }.joined(separator: ", "))",
        ]
    }

    func decide(_ context: JSONObject, escalationKeyword: Bool) -> PolicyVerdict {
        let decision = policies.evaluate(context, options: EvaluationOptions(escalationKeyword: escalationKeyword))
        let outcome: PolicyVerdict.Outcome
        switch decision.outcome {
        case .allow: outcome = .allow
        case .deny: outcome = .deny
        case .escalate: outcome = .escalate
        }
        var terms = EscalationTerms()
        if let spec = decision.escalation {
            terms.approvers = spec.approvers
            terms.requiredApprovals = spec.requiredApprovals
            terms.requiredDenials = spec.requiredDenials
            terms.timeoutSeconds = spec.timeoutSeconds
            terms.timeoutAction = spec.timeoutAction.rawValue
        }
        return PolicyVerdict(outcome: outcome, rule: decision.rule, reason: decision.reason, escalation: terms)
    }
}
