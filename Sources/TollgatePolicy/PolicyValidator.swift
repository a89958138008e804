import Foundation
import TollgateJSON

/// Checks a YAML tree against agent-os's schema (pydantic's lax rules for the types it defines)
/// plus Tollgate's strict rules, and builds the document. Every problem is collected.
struct PolicyValidator {
    var problems: [(SourceLocation, String)] = []
    /// Valid, but refused by `tollgate validate --strict`.
    var strictFindings: [(SourceLocation, String)] = []

    static let documentKeys = [
        "version", "name", "description", "rules", "defaults", "inherit", "scope", "network_allowlist",
        "tool_allowlist", "compat",
    ]
    static let ruleKeys = ["name", "condition", "action", "priority", "message", "override", "escalation"]
    static let defaultsKeys = [
        "action", "max_tokens", "max_tool_calls", "confidence_threshold", "max_cpu", "max_memory_mb",
        "timeout_seconds", "network_default", "escalation",
    ]
    static let escalationKeys = [
        "approvers", "required_approvals", "required_denials", "timeout_seconds", "timeout_action",
        "require_comment",
        "max_grant_seconds", "stages",
        "max_pending_per_agent", "max_new_per_agent", "window_seconds", "fatigue_threshold", "fatigue_window_seconds",
    ]
    static let stageKeys = ["name", "approvers", "required_approvals", "timeout_seconds", "on_timeout"]

    typealias Member = (key: String, keyNode: YNode, value: YNode)

    mutating func fail(_ node: YNode, _ message: String) {
        problems.append((node.location, message))
    }

    // MARK: Document

    mutating func document(_ root: YNode?) -> PolicyDocument {
        var doc = PolicyDocument()
        guard let root else {
            problems.append(
                (
                    SourceLocation(line: 1, column: 1),
                    "empty policy file: expected a mapping with 'name', 'version' and 'rules'"
                )
            )
            return doc
        }
        if let acs = acsVersion(root) {
            fail(
                acs.node,
                "this is an Agent Control Specification manifest (agent_control_specification_version: \(acs.version)), the Agent Governance Toolkit's newer format; Tollgate reads agent-os policy documents (version, name, rules, defaults) and does not read ACS manifests yet"
            )
            return doc
        }
        guard let members = members(root, of: "a policy document", allowed: Self.documentKeys) else { return doc }
        for (key, _, value) in members where !value.isInvalid {
            switch key {
            case "version":
                if let s = string(value, key) { doc.version = s }
            case "name":
                if let s = string(value, key) { doc.name = s }
            case "description":
                if let s = string(value, key) { doc.description = s }
            case "inherit":
                if let b = laxBool(value, key) { doc.inherit = b }
            case "scope":
                if case .scalar(.none) = value.kind { doc.scope = nil } else { doc.scope = string(value, key) }
            case "network_allowlist":
                doc.networkAllowlist = stringList(value, key) ?? []
            case "tool_allowlist":
                doc.toolAllowlist = stringList(value, key) ?? []
            case "compat":
                if case .scalar(.str(let s)) = value.kind, let c = PolicyCompatibility(rawValue: s) {
                    doc.compat = c
                    doc.compatLocation = value.location
                } else {
                    fail(
                        value,
                        "'compat' must be \(PolicyCompatibility.allCases.map { "'\($0.rawValue)'" }.joined(separator: " or ")) (got \(describe(value)))"
                    )
                }
            default:
                break
            }
        }
        // Defaults before rules: rules merge their escalation blocks over the defaults' one.
        if let defaultsNode = members.first(where: { $0.key == "defaults" })?.value, !defaultsNode.isInvalid {
            doc.defaults = defaults(defaultsNode)
        }
        if let rulesNode = members.first(where: { $0.key == "rules" })?.value, !rulesNode.isInvalid {
            guard case .sequence(let items) = rulesNode.kind else {
                fail(rulesNode, "'rules' must be a list of rules (got \(describe(rulesNode)))")
                return doc
            }
            var seen: [ExactString: SourceLocation] = [:]
            for item in items where !item.isInvalid {
                // Names are checked for duplicates even on rules with other errors.
                if case .mapping(let pairs) = item.kind,
                    let nameNode = pairs.first(where: {
                        if case .scalar(.str("name")) = $0.key.kind { true } else { false }
                    })?.value,
                    case .scalar(.str(let name)) = nameNode.kind
                {
                    if let first = seen[ExactString(name)] {
                        fail(nameNode, "duplicate rule name '\(name)' (first defined at line \(first.line))")
                    } else {
                        seen[ExactString(name)] = nameNode.location
                    }
                }
                if let rule = rule(item, defaults: doc.defaults) { doc.rules.append(rule) }
            }
        }
        return doc
    }

