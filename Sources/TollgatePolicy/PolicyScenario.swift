import TollgateJSON
import Yams

/// One test case of a scenario file: agent-os's `{name, context, expected_action,
/// expected_allowed}` plus Tollgate's `expected_decision` and `expected_rule`.
public struct PolicyScenario: Sendable {
    public var name: String
    public var context: JSONObject
    public var expectedAction: String?
    public var expectedAllowed: Bool?
    public var expectedDecision: PolicyDecision.Outcome?
    /// `.some(nil)`: expects that no rule matched; nil: not checked.
    public var expectedRule: String??
    public var location: SourceLocation

    /// The mismatches between `decision` and the expectations, each as `expected X, got Y`.
    public func failures(of decision: PolicyDecision) -> [String] {
        var failures: [String] = []
        if let expectedAction, expectedAction != decision.action {
            failures.append("expected \(expectedAction), got \(decision.action)")
        }
        if let expectedAllowed, expectedAllowed != decision.allowed {
            failures.append("expected allowed=\(expectedAllowed), got allowed=\(decision.allowed)")
        }
        if let expectedDecision, expectedDecision != decision.outcome {
            failures.append("expected decision \(expectedDecision.rawValue), got \(decision.outcome.rawValue)")
        }
        if let expectedRule, expectedRule != decision.rule {
            func show(_ rule: String?) -> String { rule.map { "rule '\($0)'" } ?? "no rule" }
            failures.append("expected \(show(expectedRule)), got \(show(decision.rule))")
        }
        return failures
    }

    static let keys = ["name", "context", "expected_action", "expected_allowed", "expected_decision", "expected_rule"]

    /// Reads a scenario file (YAML, with PyYAML's scalar rules). Every problem is reported as
    /// `file:line:column: message`.
    public static func load(_ source: PolicySource) throws(PolicyLoadError) -> [PolicyScenario] {
        var problems: [(SourceLocation, String)] = []
        var scenarios: [PolicyScenario] = []
        func fail() -> PolicyLoadError {
            PolicyLoadError(
                kind: .invalid,
                diagnostics: problems.map { PolicyDiagnostic(file: source.path, location: $0.0, message: $0.1) }
            )
        }
        if let offset = firstInvalidUTF8Offset(source.bytes) {
            problems.append(
                (
                    PolicyLoader.location(ofByte: offset, in: source.bytes),
                    "the file is not valid UTF-8 (byte \(offset))"
                )
            )
            throw fail()
        }
        if let deep = PolicyLoader.tooDeepFlowNesting(source.bytes) {
            problems.append((PolicyLoader.location(ofByte: deep, in: source.bytes), "YAML nested too deep"))
            throw fail()
        }
        let text = String(decoding: source.bytes, as: UTF8.self)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text, YAMLTreeBuilder.resolver)
        } catch {
            problems.append(PolicyLoader.describe(error, text: text))
            throw fail()
        }
        var builder = YAMLTreeBuilder()
        let tree = root.map { builder.build($0) }
        problems += builder.problems
        var v = PolicyValidator()
        guard let tree, let top = v.members(tree, of: "a scenario file", allowed: ["scenarios"]),
            let list = top.first(where: { $0.key == "scenarios" })?.value
        else {
            problems += v.problems
            if problems.isEmpty {
                problems.append(
                    (
                        tree?.location ?? SourceLocation(line: 1, column: 1),
                        "no scenarios: expected 'scenarios:' with a list"
                    )
                )
            }
            throw fail()
        }
        guard case .sequence(let items) = list.kind, !items.isEmpty else {
            problems.append((list.location, "'scenarios' must be a non-empty list"))
            throw fail()
        }
        for item in items {
            guard let members = v.members(item, of: "a scenario", allowed: keys) else { continue }
            func member(_ key: String) -> YNode? { members.first { $0.key == key }?.value }
            var scenario = PolicyScenario(name: "unnamed", context: JSONObject(), location: item.location)
            if let node = member("name") { scenario.name = v.string(node, "name") ?? "unnamed" }
            if let node = member("context") {
                if case .mapping = node.kind, let json = JSONValue(python: node.value), case .object(let o) = json {
                    scenario.context = o
                } else if !node.isInvalid {
                    v.fail(node, "'context' must be a mapping of JSON values (strings as keys; no dates)")
                }
            }
            if let node = member("expected_action") {
                if case .scalar(.str(let s)) = node.kind, PolicyAction(rawValue: s) != nil {
                    scenario.expectedAction = s
                } else {
                    v.fail(
                        node,
                        "'expected_action' must be one of: \(PolicyAction.allCases.map(\.rawValue).joined(separator: ", "))"
                    )
                }
            }
            if let node = member("expected_allowed") {
                if case .scalar(.bool(let b)) = node.kind {
                    scenario.expectedAllowed = b
                } else {
                    v.fail(node, "'expected_allowed' must be true or false")
                }
            }
            if let node = member("expected_decision") {
                if case .scalar(.str(let s)) = node.kind, let o = PolicyDecision.Outcome(rawValue: s) {
                    scenario.expectedDecision = o
                } else {
                    v.fail(node, "'expected_decision' must be allow, deny or escalate")
                }
            }
            if let node = member("expected_rule") {
                switch node.kind {
                case .scalar(.none): scenario.expectedRule = .some(nil)
                case .scalar(.str(let s)): scenario.expectedRule = .some(s)
                default: v.fail(node, "'expected_rule' must be a rule name, or null for none")
                }
            }
            if !members.contains(where: { $0.key.hasPrefix("expected_") }) {
                v.fail(
                    item,
                    "scenario '\(scenario.name)' expects nothing (give expected_action, expected_allowed, expected_decision or expected_rule)"
                )
            }
            scenarios.append(scenario)
        }
        problems += v.problems
        guard problems.isEmpty else { throw fail() }
        return scenarios
    }
}

extension JSONValue {
    /// The JSON form of a Python value; nil for what JSON cannot hold (dates, non-string keys,
    /// non-finite floats).
    public init?(python value: PolicyValue) {
        switch value {
        case .none: self = .null
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(i)
        case .float(let d):
            guard d.isFinite else { return nil }
            self = .double(d)
        case .str(let s): self = .string(s)
        case .list(let items):
            var out: [JSONValue] = []
            for item in items {
                guard let j = JSONValue(python: item) else { return nil }
                out.append(j)
            }
            self = .array(out)
        case .dict(let pairs):
            var object = JSONObject()
            for pair in pairs {
                guard case .str(let key) = pair.key, let j = JSONValue(python: pair.value) else { return nil }
                object[key] = j
            }
            self = .object(object)
        case .date, .datetime: return nil
        }
    }
}
