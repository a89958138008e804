import ArgumentParser
import Foundation
import TollgateJSON
import TollgatePolicy

/// `tollgate diff BASE TARGET`: what a policy change changes, before it ships.
public struct DiffCommand: OfflineCommand {
    public static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "What changed between two versions of a policy, and which decisions change.",
        discussion: """
            BASE and TARGET are policy files or folders (a folder stands for its *.yaml and *.yml \
            files, loaded together). Prints the documents added and removed, the rules added, \
            removed and changed field by field (condition, action, priority, message, escalation \
            settings), a change in the order rules match, and the defaults that changed. With \
            --scenarios (agent-os scenario files) or --contexts (JSON objects, one per line) it also \
            evaluates every context under both versions and lists each whose decision (allow, deny \
            or escalate, and the matched rule) changes.

            Examples:
              tollgate diff policies/v1.yaml policies/v2.yaml
              tollgate diff v1.yaml v2.yaml --scenarios tests/v1.scenarios.yaml --json

            Exit status: 0 no decision changes (or no contexts given and no change at all); 1 a \
            decision changes (or, without contexts, the policy changed); 2 a policy or context \
            file cannot be read or is invalid.
            """
    )

    @Argument(help: ArgumentHelp("The policy as it is.", valueName: "base"))
    public var base: String

    @Argument(help: ArgumentHelp("The policy as it would be.", valueName: "target"))
    public var target: String

    @Option(
        parsing: .upToNextOption,
        help: ArgumentHelp("Scenario files whose contexts to decide under both.", valueName: "file")
    )
    public var scenarios: [String] = []

    @Option(help: ArgumentHelp("A file of contexts, one JSON object per line.", valueName: "file"))
    public var contexts: String?

    @Flag(help: "One JSON object instead of text.")
    public var json = false

    @OptionGroup var policyOptions: PolicyOptions

    public init() {}

    public func execute(stdout: inout some TextOutputStream, stderr: inout some TextOutputStream) -> Int32 {
        let old: PolicySet
        let new: PolicySet
        var inputs: [(label: String, context: JSONObject)] = []
        do {
            old = try PolicyLoader.load(paths: [base], compat: policyOptions.compat)
            new = try PolicyLoader.load(paths: [target], compat: policyOptions.compat)
            for path in scenarios {
                for source in try PolicyLoader.read(paths: [path]) {
                    for scenario in try PolicyScenario.load(source) {
                        inputs.append((Self.label(scenario.name, scenario.context), scenario.context))
                    }
                }
            }
        } catch {
            print(error.description, to: &stderr)
            return 2
        }
        if let contexts {
            guard let text = try? String(contentsOfFile: contexts, encoding: .utf8) else {
                print("\(contexts): cannot be read", to: &stderr)
                return 2
            }
            for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where !line.trimmingCharacters(in: .whitespaces).isEmpty {
                guard case .object(let context)? = try? JSONValue.parse(Array(line.utf8)) else {
                    print("\(contexts):\(n + 1): not a JSON object", to: &stderr)
                    return 2
                }
                inputs.append((Self.label(nil, context, line: n + 1), context))
            }
        }
        let diff = PolicyDiff.compare(old, new, escalationKeyword: !policyOptions.noEscalationKeyword)
        let changes = PolicyDiff.decisionChanges(
            old,
            new,
            contexts: inputs,
            options: policyOptions.evaluation
        )
        if json {
            print(
                String(decoding: Self.json(diff, changes, old, new, decided: inputs.count).serialized(), as: UTF8.self),
                to: &stdout
            )
        } else {
            for line in Self.text(diff, changes, old, new, decided: inputs.count, haveContexts: !inputs.isEmpty) {
                print(line, to: &stdout)
            }
        }
        if inputs.isEmpty { return diff.isEmpty ? 0 : 1 }
        return changes.isEmpty ? 0 : 1
    }

    /// `name (tool)` for a scenario; the tool (or `line N`) for a context line.
    static func label(_ name: String?, _ context: JSONObject, line: Int? = nil) -> String {
        let tool = context["tool_name"]?.stringValue
        if let name { return tool.map { "\(name) (\($0))" } ?? name }
        return tool ?? line.map { "line \($0)" } ?? "?"
    }

    /// `rule X`, or `rule X -> rule Y` when the matched rule changed.
    static func rules(_ c: PolicyDiff.DecisionChange) -> String {
        func name(_ d: PolicyDecision) -> String { d.rule.map { "rule \($0)" } ?? "no rule (the default)" }
        return c.old.rule == c.new.rule ? name(c.old) : "\(name(c.old)) -> \(name(c.new))"
    }

    static func text(
        _ diff: PolicyDiff,
        _ changes: [PolicyDiff.DecisionChange],
        _ old: PolicySet,
        _ new: PolicySet,
        decided: Int,
        haveContexts: Bool
    ) -> [String] {
        var lines = ["policy \(old.version) -> \(new.version)"]
        if diff.isEmpty { lines.append("no change in documents, rules, order or defaults") }
        for d in diff.documentsAdded { lines.append("+ document \(d)") }
        for d in diff.documentsRemoved { lines.append("- document \(d)") }
        for d in diff.documentVersions {
            lines.append("~ document \(d.field): version \(d.old ?? "?") -> \(d.new ?? "?")")
        }
        for r in diff.rulesAdded {
            lines.append("+ rule \(r.name) (\(r.action), priority \(r.priority), in \(r.document))")
        }
        for r in diff.rulesRemoved {
            lines.append("- rule \(r.name) (\(r.action), priority \(r.priority), in \(r.document))")
        }
        for r in diff.rulesChanged {
            lines.append("~ rule \(r.name)")
            for c in r.changes { lines.append("    \(c.field): \(c.old ?? "(none)") -> \(c.new ?? "(none)")") }
        }
        if let order = diff.orderChange {
            lines.append("~ match order: \(order.old.joined(separator: ", ")) -> \(order.new.joined(separator: ", "))")
        }
        for c in diff.defaultsChanges { lines.append("~ \(c.field): \(c.old ?? "(none)") -> \(c.new ?? "(none)")") }
        if haveContexts {
            lines.append("")
            for c in changes {
                lines.append("\(c.label): \(c.old.outcome.rawValue) -> \(c.new.outcome.rawValue) (\(rules(c)))")
            }
            lines.append("\(changes.count) of \(decided) decisions change")
        }
        return lines
    }

    static func json(
        _ diff: PolicyDiff,
        _ changes: [PolicyDiff.DecisionChange],
        _ old: PolicySet,
        _ new: PolicySet,
        decided: Int
    ) -> JSONValue {
        func rule(_ r: PolicyDiff.RuleSummary) -> JSONValue {
            .object([
                "name": .string(r.name), "document": .string(r.document), "action": .string(r.action),
                "priority": .int(Int64(r.priority)),
            ])
        }
        func field(_ c: PolicyDiff.FieldChange) -> JSONValue {
            .object([
                "field": .string(c.field), "old": c.old.map(JSONValue.string) ?? .null,
                "new": c.new.map(JSONValue.string) ?? .null,
            ])
        }
        func decision(_ d: PolicyDecision) -> JSONValue {
            .object([
                "decision": .string(d.outcome.rawValue), "rule": d.rule.map(JSONValue.string) ?? .null,
                "reason": .string(d.reason),
            ])
        }
        var object: JSONObject = [
            "base": .string(old.version.description), "target": .string(new.version.description),
            "documents_added": .array(diff.documentsAdded.map(JSONValue.string)),
            "documents_removed": .array(diff.documentsRemoved.map(JSONValue.string)),
            "document_versions": .array(diff.documentVersions.map(field)),
            "rules_added": .array(diff.rulesAdded.map(rule)), "rules_removed": .array(diff.rulesRemoved.map(rule)),
            "rules_changed": .array(
                diff.rulesChanged.map { .object(["name": .string($0.name), "changes": .array($0.changes.map(field))]) }
            ),
            "defaults_changed": .array(diff.defaultsChanges.map(field)),
            "decisions_checked": .int(Int64(decided)),
            "decisions_changed": .array(
                changes.map {
                    .object(["context": .string($0.label), "old": decision($0.old), "new": decision($0.new)])
                }
            ),
        ]
        if let order = diff.orderChange {
            object["match_order"] = .object([
                "old": .array(order.old.map(JSONValue.string)), "new": .array(order.new.map(JSONValue.string)),
            ])
        } else {
            object["match_order"] = .null
        }
        return .object(object)
    }
}