    /// The version of an Agent Control Specification manifest (a mapping with a top-level
    /// `agent_control_specification_version`), and where it is written.
    func acsVersion(_ root: YNode) -> (version: String, node: YNode)? {
        guard case .mapping(let pairs) = root.kind else { return nil }
        for pair in pairs {
            guard case .scalar(.str("agent_control_specification_version")) = pair.key.kind else { continue }
            if case .scalar(.str(let v)) = pair.value.kind { return (v, pair.key) }
            return (describe(pair.value), pair.key)
        }
        return nil
    }

    // MARK: Defaults

    mutating func defaults(_ node: YNode) -> PolicyDefaults {
        var d = PolicyDefaults()
        guard let members = members(node, of: "'defaults'", allowed: Self.defaultsKeys) else { return d }
        for (key, _, value) in members where !value.isInvalid {
            let name = "defaults." + key
            switch key {
            case "action":
                if let a = action(value, name) { d.action = a }
            case "max_tokens":
                if let i = laxInt(value, name) { d.maxTokens = i }
            case "max_tool_calls":
                d.maxToolCalls = laxInt(value, name)
            case "confidence_threshold":
                if let f = laxFloat(value, name) { d.confidenceThreshold = f }
            case "max_cpu":
                d.maxCPU = isNone(value) ? nil : laxFloat(value, name)
            case "max_memory_mb":
                d.maxMemoryMB = isNone(value) ? nil : laxInt(value, name)
            case "timeout_seconds":
                d.timeoutSeconds = isNone(value) ? nil : laxInt(value, name)
            case "network_default":
                if case .scalar(.str(let s)) = value.kind, s == "allow" || s == "deny" {
                    d.networkDefault = s
                } else {
                    fail(value, "'\(name)' must be 'allow' or 'deny' (got \(describe(value)))")
                }
            case "escalation":
                if let block = escalationBlock(value) {
                    d.escalationBlock = block
                    d.escalation = block.spec
                }
            default:
                break
            }
        }
        return d
    }

    // MARK: Rules

    mutating func rule(_ node: YNode, defaults: PolicyDefaults) -> PolicyRule? {
        guard let members = members(node, of: "a rule", allowed: Self.ruleKeys) else { return nil }
        func member(_ key: String) -> YNode? { members.first { $0.key == key }?.value }
        var ok = true
        for key in ["name", "condition", "action"] where member(key) == nil {
            fail(node, "rule is missing required key '\(key)'")
            ok = false
        }
        var name: String?
        var condition: PolicyCondition?
        var action: PolicyAction?
        var priority = 0
        var message = ""
        var override = false
        var block: EscalationBlock?
        var escalationNode: YNode?
        for (key, _, value) in members where !value.isInvalid {
            switch key {
            case "name": name = string(value, "name")
            case "condition": condition = self.condition(value)
            case "action": action = self.action(value, "action")
            case "priority": priority = laxInt(value, "priority") ?? 0
            case "message": message = string(value, "message") ?? ""
            case "override": override = laxBool(value, "override") ?? false
            case "escalation":
                escalationNode = value
                block = escalationBlock(value)
            default: break
            }
        }
        if let escalationNode, let action, action.isAllowed {
            fail(
                escalationNode,
                "an 'escalation' block on an '\(action.rawValue)' rule: only deny, block and escalate rules escalate"
            )
        }
        var merged = (block ?? EscalationBlock()).over(defaults.escalationBlock)
        // The block checks itself; here only what the merge with the defaults brings together.
        let fromDefaults = block?.approvers == nil || block?.requiredApprovals == nil
        if fromDefaults, let escalationNode, let approvers = merged.approvers, !approvers.isEmpty,
            let required = merged.requiredApprovals, required > approvers.count
        {
            fail(
                escalationNode,
                "required_approvals (\(required)) is more than the \(approvers.count) approvers listed"
            )
            merged.requiredApprovals = approvers.count
        }
        guard ok, let name, let condition, let action else { return nil }
        return PolicyRule(
            name: name,
            condition: condition,
            action: action,
            priority: priority,
            message: message,
            override: override,
            escalation: withAgentLimits(merged.spec, defaults),
            location: node.location
        )
    }

