import Logging
import TollgateJSON
import TollgatePolicy

/// The policies a worker decides with: immutable, swapped whole on reload (SIGHUP). A class, so
/// that reading it for every decision shares it instead of copying (and retaining) every part.
public final class LoadedPolicy: Sendable {
    public let policies: PolicySet
    public let versionString: String
    /// The budget of `max_tool_calls` when the first document sets it explicitly.
    public let maxToolCalls: Int?

    public init(policies: PolicySet) {
        self.policies = policies
        versionString = policies.version.description
        maxToolCalls = policies.maxToolCalls
    }

    /// Loads and checks every file (folders: `*.yaml` then `*.yml`); the error lists every
    /// problem with its file, line and column.
    public static func load(paths: [String], compat: PolicyCompatibility? = nil) throws(WorkerError) -> LoadedPolicy {
        do {
            return LoadedPolicy(policies: try PolicyLoader.load(paths: paths, compat: compat))
        } catch {
            throw WorkerError.policy("invalid policy, not started:\n\(error)")
        }
    }

    /// Log metadata naming each document, its version and rule count.
    public var logMetadata: Logger.Metadata {
        [
            "policy_version": "\(versionString)", "compat": "\(policies.compat.rawValue)",
            "documents":
                "\(policies.documents.map { "\($0.name)@\($0.version) (\($0.rules.count) rules)" }.joined(separator: ", "))",
        ]
    }

    /// Logs a warning for every rule that escalates without an `approvers` list: any broker user
    /// but the requesting agent may vote on its requests (another agent included) unless the
    /// broker's permissions keep agents from publishing votes. `defaults.escalation.approvers`
    /// fills the list for every rule that has none.
    public func warnAboutOpenVoting(keyword: Bool, logger: Logger) {
        for rule in policies.escalatingRules(keyword: keyword)
        where rule.escalation.approvers.isEmpty && rule.escalation.stages.isEmpty {
            // (Every stage names its approvers.)
            logger.warning(
                "rule escalates without an approvers list: any broker user but the requesting agent may vote on it; set escalation.approvers (or defaults.escalation.approvers), or make sure agents cannot publish to the approvals exchange",
                metadata: ["rule": "\(rule.name)"]
            )
        }
    }

    /// The engine's decision for a tool call's policy context.
    func decide(_ context: JSONObject, escalationKeyword: Bool) -> PolicyDecision {
        policies.evaluate(context, options: EvaluationOptions(escalationKeyword: escalationKeyword))
    }
}
