import Crypto
import TollgateJSON

/// `name@version#hash`: which policy decided. One document: `name@version#` and the first 8 hex
/// digits of the SHA-256 of the file's bytes. Several: the `name@version` of each, joined by
/// `+`, then `#` and the first 8 hex digits of the SHA-256 of all files' bytes concatenated in
/// load order. No document: `none#e3b0c442` (the hash of nothing).
public struct PolicyVersion: Sendable, Hashable, CustomStringConvertible {
    public let description: String
    /// The full SHA-256 (hex) the short hash comes from.
    public let sha256: String

    init(documents: [PolicyDocument], sha256: String) {
        let names = documents.isEmpty ? "none" : documents.map { "\($0.name)@\($0.version)" }.joined(separator: "+")
        self.sha256 = sha256
        description = names + "#" + sha256.prefix(8)
    }
}

/// A loaded, compiled set of policy documents: immutable, `Sendable`, cheap to share. The worker
/// builds a new one on reload and swaps it.
public struct PolicySet: Sendable {
    public let documents: [PolicyDocument]
    public let version: PolicyVersion
    /// Whose defaults it follows: agent-os 3.7 (an absent `defaults.action` allows) or 5 (denies).
    public let compat: PolicyCompatibility
    /// What no rule matching comes to: the first document's `defaults.action`, else the
    /// generation's default (with no document at all too).
    public let defaultAction: PolicyAction
    let compiled: CompiledPolicy

    /// Builds a set from documents in load order (`PolicyLoader` does, with their version).
    init(documents: [PolicyDocument], version: PolicyVersion, compat: PolicyCompatibility = .agentOS3) {
        self.documents = documents
        self.version = version
        self.compat = compat
        defaultAction = documents.first?.defaults.action ?? (compat == .agentOS5 ? .deny : .allow)
        compiled = CompiledPolicy(
            documents: documents,
            defaultAction: defaultAction,
            defaultEscalation: documents.first?.defaults.escalation ?? EscalationSpec()
        )
    }

    /// No document: every call is allowed (agent-os's evaluator with no policies).
    public static let empty = PolicySet(
        documents: [],
        version: PolicyVersion(documents: [], sha256: hex(SHA256.hash(data: [UInt8]())))
    )

    /// `max_tool_calls` of the first document's defaults, only when it was written there.
    public var maxToolCalls: Int? { documents.first?.defaults.maxToolCalls }

    /// All rules in evaluation order: priority descending, then document order, then rule order.
    public var rulesInOrder: [PolicyRule] { compiled.rules.map(\.rule) }

    /// Decides a tool call, exactly as agent-os's `PolicyEvaluator.evaluate` (flat mode), plus
    /// Tollgate's outcome routing.
    public func evaluate(_ context: JSONObject, options: EvaluationOptions = EvaluationOptions()) -> PolicyDecision {
        compiled.evaluate(context, keyword: options.escalationKeyword)
    }
}

extension PolicySet {
    /// The rules that send a call to people, with the keyword convention on or off: `escalate`
    /// rules, and (with `keyword`) `deny`/`block` rules whose message says "requires human
    /// approval". Their `escalation` is the effective one (`defaults.escalation` filled in).
    public func escalatingRules(keyword: Bool) -> [PolicyRule] {
        rulesInOrder.filter { rule in
            if rule.action == .escalate { return true }
            guard keyword, !rule.action.isAllowed else { return false }
            return rule.message.lowercased().contains(PolicyDecision.escalationKeyword)
        }
    }
}
