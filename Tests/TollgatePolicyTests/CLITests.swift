import Foundation
import Testing
@testable import TollgateCLI
import TollgateJSON
import TollgatePolicy

/// Runs a subcommand in-process.
func cli<C: OfflineCommand>(_ type: C.Type, _ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
    let command = try type.parse(arguments)
    var out = ""
    var err = ""
    let status = command.execute(stdout: &out, stderr: &err)
    return (status, out, err)
}

func temporaryFile(_ contents: String, suffix: String = ".jsonl") throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-\(UUID().uuidString)\(suffix)")
        .path
    try contents.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

@Suite struct CheckCommandTests {
    static let seedPolicy = Paths.policies + "/approval-workflow.yaml"

    @Test func printsTheSeedChaptersTable() throws {
        let result = try cli(
            CheckCommand.self,
            [
                "--policy", Self.seedPolicy, "--tool", "search_documents", "--tool", "write_file", "--tool",
                "delete_database",
                "--tool", "transfer_funds", "--tool", "send_email",
            ]
        )
        #expect(result.status == 0)
        // Lines copied from the tutorial chapter's example output.
        #expect(
            result.out == """
                  Tool                   Decision       Reason
                  -------------------------------------------------------
                  search_documents       ✅ allow     Safe action: searching documents is always allowed
                  write_file             ✅ allow     No rules matched; default action applied
                  delete_database        🚫 deny      Destructive action: deleting databases is never allowed
                  transfer_funds         ⏳ escalate  Sensitive action: transfer_funds requires human approval
                  send_email             ⏳ escalate  Sensitive action: send_email requires human approval

                """
        )
    }

    @Test func jsonOutput() throws {
        let result = try cli(CheckCommand.self, ["--policy", Self.seedPolicy, "--tool", "transfer_funds", "--json"])
        let value = try JSONValue.parse(result.out)
        #expect(value["decision"] == "escalate" && value["allowed"] == false && value["action"] == "deny")
        #expect(value["rule"] == "escalate-transfer-funds")
        #expect(value["policy_version"]?.stringValue?.hasPrefix("approval-workflow-policy@1.0#") == true)
        #expect(value.objectValue?.keys == ["allowed", "action", "rule", "reason", "decision", "policy_version"])
        let off = try cli(
            CheckCommand.self,
            ["--policy", Self.seedPolicy, "--tool", "transfer_funds", "--json", "--no-escalation-keyword"]
        )
        #expect(try JSONValue.parse(off.out)["decision"] == "deny")
    }

    @Test func fieldsAreJSONWhenTheyParseAndBuildNestedObjects() throws {
        let result = try cli(
            CheckCommand.self,
            [
                "--policy", Paths.policies + "/examples/payments.yaml", "--tool", "transfer_funds", "--field",
                "arguments.amount=25000",
                "--field", "arguments.to=vendor-1", "--json",
            ]
        )
        #expect(try JSONValue.parse(result.out)["rule"] == "escalate-large-transfer")
        let text = try cli(
            CheckCommand.self,
            [
                "--policy", Paths.policies + "/examples/payments.yaml", "--tool", "transfer_funds", "--field",
                "arguments.amount=\"25000\"", "--json",
            ]
        )
        // A JSON string "25000" compared with 10000 raises in Python: fail closed.
        #expect(try JSONValue.parse(text.out)["reason"] == "Policy evaluation error — access denied (fail closed)")
        var object = JSONObject()
        #expect(CheckCommand.apply(field: "a.b=1", to: &object) == nil)
        #expect(CheckCommand.apply(field: "a.c=x y", to: &object) == nil)
        #expect(JSONValue.object(object).serializedString() == #"{"a":{"b":1,"c":"x y"}}"#)
        #expect(
            CheckCommand.apply(field: "a.b.c=1", to: &object) == "'b' is already set to a value that is not an object"
        )
        #expect(CheckCommand.apply(field: "novalue", to: &object) == "expected KEY=VALUE")
    }

    @Test func contextOption() throws {
        let result = try cli(
            CheckCommand.self,
            ["--policy", Self.seedPolicy, "--context", #"{"tool_name":"delete_database"}"#, "--json"]
        )
        #expect(try JSONValue.parse(result.out)["rule"] == "block-delete-database")
        let bad = try cli(CheckCommand.self, ["--policy", Self.seedPolicy, "--context", "{nope"])
        #expect(bad.status == 2 && bad.err == "error: --context: expected a string key in object at byte 1\n")
        let notObject = try cli(CheckCommand.self, ["--policy", Self.seedPolicy, "--context", "[1]"])
        #expect(notObject.status == 2 && notObject.err == "error: --context: not a JSON object\n")
    }

    @Test func batchInputStreamsOneLinePerLine() throws {
        let input = try temporaryFile(
            """
            {"tool_name":"search_documents"}
            not json
            [1,2]

            {"tool_name":"send_email","agent_id":"a"}\r
            {"a":1,}
            {"tool_name":"delete_database"}
            """
        )
        defer { try? FileManager.default.removeItem(atPath: input) }
        let result = try cli(CheckCommand.self, ["--policy", Self.seedPolicy, "--input", input])
        #expect(result.status == 1)
        let lines = result.out.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.count == 7 && lines.last == "")
        #expect(try JSONValue.parse(lines[0])["decision"] == "allow")
        #expect(lines[1] == #"{"line":2,"error":"invalid JSON: unexpected 'o' at byte 1"}"#)
        #expect(lines[2] == #"{"line":3,"error":"not a JSON object"}"#)
        #expect(try JSONValue.parse(lines[3])["decision"] == "escalate")
        #expect(lines[4] == #"{"line":6,"error":"invalid JSON: trailing comma at byte 7"}"#)
        let last = try JSONValue.parse(lines[5])
        #expect(last["rule"] == "block-delete-database" && last["allowed"] == false)
        #expect(last.objectValue?.keys == ["allowed", "action", "rule", "reason", "decision", "policy_version"])
    }

    @Test func toolCallsSeeTheirContextKeysAtTopLevel() throws {
        let policy = try temporaryFile(
            """
            rules:
              - {name: prod, condition: {field: environment, operator: eq, value: production}, action: deny}
              - {name: big, condition: {field: arguments.amount, operator: gt, value: 100}, action: escalate, priority: 5}
            """,
            suffix: ".yaml"
        )
        defer { try? FileManager.default.removeItem(atPath: policy) }
        let input = try temporaryFile(
            """
            {"agent_id":"a","tool_name":"t","arguments":{"amount":5},"context":{"environment":"production"}}
            {"agent_id":"a","tool_name":"t","arguments":{"amount":500},"context":{"environment":"production"}}
            {"agent_id":"a","tool_name":"t","context":{"environment":"dev","tool_name":"spoof"}}
            """
        )
        defer { try? FileManager.default.removeItem(atPath: input) }
        let result = try cli(CheckCommand.self, ["--policy", policy, "--input", input, "--tool-calls"])
        let rules = try result.out.split(separator: "\n").map { try JSONValue.parse($0)["rule"] }
        #expect(rules == [.string("prod"), .string("big"), .null])
        let context = PolicyContext.forToolCall(
            try #require(try JSONValue.parse(#"{"tool_name":"t","context":{"tool_name":"spoof","x":1}}"#).objectValue)
        )
        #expect(JSONValue.object(context).serializedString() == #"{"tool_name":"t","x":1}"#)
        // Without --tool-calls the line is the context itself: "environment" is not at the top.
        let raw = try cli(CheckCommand.self, ["--policy", policy, "--input", input])
        #expect(
            try raw.out.split(separator: "\n").map { try JSONValue.parse($0)["rule"] } == [
                .null, .string("big"), .null,
            ]
        )
    }

    @Test func overlongLineIsReportedOnceAndSkipped() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-long-\(UUID().uuidString)")
            .path
        var data = Data("{\"tool_name\":\"".utf8)
        data.append(Data(repeating: UInt8(ascii: "x"), count: 17 << 20))
        data.append(Data("\"}\n{\"tool_name\":\"send_email\"}\n".utf8))
        try data.write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try cli(CheckCommand.self, ["--policy", Self.seedPolicy, "--input", path])
        #expect(result.status == 1)
        let lines = result.out.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.first == #"{"line":1,"error":"line longer than 16777216 bytes"}"#)
        #expect(try JSONValue.parse(lines[1])["decision"] == "escalate")
    }

    @Test func batchOfManyLinesIsComplete() throws {
        let tools = ["search_documents", "write_file", "delete_database", "transfer_funds", "send_email"]
        let count = 20_000
        let input = try temporaryFile(
            (0..<count).map { "{\"tool_name\":\"\(tools[$0 % 5])\",\"n\":\($0)}" }.joined(separator: "\n")
        )
        defer { try? FileManager.default.removeItem(atPath: input) }
        let result = try cli(CheckCommand.self, ["--policy", Self.seedPolicy, "--input", input])
        #expect(result.status == 0)
        let lines = result.out.split(separator: "\n")
        #expect(lines.count == count)
        #expect(try JSONValue.parse(lines[count - 1])["decision"] == "escalate")
    }

    @Test func binaryGarbageInputDoesNotCrash() throws {
        var bytes: [UInt8] = []
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<50_000 { bytes.append(UInt8.random(in: 0...255, using: &rng)) }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "tollgate-garbage-\(UUID().uuidString)"
        ).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try cli(CheckCommand.self, ["--policy", Self.seedPolicy, "--input", path])
        #expect(result.status == 1)
        for line in result.out.split(separator: "\n") {
            #expect(try JSONValue.parse(line)["error"] != nil)
        }
    }

    @Test func invalidPolicyExitsTwoWithEveryError() throws {
        let policy = try temporaryFile("version: 1.0\nrules:\n  - name: r\n", suffix: ".yaml")
        defer { try? FileManager.default.removeItem(atPath: policy) }
        let result = try cli(CheckCommand.self, ["--policy", policy, "--tool", "x"])
        #expect(result.status == 2)
        #expect(
            result.err == """
                \(policy):1:10: 'version' must be a string (got float 1.0); quote it: version: "1.0"
                \(policy):3:5: rule is missing required key 'condition'
                \(policy):3:5: rule is missing required key 'action'

                """
        )
        let missing = try cli(CheckCommand.self, ["--policy", "/nonexistent.yaml", "--tool", "x"])
        #expect(missing.status == 2 && missing.err == "/nonexistent.yaml: no such file or directory\n")
        let unopenable = try cli(CheckCommand.self, ["--policy", Self.seedPolicy, "--input", "/nonexistent.jsonl"])
        #expect(unopenable.status == 2)
        let nothing = try cli(CheckCommand.self, ["--policy", Self.seedPolicy])
        #expect(nothing.status == 2)
    }
}