    /// The rule's spec with its document's `defaults.escalation` limits, which count all of an
    /// agent's escalations.
    func withAgentLimits(_ spec: EscalationSpec, _ defaults: PolicyDefaults) -> EscalationSpec {
        var spec = spec
        spec.agentLimits = defaults.escalationBlock?.limits ?? EscalationLimits()
        return spec
    }

    // MARK: Conditions

    mutating func condition(_ node: YNode) -> PolicyCondition? {
        guard case .mapping(let pairs) = node.kind else {
            fail(
                node,
                "a condition must be a mapping with 'field', 'operator' and 'value', or one of 'all', 'any', 'not' (got \(describe(node)))"
            )
            return nil
        }
        let keys = pairs.compactMap { pair -> String? in
            if case .scalar(.str(let s)) = pair.key.kind { return s }
            return nil
        }
        if let compound = keys.first(where: { $0 == "all" || $0 == "any" || $0 == "not" }) {
            guard pairs.count == 1 else {
                fail(node, "a '\(compound)' condition must be the only key of its mapping")
                return nil
            }
            let body = pairs[0].value
            if body.isInvalid { return nil }
            if compound == "not" {
                return self.condition(body).map { .not($0) }
            }
            guard case .sequence(let items) = body.kind, !items.isEmpty else {
                fail(body, "'\(compound)' takes a non-empty list of conditions (got \(describe(body)))")
                return nil
            }
            var parts: [PolicyCondition] = []
            for item in items where !item.isInvalid {
                if let c = self.condition(item) { parts.append(c) }
            }
            guard parts.count == items.count else { return nil }
            return compound == "all" ? .all(parts) : .any(parts)
        }
        guard let members = members(node, of: "a condition", allowed: ["field", "operator", "value"]) else {
            return nil
        }
        func member(_ key: String) -> YNode? { members.first { $0.key == key }?.value }
        var ok = true
        for key in ["field", "operator", "value"] where member(key) == nil {
            fail(node, "condition is missing required key '\(key)'")
            ok = false
        }
        guard ok, let fieldNode = member("field"), let opNode = member("operator"), let valueNode = member("value"),
            !fieldNode.isInvalid, !opNode.isInvalid, !valueNode.isInvalid
        else { return nil }
        let field = string(fieldNode, "field")
        var op: PolicyOperator?
        if case .scalar(.str(let s)) = opNode.kind, let o = PolicyOperator(rawValue: s) {
            op = o
        } else {
            fail(
                opNode,
                "unknown operator \(Python.repr(opNode.value)) (expected one of: \(PolicyOperator.allCases.map(\.rawValue).joined(separator: ", ")))"
            )
        }
        guard let field, let op else { return nil }
        let value = valueNode.value
        if let problem = Self.operandProblem(op, value) {
            fail(valueNode, problem)
            return nil
        }
        var regex: PythonRegex?
        if op == .matches {
            let pattern = Python.str(value)
            do {
                regex = try PythonRegex(pattern)
            } catch {
                fail(valueNode, "invalid regular expression \(Python.stringRepr(pattern)): \(error.message)")
                return nil
            }
        }
        return .leaf(LeafCondition(field: field, op: op, value: value, regex: regex))
    }

    /// Operand types that make an operator raise for every context value (JSON never holds a
    /// date, a datetime or None at the top level): agent-os would fail closed on every match
    /// attempt; Tollgate rejects the rule at load.
    static func operandProblem(_ op: PolicyOperator, _ value: PolicyValue) -> String? {
        switch op {
        case .in, .notIn:
            switch value {
            case .list, .str, .dict: return nil
            default:
                return
                    "operator '\(op.rawValue)' needs a list, string or mapping value (got \(value.typeName) \(Python.repr(value)))"
            }
        case .gt, .lt, .gte, .lte:
            switch value {
            case .none, .dict, .date, .datetime:
                return
                    "operator '\(op.rawValue)' cannot order a context value against \(value.typeName) \(Python.repr(value))"
            default: return nil
            }
        default:
            return nil
        }
    }

