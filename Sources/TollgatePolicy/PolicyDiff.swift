import TollgateJSON

/// What changed between two versions of a policy (`tollgate diff`): documents, rules added,
/// removed and changed field by field, the order in which rules match, and the defaults; and,
/// for given contexts, which decisions change. Pure: no files, no output format.
public struct PolicyDiff: Sendable {
    /// One field of a rule or of the defaults, before and after (nil: absent).
    public struct FieldChange: Sendable, Equatable {
        public var field: String
        public var old: String?
        public var new: String?
    }

    /// A rule as a summary line shows it.
    public struct RuleSummary: Sendable, Equatable {
        public var name: String
        public var document: String
        public var action: String
        public var priority: Int
    }

    public struct RuleChange: Sendable, Equatable {
        public var name: String
        public var changes: [FieldChange]
    }

    public var documentsAdded: [String] = []
    public var documentsRemoved: [String] = []
    /// Documents in both versions whose `version` changed: name, old, new.
    public var documentVersions: [FieldChange] = []
    public var rulesAdded: [RuleSummary] = []
    public var rulesRemoved: [RuleSummary] = []
    public var rulesChanged: [RuleChange] = []
    /// The match order of the rules both versions have, when it changed (else nil).
    public var orderChange: (old: [String], new: [String])? = nil
    public var defaultsChanges: [FieldChange] = []

    public var isEmpty: Bool {
        documentsAdded.isEmpty && documentsRemoved.isEmpty && documentVersions.isEmpty && rulesAdded.isEmpty
            && rulesRemoved.isEmpty
            && rulesChanged.isEmpty && orderChange == nil && defaultsChanges.isEmpty
    }

    /// Compares `base` with `target`. Rules are matched by name (the first of a name when two
    /// documents use it).
    /// Compares `base` with `target`. Documents are matched by name, rules by name (the first of
    /// a name when two documents use it). `escalationKeyword`: as the worker routes, so that a
    /// message that gains or loses "requires human approval" shows as a change of `routes to`.
    public static func compare(_ base: PolicySet, _ target: PolicySet, escalationKeyword: Bool = true) -> PolicyDiff {
        var diff = PolicyDiff()
        let oldDocs = base.documents.map(\.name)
        let newDocs = target.documents.map(\.name)
        diff.documentsAdded = target.documents.filter { !oldDocs.contains($0.name) }.map(documentName)
        diff.documentsRemoved = base.documents.filter { !newDocs.contains($0.name) }.map(documentName)
        for document in target.documents {
            guard let before = base.documents.first(where: { $0.name == document.name }),
                before.version != document.version
            else { continue }
            diff.documentVersions.append(FieldChange(field: document.name, old: before.version, new: document.version))
        }

        let oldRules = rules(of: base, keyword: escalationKeyword)
        let newRules = rules(of: target, keyword: escalationKeyword)
        let oldNames = oldRules.map(\.rule.name)
        let newNames = newRules.map(\.rule.name)
        for entry in newRules where !oldNames.contains(entry.rule.name) { diff.rulesAdded.append(summary(entry)) }
        for entry in oldRules where !newNames.contains(entry.rule.name) { diff.rulesRemoved.append(summary(entry)) }
        for entry in newRules {
            guard let old = oldRules.first(where: { $0.rule.name == entry.rule.name }) else { continue }
            let changes = compareFields(fields(of: old), fields(of: entry))
            if !changes.isEmpty { diff.rulesChanged.append(RuleChange(name: entry.rule.name, changes: changes)) }
        }
        // The order in which the rules of both versions match (priority, then file order).
        let common = Set(oldNames).intersection(newNames)
        let oldOrder = base.rulesInOrder.map(\.name).filter { common.contains($0) }
        let newOrder = target.rulesInOrder.map(\.name).filter { common.contains($0) }
        if oldOrder != newOrder { diff.orderChange = (uniqued(oldOrder), uniqued(newOrder)) }

        diff.defaultsChanges = compareFields(defaults(of: base), defaults(of: target))
        return diff
    }

    // MARK: Fields

    private typealias Entry = (rule: PolicyRule, document: String, routes: String)

    private static func documentName(_ d: PolicyDocument) -> String { "\(d.name)@\(d.version)" }

    private static func rules(of set: PolicySet, keyword: Bool) -> [Entry] {
        let escalating = Set(set.escalatingRules(keyword: keyword).map(\.name))
        var seen: Set<String> = []
        var result: [Entry] = []
        for document in set.documents {
            for rule in document.rules where !seen.contains(rule.name) {
                seen.insert(rule.name)
                let routes = escalating.contains(rule.name) ? "escalate" : (rule.action.isAllowed ? "allow" : "deny")
                result.append((rule, document.name, routes))
            }
        }
        return result
    }

