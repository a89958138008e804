import Foundation
import Testing
@testable import TollgatePolicy

/// Bad policies and the exact `file:line:column: message` lines they give; every error of a
/// file is reported, not just the first.
@Suite struct LoaderErrorTests {
    static let cases: [(String, [String])] = [
        ("", ["p.yaml:1:1: empty policy file: expected a mapping with 'name', 'version' and 'rules'"]),
        (
            "# only a comment\n",
            ["p.yaml:1:1: empty policy file: expected a mapping with 'name', 'version' and 'rules'"]
        ),
        ("- a\n- b\n", ["p.yaml:1:1: a policy document must be a mapping (got a list)"]),
        ("version: 1.0\n", [#"p.yaml:1:10: 'version' must be a string (got float 1.0); quote it: version: "1.0""#]),
        (
            "name: x\nnmae: y\n",
            [
                "p.yaml:2:1: unknown key 'nmae' in a policy document (expected one of: version, name, description, rules, defaults, inherit, scope, network_allowlist, tool_allowlist, compat)"
            ]
        ),
        ("name: a\nname: b\n", ["p.yaml:1:1: duplicate mapping key 'name'"]),
        (
            "rules: [\n",
            [
                "p.yaml:2:1: YAML syntax error: did not find expected node content (while parsing a flow node at line 2, column 1)"
            ]
        ),
        (
            "rules:\n  - name: r\n   action: deny\n",
            [
                "p.yaml:3:4: YAML syntax error: did not find expected '-' indicator (while parsing a block collection at line 2, column 3)"
            ]
        ),
        ("rules: {}\n", ["p.yaml:1:8: 'rules' must be a list of rules (got a mapping)"]),
        (
            """
            rules:
              - name: r
                condition: {field: t, operator: equals, value: x}
                action: permit
                priorty: 5
            """,
            [
                "p.yaml:3:37: unknown operator 'equals' (expected one of: eq, ne, gt, lt, gte, lte, in, not_in, matches, contains)",
                "p.yaml:4:13: unknown action 'permit' (expected one of: allow, deny, audit, block, escalate)",
                "p.yaml:5:5: unknown key 'priorty' in a rule (expected one of: name, condition, action, priority, message, override, escalation)",
            ]
        ),
        (
            """
            rules:
              - name: r
                condition: {field: t, operator: eq, value: x}
                action: deny
              - name: r
                condition: {field: t, operator: eq}
            """,
            [
                "p.yaml:5:5: rule is missing required key 'action'",
                "p.yaml:5:11: duplicate rule name 'r' (first defined at line 2)",
                "p.yaml:6:16: condition is missing required key 'value'",
            ]
        ),
        (
            "rules:\n  - {name: r, condition: {field: t, operator: matches, value: \"a(\"}, action: deny}\n",
            ["p.yaml:2:63: invalid regular expression 'a(': missing ), unterminated subpattern at position 1"]
        ),
        (
            "rules:\n  - {name: r, condition: {field: t, operator: in, value: 5}, action: deny}\n",
            ["p.yaml:2:58: operator 'in' needs a list, string or mapping value (got int 5)"]
        ),
        (
            "rules:\n  - {name: r, condition: {field: t, operator: gt, value: null}, action: deny}\n",
            ["p.yaml:2:58: operator 'gt' cannot order a context value against NoneType None"]
        ),
        (
            "rules:\n  - {name: r, condition: {field: t, operator: eq, value: x}, action: deny, priority: 1.5}\n",
            ["p.yaml:2:86: 'priority' must be an integer (got float 1.5)"]
        ),
        (
            "rules:\n  - {name: 5, condition: {field: 1, operator: eq, value: x}, action: deny}\n",
            [
                "p.yaml:2:12: 'name' must be a string (got int 5); quote it: name: \"5\"",
                "p.yaml:2:34: 'field' must be a string (got int 1); quote it: field: \"1\"",
            ]
        ),
        (
            """
            rules:
              - name: r
                condition: {field: t, operator: eq, value: x}
                action: allow
                escalation: {approvers: [a]}
            """,
            ["p.yaml:5:17: an 'escalation' block on an 'allow' rule: only deny, block and escalate rules escalate"]
        ),
        (
            """
            rules:
              - name: r
                condition: {field: t, operator: eq, value: x}
                action: escalate
                escalation: {approvers: [a, 1], required_approvals: 0, timeout_seconds: -5, timeout_action: later, quorum: 2}
            """,
            [
                "p.yaml:5:33: 'escalation.approvers' must hold only strings (got int 1)",
                "p.yaml:5:57: 'escalation.required_approvals' must be a positive integer (got 0)",
                "p.yaml:5:77: 'escalation.timeout_seconds' must be a positive integer (got -5)",
                "p.yaml:5:97: 'escalation.timeout_action' must be 'allow' or 'deny' (got str 'later')",
                "p.yaml:5:104: unknown key 'quorum' in an 'escalation' block (expected one of: approvers, required_approvals, required_denials, timeout_seconds, timeout_action, require_comment, max_grant_seconds, stages, max_pending_per_agent, max_new_per_agent, window_seconds, fatigue_threshold, fatigue_window_seconds)",
            ]
        ),
        (
            """
            rules:
              - name: r
                condition: {field: t, operator: eq, value: x}
                action: deny
                escalation: {required_approvals: 3}
            defaults:
              escalation: {approvers: [a, b]}
            """,
            ["p.yaml:5:17: required_approvals (3) is more than the 2 approvers listed"]
        ),
        (
            """
            rules:
              - name: r
                condition: {field: t, operator: eq, value: x}
                action: escalate
                escalation:
                  approvers: [a]
                  stages:
                    - {approvers: [a], required_approvals: 2}
                    - {name: c, on_timeout: later}
                    - {approvers: [b], on_timeout: {fallback: []}}
                    - {approvers: [b], on_timeout: {escalate: [c]}}
              - name: s
                condition: {field: t, operator: eq, value: y}
                action: escalate
                escalation: {stages: []}
            """,
            [
                "p.yaml:6:7: 'escalation.stages' replaces approvers, required_approvals, required_denials, timeout_seconds and timeout_action: give them per stage (one deny in any stage ends the request)",
                "p.yaml:8:11: stage 1 of 'escalation.stages': required_approvals (2) is more than the 1 approvers listed",
                "p.yaml:9:11: stage 2 of 'escalation.stages' needs approvers (a stage of anyone but the agent would not add a person)",
                "p.yaml:9:33: 'stages.on_timeout' must be deny, allow or {fallback: [approvers]} (got str 'later')",
                "p.yaml:10:51: 'stages.on_timeout.fallback' must name at least one approver",
                "p.yaml:11:40: 'stages.on_timeout' must be deny, allow or {fallback: [approvers]}",
                "p.yaml:11:41: unknown key 'escalate' in 'stages.on_timeout' (expected one of: fallback)",
                "p.yaml:15:26: 'escalation.stages' must be a non-empty list of stages (got an empty list)",
            ]
        ),
        (
            """
            rules:
              - name: r
                condition: {field: t, operator: eq, value: x}
                action: escalate
                escalation: {max_grant_seconds: -1}
              - name: s
                condition: {field: t, operator: eq, value: y}
                action: escalate
                escalation: {max_grant_seconds: 1h}
            """,
            [
                "p.yaml:5:37: 'escalation.max_grant_seconds' must be a whole number of seconds, 0 or more (got int -1)",
                "p.yaml:9:37: 'escalation.max_grant_seconds' must be a whole number of seconds, 0 or more (got str '1h')",
            ]
        ),
        (
            """
            rules:
              - name: r
                condition:
                  all: []
                action: deny
              - name: s
                condition: {not: {field: a, operator: eq, value: 1}, field: b}
                action: deny
            """,
            [
                "p.yaml:4:12: 'all' takes a non-empty list of conditions (got an empty list)",
                "p.yaml:7:16: a 'not' condition must be the only key of its mapping",
            ]
        ),
        (
            "defaults: {action: allow, max_tool_calls: many, network_default: open}\n",
            [
                "p.yaml:1:43: 'defaults.max_tool_calls' must be an integer (got str 'many')",
                "p.yaml:1:66: 'defaults.network_default' must be 'allow' or 'deny' (got str 'open')",
            ]
        ),
        (
            "inherit: maybe\ntool_allowlist: [a, 2]\n",
            [
                "p.yaml:1:10: 'inherit' must be a boolean (got str 'maybe')",
                "p.yaml:2:21: 'tool_allowlist' must hold only strings (got int 2)",
            ]
        ),
        ("name: 2024-02-30\n", ["p.yaml:1:7: invalid date '2024-02-30'"]),
        (
            "a: &x [1]\nrules: *x\nname: [\n",
            [
                "p.yaml:4:1: YAML syntax error: did not find expected node content (while parsing a flow node at line 4, column 1)"
            ]
        ),
        (
            "name: \"\\ud83d\\ude00\"\n",
            [
                "p.yaml:1:10: YAML syntax error: found invalid Unicode character escape code (while parsing a quoted scalar at line 1, column 7)"
            ]
        ),
    ]

    @Test(arguments: cases)
    func errorsNameFileLineAndColumn(_ yaml: String, _ expected: [String]) {
        #expect(diagnostics(yaml) == expected)
    }

    @Test func laxValuesAgentOSAccepts() throws {
        let set = try policy(
            """
            version: "1.0"
            inherit: "yes"
            rules:
              - {name: a, condition: {field: t, operator: eq, value: a}, action: deny, priority: "7", override: 1}
              - {name: b, condition: {field: t, operator: eq, value: b}, action: deny, priority: 8.0}
              - {name: c, condition: {field: t, operator: eq, value: c}, action: deny, priority: " 1_000 "}
              - {name: d, condition: {field: t, operator: eq, value: null}, action: deny, priority: true}
            defaults: {action: allow, max_tokens: "5", confidence_threshold: "0.5", max_cpu: null, timeout_seconds: 30.0}
            """
        )
        #expect(set.rulesInOrder.map(\.priority) == [1000, 8, 7, 1])
        #expect(set.documents[0].defaults.maxTokens == 5)
        #expect(set.documents[0].defaults.confidenceThreshold == 0.5)
    }

    @Test func mergeKeysWorkAsInPyYAML() throws {
        let set = try policy(
            """
            rules:
              - &base {name: a, condition: {field: t, operator: eq, value: x}, action: deny, priority: 1}
              - <<: *base
                name: b
                priority: 2
            """
        )
        #expect(set.rulesInOrder.map(\.name) == ["b", "a"])
    }

    @Test func unreadablePaths() {
        do {
            _ = try PolicyLoader.load(paths: ["/nonexistent/policy.yaml"])
            Issue.record("loaded a missing file")
        } catch {
            #expect(error.kind == .unreadable)
            #expect(error.description == "/nonexistent/policy.yaml: no such file or directory")
        }
    }

    @Test func invalidUTF8IsReportedWithItsPosition() {
        let bytes: [UInt8] = Array("name: ok\ndescription: ".utf8) + [0xFF] + Array("\n".utf8)
        switch PolicyLoader.parse(PolicySource(path: "p.yaml", bytes: bytes)) {
        case .success: Issue.record("accepted invalid UTF-8")
        case .failure(let error): #expect(error.description == "p.yaml:2:14: the file is not valid UTF-8 (byte 22)")
        }
    }

    @Test func hostileNestingIsRefusedWithoutCrashing() {
        let deep = "name: " + String(repeating: "[", count: 50_000)
        #expect(diagnostics(deep) == ["p.yaml:1:207: YAML nested more than 200 levels deep"])
    }

    @Test func aliasBombIsRefused() {
        var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...9 {
            yaml += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        let start = ContinuousClock.now
        let problems = diagnostics(yaml)
        #expect(problems.contains { $0.hasSuffix("YAML expands to more than 1000000 nodes (nested aliases?)") })
        #expect(ContinuousClock.now - start < .seconds(20))
    }

    /// YAML ends a line at a lone CR too (and at NEL, LS, PS): a diagnostic's line counts those,
    /// and `PolicySource.lineCount` counts lines the same way (found by the policy fuzz target,
    /// whose check counted only LF and took line 85 of a 15-line file for a line past the end).
    @Test func linesEndWhereYAMLEndsThem() throws {
        let yaml = "name: x\r\rrules: [\r\n"
        let source = PolicySource(path: "p.yaml", bytes: Array(yaml.utf8))
        #expect(source.lineCount == 4)
        #expect(diagnostics(yaml).first?.hasPrefix("p.yaml:4:1: YAML syntax error") == true)
        #expect(PolicySource(path: "p", bytes: Array("a\u{85}b\u{2028}c\u{2029}d\r\ne".utf8)).lineCount == 5)
        #expect(PolicySource(path: "p", bytes: []).lineCount == 1)
    }

    @Test func garbageNeverCrashesTheLoader() {
        var rng = SystemRandomNumberGenerator()
        let pieces = [
            "rules:", "\n", "  - ", "name: r", "condition:", "{", "}", "[", "]", ": ", "field: t", "operator: eq",
            "value: ", "&a ", "*a", "<<: ", "!!int ", "\"", "'", "#", "\t", "yes", "0x", "action: deny", "-", ",", "|",
            ">", "?",
        ]
        for _ in 0..<500 {
            let text = (0..<Int.random(in: 1..<30, using: &rng)).map { _ in pieces.randomElement(using: &rng) ?? "" }
                .joined()
            _ = diagnostics(text)
        }
    }
}