    // MARK: Escalation

    /// The two spellings of one fatigue setting (Tollgate's and agent-os 5's) must not both be
    /// given, and a window means nothing without the count it bounds.
    mutating func fatigueSpellings(_ members: [(key: String, keyNode: YNode, value: YNode)], node: YNode) {
        let keys = Set(members.map(\.key))
        for (ours, theirs) in [
            ("max_new_per_agent", "fatigue_threshold"), ("window_seconds", "fatigue_window_seconds"),
        ]
        where keys.contains(ours) && keys.contains(theirs) {
            let second = members.first { $0.key == theirs }!.keyNode
            fail(second, "'escalation.\(theirs)' is agent-os 5's name for '\(ours)': give one of them, not both")
        }
        let window = members.first { $0.key == "window_seconds" || $0.key == "fatigue_window_seconds" }
        if let window, !keys.contains("max_new_per_agent"), !keys.contains("fatigue_threshold") {
            fail(
                window.keyNode,
                "'escalation.\(window.key)' bounds max_new_per_agent (or fatigue_threshold), which this block does not set"
            )
        }
    }

    mutating func escalationBlock(_ node: YNode) -> EscalationBlock? {
        guard let members = members(node, of: "an 'escalation' block", allowed: Self.escalationKeys) else { return nil }
        var block = EscalationBlock()
        for (key, _, value) in members where !value.isInvalid {
            switch key {
            case "approvers":
                block.approvers = stringList(value, "escalation.approvers")
            case "required_approvals", "required_denials", "timeout_seconds":
                guard case .scalar(.int(let i)) = value.kind else {
                    fail(value, "'escalation.\(key)' must be an integer (got \(describe(value)))")
                    continue
                }
                guard i >= 1, i <= Int64(Int32.max) else {
                    fail(value, "'escalation.\(key)' must be a positive integer (got \(i))")
                    continue
                }
                switch key {
                case "required_approvals": block.requiredApprovals = Int(i)
                case "required_denials": block.requiredDenials = Int(i)
                default: block.timeoutSeconds = Int(i)
                }
            case "timeout_action":
                if case .scalar(.str(let s)) = value.kind, let a = EscalationSpec.TimeoutAction(rawValue: s) {
                    block.timeoutAction = a
                } else {
                    fail(value, "'escalation.timeout_action' must be 'allow' or 'deny' (got \(describe(value)))")
                }
            case "stages":
                block.stages = stages(value)
            case "max_grant_seconds":
                guard case .scalar(.int(let i)) = value.kind, i >= 0, i <= Int64(Int32.max) else {
                    fail(
                        value,
                        "'escalation.max_grant_seconds' must be a whole number of seconds, 0 or more (got \(describe(value)))"
                    )
                    continue
                }
                block.maxGrantSeconds = Int(i)
            case "max_pending_per_agent", "max_new_per_agent", "window_seconds", "fatigue_threshold",
                "fatigue_window_seconds":
                guard case .scalar(.int(let i)) = value.kind, i >= 1, i <= Int64(Int32.max) else {
                    fail(value, "'escalation.\(key)' must be a positive integer (got \(describe(value)))")
                    continue
                }
                switch key {
                case "max_pending_per_agent": block.limits.maxPending = Int(i)
                case "max_new_per_agent", "fatigue_threshold": block.limits.maxNew = Int(i)
                default: block.limits.windowSeconds = Int(i)
                }
            case "require_comment":
                if case .scalar(.str(let s)) = value.kind, let r = EscalationSpec.CommentRequirement(rawValue: s) {
                    block.requireComment = r
                } else {
                    fail(
                        value,
                        "'escalation.require_comment' must be 'deny', 'always' or 'never' (got \(describe(value)))"
                    )
                }
            default:
                break
            }
        }
        if let approvers = block.approvers, !approvers.isEmpty, let required = block.requiredApprovals,
            required > approvers.count
        {
            fail(node, "required_approvals (\(required)) is more than the \(approvers.count) approvers listed")
        }
        fatigueSpellings(members, node: node)
        if block.stages != nil, block.namesItsApprovals {
            fail(
                node,
                "'escalation.stages' replaces approvers, required_approvals, required_denials, timeout_seconds and timeout_action: give them per stage (one deny in any stage ends the request)"
            )
        }
        return block
    }