    private static func summary(_ entry: Entry) -> RuleSummary {
        RuleSummary(
            name: entry.rule.name,
            document: entry.document,
            action: entry.rule.action.rawValue,
            priority: entry.rule.priority
        )
    }

    private static func fields(of entry: Entry) -> [(String, String)] {
        let rule = entry.rule
        var fields: [(String, String)] = [
            ("document", entry.document), ("condition", describe(rule.condition)), ("action", rule.action.rawValue),
            ("routes to", entry.routes),
            ("priority", "\(rule.priority)"), ("message", Python.repr(.str(rule.message))),
            ("override", rule.override ? "true" : "false"),
        ]
        if rule.action != .allow, rule.action != .audit {
            fields += escalationFields(rule.escalation, prefix: "escalation.")
        }
        return fields
    }

    private static func defaults(of set: PolicySet) -> [(String, String)] {
        guard let first = set.documents.first else { return [] }
        var fields: [(String, String)] = [
            ("compat", set.compat.rawValue),
            ("defaults.action", set.defaultAction.rawValue),
            ("defaults.max_tool_calls", first.defaults.maxToolCalls.map { "\($0)" } ?? "none"),
        ]
        fields += escalationFields(first.defaults.escalation, prefix: "defaults.escalation.")
        return fields
    }

    private static func escalationFields(_ e: EscalationSpec, prefix: String) -> [(String, String)] {
        var fields: [(String, String)] = [
            ("require_comment", e.requireComment.rawValue), ("max_grant_seconds", "\(e.maxGrantSeconds)"),
            // A rule's own limits (for defaults.escalation: the limits on all of an agent's escalations).
            ("limits", e.ruleLimits.description),
        ]
        if e.stages.isEmpty {
            fields += [
                ("approvers", e.approvers.isEmpty ? "anyone but the agent" : e.approvers.joined(separator: ", ")),
                ("required_approvals", "\(e.requiredApprovals)"), ("required_denials", "\(e.requiredDenials)"),
                ("timeout_seconds", e.timeoutSeconds.map { "\($0)" } ?? "the worker's default"),
                ("timeout_action", e.timeoutAction.rawValue),
            ]
        } else {
            for (n, stage) in e.stages.enumerated() {
                let onTimeout: String
                switch stage.onTimeout {
                case .deny: onTimeout = "deny"
                case .allow: onTimeout = "allow"
                case .fallback(let group): onTimeout = "fallback to " + group.joined(separator: ", ")
                }
                fields.append(
                    (
                        "stages[\(n + 1)]",
                        "\(stage.name ?? "stage \(n + 1)"): \(stage.approvers.joined(separator: ", ")), \(stage.requiredApprovals) approval(s), \(stage.timeoutSeconds.map { "\($0) s" } ?? "default timeout"), on timeout \(onTimeout)"
                    )
                )
            }
        }
        return fields.map { (prefix + $0.0, $0.1) }
    }

    private static func compareFields(_ old: [(String, String)], _ new: [(String, String)]) -> [FieldChange] {
        var changes: [FieldChange] = []
        for (field, value) in new {
            let before = old.first { $0.0 == field }?.1
            if before != value { changes.append(FieldChange(field: field, old: before, new: value)) }
        }
        for (field, value) in old where !new.contains(where: { $0.0 == field }) {
            changes.append(FieldChange(field: field, old: value, new: nil))
        }
        return changes
    }

    private static func uniqued(_ names: [String]) -> [String] {
        var seen: Set<String> = []
        return names.filter { seen.insert($0).inserted }
    }

    /// A condition in one line: `tool_name eq 'transfer_funds'`, `all(a, b)`, `not(a)`.
    public static func describe(_ condition: PolicyCondition) -> String {
        switch condition {
        case .leaf(let leaf): "\(leaf.field) \(leaf.op.rawValue) \(Python.repr(leaf.value))"
        case .all(let items): "all(" + items.map(describe).joined(separator: ", ") + ")"
        case .any(let items): "any(" + items.map(describe).joined(separator: ", ") + ")"
        case .not(let inner): "not(" + describe(inner) + ")"
        }
    }

    // MARK: Decisions

    /// A context whose decision differs between the two versions.
    public struct DecisionChange: Sendable {
        public var label: String
        public var old: PolicyDecision
        public var new: PolicyDecision
    }

    /// The contexts (with a label each) whose routing outcome or matched rule differs.
    public static func decisionChanges(
        _ base: PolicySet,
        _ target: PolicySet,
        contexts: [(label: String, context: JSONObject)],
        options: EvaluationOptions
    ) -> [DecisionChange] {
        contexts.compactMap { item in
            let old = base.evaluate(item.context, options: options)
            let new = target.evaluate(item.context, options: options)
            guard old.outcome != new.outcome || old.rule != new.rule else { return nil }
            return DecisionChange(label: item.label, old: old, new: new)
        }
    }
}