@Suite struct ValidateAndTestCommandTests {
    @Test func validateStatuses() throws {
        let good = try cli(ValidateCommand.self, [Paths.policies + "/approval-workflow.yaml"])
        #expect(good.status == 0 && good.out == Paths.policies + "/approval-workflow.yaml: OK\n")
        let bad = try temporaryFile("rules: [\n", suffix: ".yaml")
        defer { try? FileManager.default.removeItem(atPath: bad) }
        let invalid = try cli(ValidateCommand.self, [Paths.policies + "/approval-workflow.yaml", bad])
        #expect(invalid.status == 1)
        #expect(
            invalid.out.hasSuffix(
                "\(bad):2:1: YAML syntax error: did not find expected node content (while parsing a flow node at line 2, column 1)\n"
            )
        )
        let missing = try cli(ValidateCommand.self, [bad, "/nonexistent.yaml"])
        #expect(missing.status == 2)
    }

    @Test("--strict refuses a stage that approves itself on timeout; without it the file is valid")
    func validateStrict() throws {
        let policy = try temporaryFile(
            """
            version: "1.0"
            name: staged
            rules:
              - name: post
                condition: {field: tool_name, operator: eq, value: publish_post}
                action: escalate
                escalation:
                  stages:
                    - {name: editor, approvers: [editor@corp.com], on_timeout: allow}
                    - {name: legal, approvers: [legal@corp.com]}
            defaults: {action: deny}
            """,
            suffix: ".yaml"
        )
        defer { try? FileManager.default.removeItem(atPath: policy) }
        let lax = try cli(ValidateCommand.self, [policy])
        #expect(lax.status == 0 && lax.out == "\(policy): OK\n")
        let strict = try cli(ValidateCommand.self, ["--strict", policy])
        #expect(strict.status == 1)
        #expect(
            strict.out
                == "\(policy):9:68: stage 1 of 'escalation.stages' approves itself when nobody answers (on_timeout: allow): an unanswered request should not silently become an approval (--strict)\n"
        )
        let good = try cli(ValidateCommand.self, ["--strict", Paths.policies + "/approval-workflow.yaml"])
        #expect(good.status == 0)
    }

    @Test func failingScenariosAreListed() throws {
        let scenarios = try temporaryFile(
            """
            scenarios:
              - name: right
                context: {tool_name: delete_database}
                expected_action: deny
              - name: wrong-action
                context: {tool_name: send_email}
                expected_action: allow
              - name: wrong-decision-and-rule
                context: {tool_name: send_email}
                expected_decision: deny
                expected_rule: null
              - name: wrong-allowed
                context: {tool_name: search_documents}
                expected_allowed: false
            """,
            suffix: ".yaml"
        )
        defer { try? FileManager.default.removeItem(atPath: scenarios) }
        let result = try cli(TestCommand.self, [Paths.policies + "/approval-workflow.yaml", scenarios])
        #expect(result.status == 1)
        #expect(
            result.out == """
                FAIL: wrong-action: expected allow, got deny
                FAIL: wrong-decision-and-rule: expected decision deny, got escalate
                FAIL: wrong-decision-and-rule: expected no rule, got rule 'escalate-send-email'
                FAIL: wrong-allowed: expected allowed=false, got allowed=true
                1/4 scenarios passed

                """
        )
        let keywordOff = try cli(
            TestCommand.self,
            [Paths.policies + "/approval-workflow.yaml", scenarios, "--no-escalation-keyword"]
        )
        #expect(keywordOff.out.contains("FAIL: wrong-decision-and-rule: expected no rule"))
        #expect(!keywordOff.out.contains("expected decision deny"))
    }

    @Test func unreadableOrInvalidScenarioFilesExitTwo() throws {
        let missing = try cli(TestCommand.self, [Paths.policies + "/approval-workflow.yaml", "/nonexistent.yaml"])
        #expect(missing.status == 2)
        let invalid = try temporaryFile(
            "scenarios:\n  - name: x\n    context: {tool_name: a}\n    expect_action: deny\n",
            suffix: ".yaml"
        )
        defer { try? FileManager.default.removeItem(atPath: invalid) }
        let result = try cli(TestCommand.self, [Paths.policies + "/approval-workflow.yaml", invalid])
        #expect(result.status == 2)
        #expect(result.err.contains(":4:5: unknown key 'expect_action' in a scenario"))
        #expect(result.err.contains(":2:5: scenario 'x' expects nothing"))
        let onlyOne = try cli(TestCommand.self, [Paths.policies + "/approval-workflow.yaml"])
        #expect(onlyOne.status == 2)
    }
}

/// The built `tollgate` binary, when it sits beside the test bundle (a cheap end-to-end check).
@Suite struct BinaryTests {
    static let binary: String? = {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [
            dir.appendingPathComponent("tollgate").path,
            dir.deletingLastPathComponent().appendingPathComponent("tollgate").path,
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    @Test(.enabled(if: binary != nil))
    func stdinBatchAndExitCodes() throws {
        let binary = try #require(Self.binary)
        let result = try run(
            binary,
            ["check", "--policy", Paths.policies + "/approval-workflow.yaml", "--input", "-"],
            stdin: "{\"tool_name\":\"send_email\"}\n{\"tool_name\":\"search_documents\"}\n"
        )
        #expect(result.status == 0)
        #expect(result.out.split(separator: "\n").count == 2)
        let help = try run(binary, ["check", "--help"])
        #expect(help.status == 0 && help.out.contains("Exit status"))
        let bad = try run(binary, ["validate", "/nonexistent.yaml"])
        #expect(bad.status == 2)
    }
}