    /// `stages: [{name?, approvers, required_approvals?, timeout_seconds?, on_timeout?}, ...]`.
    mutating func stages(_ node: YNode) -> [EscalationSpec.Stage]? {
        guard case .sequence(let items) = node.kind, !items.isEmpty else {
            fail(node, "'escalation.stages' must be a non-empty list of stages (got \(describe(node)))")
            return nil
        }
        var result: [EscalationSpec.Stage] = []
        for (index, item) in items.enumerated() {
            let what = "stage \(index + 1) of 'escalation.stages'"
            guard let fields = members(item, of: what, allowed: Self.stageKeys) else { continue }
            var stage = EscalationSpec.Stage(approvers: [])
            var approvers: [String]?
            for (key, _, value) in fields where !value.isInvalid {
                switch key {
                case "name":
                    stage.name = string(value, "stages.name")
                case "approvers":
                    approvers = stringList(value, "stages.approvers")
                case "required_approvals", "timeout_seconds":
                    guard case .scalar(.int(let i)) = value.kind, i >= 1, i <= Int64(Int32.max) else {
                        fail(value, "'stages.\(key)' must be a positive integer (got \(describe(value)))")
                        continue
                    }
                    if key == "required_approvals" {
                        stage.requiredApprovals = Int(i)
                    } else {
                        stage.timeoutSeconds = Int(i)
                    }
                case "on_timeout":
                    if case .scalar(.str(let text)) = value.kind, text == "deny" || text == "allow" {
                        stage.onTimeout = text == "deny" ? .deny : .allow
                        if text == "allow" {
                            strictFindings.append(
                                (
                                    value.location,
                                    "\(what) approves itself when nobody answers (on_timeout: allow): an unanswered request should not silently become an approval"
                                )
                            )
                        }
                    } else if case .mapping = value.kind {
                        guard let fallback = members(value, of: "'stages.on_timeout'", allowed: ["fallback"])?.first
                        else {
                            fail(value, "'stages.on_timeout' must be deny, allow or {fallback: [approvers]}")
                            continue
                        }
                        if let list = stringList(fallback.value, "stages.on_timeout.fallback") {
                            if list.isEmpty {
                                fail(fallback.value, "'stages.on_timeout.fallback' must name at least one approver")
                            } else {
                                stage.onTimeout = .fallback(list)
                            }
                        }
                    } else {
                        fail(
                            value,
                            "'stages.on_timeout' must be deny, allow or {fallback: [approvers]} (got \(describe(value)))"
                        )
                    }
                default:
                    break
                }
            }
            guard let approvers, !approvers.isEmpty else {
                fail(item, "\(what) needs approvers (a stage of anyone but the agent would not add a person)")
                continue
            }
            stage.approvers = approvers
            if stage.requiredApprovals > approvers.count {
                fail(
                    item,
                    "\(what): required_approvals (\(stage.requiredApprovals)) is more than the \(approvers.count) approvers listed"
                )
            }
            if case .fallback(let group) = stage.onTimeout, stage.requiredApprovals > group.count {
                fail(
                    item,
                    "\(what): required_approvals (\(stage.requiredApprovals)) is more than the \(group.count) fallback approvers"
                )
            }
            result.append(stage)
        }
        return result
    }

    // MARK: Typed members (pydantic's lax mode where agent-os defines the field)

    /// The members of a mapping with string keys; unknown keys are errors.
    mutating func members(_ node: YNode, of what: String, allowed: [String]) -> [Member]? {
        if node.isInvalid { return nil }
        guard case .mapping(let pairs) = node.kind else {
            fail(node, "\(what) must be a mapping (got \(describe(node)))")
            return nil
        }
        var result: [Member] = []
        for pair in pairs where !pair.key.isInvalid {
            guard case .scalar(.str(let key)) = pair.key.kind, allowed.contains(where: { exactEquals($0, key) }) else {
                fail(
                    pair.key,
                    "unknown key \(Python.repr(pair.key.value)) in \(what) (expected one of: \(allowed.joined(separator: ", ")))"
                )
                continue
            }
            result.append((key, pair.key, pair.value))
        }
        return result
    }

