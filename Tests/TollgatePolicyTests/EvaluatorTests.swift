import Foundation
import Testing
import TollgateJSON
@testable import TollgatePolicy

@Suite struct EvaluatorTests {
    static let seed = try! String(contentsOfFile: Paths.policies + "/approval-workflow.yaml", encoding: .utf8)

    @Test func seedDecisions() throws {
        let set = try policy(Self.seed, name: "approval-workflow.yaml")
        func decide(_ tool: String) throws -> PolicyDecision {
            set.evaluate(try context("{\"tool_name\":\"\(tool)\"}"))
        }
        let transfer = try decide("transfer_funds")
        #expect(!transfer.allowed && transfer.action == "deny" && transfer.rule == "escalate-transfer-funds")
        #expect(transfer.outcome == .escalate && transfer.escalation == EscalationSpec())
        #expect(try decide("write_file").reason == "No rules matched; default action applied")
        #expect(try decide("write_file").rule == nil)
        #expect(try decide("delete_database").outcome == .deny)
        #expect(set.maxToolCalls == 10)
        #expect(set.version.description.hasPrefix("approval-workflow-policy@1.0#"))
        #expect(set.version.description.count == "approval-workflow-policy@1.0#".count + 8)
    }

    @Test func escalationKeywordCanBeSwitchedOff() throws {
        let set = try policy(Self.seed)
        let d = set.evaluate(
            try context(#"{"tool_name":"send_email"}"#),
            options: EvaluationOptions(escalationKeyword: false)
        )
        #expect(d.outcome == .deny && d.escalation == nil && d.rule == "escalate-send-email")
    }

    @Test func keywordIsCaseInsensitiveAndAppliesToBlockAndDefaults() throws {
        let set = try policy(
            """
            rules:
              - {name: b, condition: {field: t, operator: eq, value: b}, action: block, message: "REQUIRES Human Approval!"}
              - {name: a, condition: {field: t, operator: eq, value: a}, action: audit, message: "requires human approval"}
            """
        )
        #expect(set.evaluate(try context(#"{"t":"b"}"#)).outcome == .escalate)
        // Allowed decisions never escalate, whatever the message says.
        let audit = set.evaluate(try context(#"{"t":"a"}"#))
        #expect(audit.outcome == .allow && audit.audit)
    }

    @Test func emptyMessageGivesMatchedRuleReason() throws {
        let set = try policy(
            "rules:\n  - {name: r1, condition: {field: t, operator: eq, value: x}, action: deny, message: \"\"}\n"
        )
        #expect(set.evaluate(try context(#"{"t":"x"}"#)).reason == "Matched rule 'r1'")
    }

    @Test func escalateActionAndEscalationBlocks() throws {
        let set = try policy(
            """
            rules:
              - name: big
                condition: {field: arguments.amount, operator: gte, value: 100}
                action: escalate
                escalation: {approvers: [a@x, b@x], required_approvals: 2, timeout_seconds: 60}
              - name: plain
                condition: {field: tool_name, operator: eq, value: t}
                action: escalate
            defaults:
              action: escalate
              escalation: {required_denials: 2, timeout_action: allow}
            """
        )
        let big = set.evaluate(try context(#"{"arguments":{"amount":100}}"#))
        #expect(!big.allowed && big.action == "escalate" && big.outcome == .escalate)
        #expect(
            big.escalation
                == EscalationSpec(
                    approvers: ["a@x", "b@x"],
                    requiredApprovals: 2,
                    requiredDenials: 2,
                    timeoutSeconds: 60,
                    timeoutAction: .allow
                )
        )
        let plain = set.evaluate(try context(#"{"tool_name":"t"}"#))
        #expect(plain.escalation == EscalationSpec(requiredDenials: 2, timeoutAction: .allow))
        let none = set.evaluate(try context(#"{"tool_name":"u"}"#))
        #expect(none.outcome == .escalate && none.rule == nil && none.action == "escalate")
        #expect(none.escalation == EscalationSpec(requiredDenials: 2, timeoutAction: .allow))
    }

    @Test func compoundConditionsShortCircuitLikePython() throws {
        let set = try policy(
            """
            rules:
              - name: all-stops-at-first-false
                condition:
                  all:
                    - {field: a, operator: eq, value: 2}
                    - {field: b, operator: gt, value: 1}
                action: allow
                priority: 2
              - name: any-stops-at-first-true
                condition:
                  any:
                    - {field: a, operator: eq, value: 1}
                    - {field: b, operator: gt, value: 1}
                action: deny
                priority: 1
              - name: not-missing-is-true
                condition: {not: {field: missing, operator: eq, value: 1}}
                action: audit
                priority: -1
            """
        )
        // b is a string: `b > 1` raises, but only when reached (`all` stops at a != 2).
        #expect(set.evaluate(try context(#"{"a":1,"b":"s"}"#)).rule == "any-stops-at-first-true")
        #expect(set.evaluate(try context(#"{"a":3,"b":"s"}"#)).failedClosed)
        #expect(set.evaluate(try context(#"{"a":2,"b":5}"#)).rule == "all-stops-at-first-false")
        #expect(set.evaluate(try context(#"{"a":4}"#)).rule == "not-missing-is-true")
    }

    @Test func dottedFieldsLookUpTheLiteralKeyFirst() throws {
        let set = try policy("rules:\n  - {name: r, condition: {field: a.b, operator: eq, value: 1}, action: deny}\n")
        #expect(set.evaluate(try context(#"{"a":{"b":1}}"#)).rule == "r")
        #expect(set.evaluate(try context(#"{"a.b":1}"#)).rule == "r")
        // The literal key wins even when it holds null (agent-os reads context.get("a.b")).
        #expect(set.evaluate(try context(#"{"a.b":null,"a":{"b":1}}"#)).rule == nil)
        #expect(set.evaluate(try context(#"{"a":{"c":1}}"#)).rule == nil)
        #expect(set.evaluate(try context(#"{"a":[1]}"#)).rule == nil)
    }

    @Test func noDocumentsAllow() {
        let set = PolicySet.empty
        #expect(set.version.description == "none#e3b0c442")
        let d = set.evaluate(JSONObject())
        #expect(
            d.allowed && d.action == "allow" && d.rule == nil && d.reason == "No rules matched; default action applied"
        )
    }

    @Test func defaultsComeFromTheFirstDocument() throws {
        let set = try PolicyLoader.load(sources: [
            PolicySource(path: "a.yaml", bytes: Array("name: a\ndefaults: {action: block}\n".utf8)),
            PolicySource(path: "b.yaml", bytes: Array("name: b\ndefaults: {action: allow, max_tool_calls: 3}\n".utf8)),
        ])
        let d = set.evaluate(JSONObject())
        #expect(!d.allowed && d.action == "block")
        #expect(set.maxToolCalls == nil)
        #expect(set.version.description.hasPrefix("a@1.0+b@1.0#"))
    }

    @Test func tiesKeepDocumentThenRuleOrder() throws {
        let set = try PolicyLoader.load(sources: [
            PolicySource(
                path: "a.yaml",
                bytes: Array(
                    "rules:\n  - {name: a1, condition: {field: t, operator: ne, value: z}, action: deny, priority: 5}\n"
                        .utf8
                )
            ),
            PolicySource(
                path: "b.yaml",
                bytes: Array(
                    "rules:\n  - {name: b1, condition: {field: t, operator: eq, value: x}, action: allow, priority: 5}\n  - {name: b2, condition: {field: t, operator: eq, value: x}, action: allow, priority: 6}\n"
                        .utf8
                )
            ),
        ])
        #expect(set.rulesInOrder.map(\.name) == ["b2", "a1", "b1"])
        #expect(set.evaluate(try context(#"{"t":"y"}"#)).rule == "a1")
        #expect(set.evaluate(try context(#"{"t":"x"}"#)).rule == "b2")
    }

    /// The eq index must not skip an earlier non-indexed rule, even one that raises.
    @Test func indexKeepsFirstMatchAndFailClosedSemantics() throws {
        var yaml = "rules:\n"
        for i in 0..<1000 {
            yaml +=
                "  - {name: r\(i), condition: {field: tool_name, operator: eq, value: tool-\(i)}, action: allow, priority: \(i % 10)}\n"
        }
        yaml += "  - {name: raises, condition: {field: amount, operator: gt, value: 5}, action: deny, priority: 7}\n"
        yaml +=
            "  - {name: late, condition: {field: tool_name, operator: eq, value: tool-9}, action: deny, priority: 9}\n"
        let set = try policy(yaml)
        // tool-9 (priority 9) comes before the raising rule (7): it wins, even with a bad amount.
        #expect(set.evaluate(try context(#"{"tool_name":"tool-9","amount":"x"}"#)).rule == "r9")
        // tool-3 (priority 3) comes after it: the raise is reached and fails closed.
        #expect(set.evaluate(try context(#"{"tool_name":"tool-3","amount":"x"}"#)).failedClosed)
        #expect(set.evaluate(try context(#"{"tool_name":"tool-3","amount":9}"#)).rule == "raises")
        #expect(set.evaluate(try context(#"{"tool_name":"tool-3","amount":1}"#)).rule == "r3")
        #expect(set.evaluate(try context(#"{"tool_name":"nope"}"#)).rule == nil)

        // Against a plain linear scan (no index) on many contexts.
        let linear = set.rulesInOrder.map { CompiledCondition($0.condition) }
        for i in stride(from: 0, to: 1000, by: 37) {
            for amount in ["1", "9", "\"x\"", "null"] {
                let ctx = try context("{\"tool_name\":\"tool-\(i)\",\"amount\":\(amount)}")
                var expected: String?? = .none
                for (position, condition) in linear.enumerated() {
                    do {
                        if try condition.matches(ctx) {
                            expected = .some(set.rulesInOrder[position].name)
                            break
                        }
                    } catch {
                        expected = .some(nil)
                        break
                    }
                }
                let got = set.evaluate(ctx)
                switch expected {
                case .none: #expect(got.rule == nil && !got.failedClosed)
                case .some(nil): #expect(got.failedClosed)
                case .some(let name?): #expect(got.rule == name)
                }
            }
        }
    }

    @Test func sameDecisionAsReferenceForOneThousandRulesQuickly() throws {
        var yaml = "rules:\n"
        for i in 0..<1000 {
            yaml += "  - {name: r\(i), condition: {field: tool_name, operator: eq, value: t\(i)}, action: deny}\n"
        }
        let set = try policy(yaml)
        let ctx = try context(#"{"tool_name":"t999"}"#)
        let start = ContinuousClock.now
        for _ in 0..<10_000 { precondition(set.evaluate(ctx).rule == "r999") }
        // Indexed: 10,000 decisions take milliseconds even in a debug build (a scan would not).
        #expect(ContinuousClock.now - start < .seconds(2))
    }

    @Test func policyVersionHashesTheFileBytes() throws {
        let text = "name: p\nversion: \"2.1\"\n"
        let set = try policy(text)
        // printf 'name: p\nversion: "2.1"\n' | sha256sum
        #expect(set.version.description == "p@2.1#" + set.version.sha256.prefix(8))
        #expect(set.version.sha256.count == 64)
        let other = try policy(text + "# comment\n")
        #expect(other.version != set.version)
    }

    @Test func folderLoadsYamlThenYmlSortedByName() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-folder-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (file, name) in [("b.yaml", "b"), ("a.yml", "a-yml"), ("c.yaml", "c"), ("a.yaml", "a"), ("skip.txt", "x")] {
            try "name: \(name)\n".write(to: dir.appendingPathComponent(file), atomically: true, encoding: .utf8)
        }
        let set = try PolicyLoader.load(paths: [dir.path])
        #expect(set.documents.map(\.name) == ["a", "b", "c", "a-yml"])
    }
}

@Suite struct DecisionDescriptionTests {
    @Test func describesOutcomeActionRuleAndReason() throws {
        let set = try policy(EvaluatorTests.seed)
        #expect(
            set.evaluate(try context(#"{"tool_name":"transfer_funds"}"#)).description
                == "escalate (deny, rule 'escalate-transfer-funds'): Sensitive action: transfer_funds requires human approval"
        )
        let failing = try policy("rules:\n  - {name: r, condition: {field: n, operator: gt, value: 1}, action: deny}\n")
        #expect(
            failing.evaluate(try context(#"{"n":"x"}"#)).description
                == "deny (deny, failed closed: '>' not supported between instances of 'str' and 'int'): Policy evaluation error — access denied (fail closed)"
        )
    }
}