    func isNone(_ node: YNode) -> Bool {
        if case .scalar(.none) = node.kind { return true }
        return false
    }

    func describe(_ node: YNode) -> String {
        switch node.kind {
        case .mapping: return "a mapping"
        case .sequence(let items): return items.isEmpty ? "an empty list" : "a list"
        case .scalar(let v):
            if case .none = v { return "null" }
            return "\(v.typeName) \(Python.repr(v))"
        case .invalid: return "an invalid value"
        }
    }

    mutating func string(_ node: YNode, _ name: String) -> String? {
        if case .scalar(.str(let s)) = node.kind { return s }
        var message = "'\(name)' must be a string (got \(describe(node)))"
        if node.isPlainScalar, case .scalar(let v) = node.kind {
            message += "; quote it: \(name): \"\(Python.str(v))\""
        }
        fail(node, message)
        return nil
    }

    mutating func stringList(_ node: YNode, _ name: String) -> [String]? {
        guard case .sequence(let items) = node.kind else {
            fail(node, "'\(name)' must be a list of strings (got \(describe(node)))")
            return nil
        }
        var result: [String] = []
        for item in items where !item.isInvalid {
            guard case .scalar(.str(let s)) = item.kind else {
                fail(item, "'\(name)' must hold only strings (got \(describe(item)))")
                return nil
            }
            result.append(s)
        }
        return result
    }

    mutating func action(_ node: YNode, _ name: String) -> PolicyAction? {
        if case .scalar(.str(let s)) = node.kind, let a = PolicyAction(rawValue: s) { return a }
        fail(
            node,
            "unknown \(name == "action" ? "action" : "'\(name)'") \(Python.repr(node.value)) (expected one of: \(PolicyAction.allCases.map(\.rawValue).joined(separator: ", ")))"
        )
        return nil
    }

    /// pydantic's lax int: ints, bools, integral floats, and strings such as " 5 ", "1_000", "5.0".
    mutating func laxInt(_ node: YNode, _ name: String) -> Int? {
        if case .scalar(let v) = node.kind {
            switch v {
            case .int(let i): return Int(i)
            case .bool(let b): return b ? 1 : 0
            case .float(let d):
                if d.isFinite, d == d.rounded(), abs(d) < 9.2e18 { return Int(d) }
            case .str(let s):
                let t = s.trimmingCharacters(in: .whitespacesAndNewlines)
                if t.wholeMatch(of: #/[+-]?[0-9]+(?:_[0-9]+)*(?:\.0+)?/#) != nil {
                    let digits = t.split(separator: ".").first.map { $0.replacingOccurrences(of: "_", with: "") }
                    if let digits, let i = Int(digits) { return i }
                }
            default: break
            }
        }
        fail(node, "'\(name)' must be an integer (got \(describe(node)))")
        return nil
    }

    /// pydantic's lax float: numbers, bools, and numeric strings.
    mutating func laxFloat(_ node: YNode, _ name: String) -> Double? {
        if case .scalar(let v) = node.kind {
            switch v {
            case .int(let i): return Double(i)
            case .bool(let b): return b ? 1 : 0
            case .float(let d): return d
            case .str(let s):
                let t = s.trimmingCharacters(in: .whitespacesAndNewlines)
                if let d = Double(t.replacingOccurrences(of: "_", with: "")), !t.hasPrefix("_") { return d }
            default: break
            }
        }
        fail(node, "'\(name)' must be a number (got \(describe(node)))")
        return nil
    }

    /// pydantic's lax bool: bools, 0/1, and the words it knows (any case).
    mutating func laxBool(_ node: YNode, _ name: String) -> Bool? {
        if case .scalar(let v) = node.kind {
            switch v {
            case .bool(let b): return b
            case .int(let i) where i == 0 || i == 1: return i == 1
            case .float(let d) where d == 0 || d == 1: return d == 1
            case .str(let s):
                switch s.lowercased() {
                case "1", "on", "t", "true", "y", "yes": return true
                case "0", "off", "f", "false", "n", "no": return false
                default: break
                }
            default: break
            }
        }
        fail(node, "'\(name)' must be a boolean (got \(describe(node)))")
        return nil
    }
}
