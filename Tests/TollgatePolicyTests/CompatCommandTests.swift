import Foundation
import Testing
@testable import TollgateCLI
import TollgatePolicy

/// The two agent-os generations on the command line and in the file, and manifests of the
/// toolkit's newer format refused.
@Suite struct CompatCommandTests {
    /// No `defaults.action`: agent-os 3.7 allows what no rule matches, agent-os 5 denies it.
    static let withoutDefaultsAction = """
        version: "1.0"
        name: no-default
        rules:
          - name: block-delete
            condition: {field: tool_name, operator: eq, value: delete_database}
            action: deny
            message: "never"
        """

    @Test func checkFollowsTheGenerationAsked() throws {
        let path = try temporaryFile(Self.withoutDefaultsAction, suffix: ".yaml")
        let old = try cli(CheckCommand.self, ["--policy", path, "--tool", "search_documents", "--json"])
        #expect(old.out.contains(#""decision":"allow""#), "\(old.out)")
        let new = try cli(
            CheckCommand.self,
            ["--policy", path, "--tool", "search_documents", "--json", "--compat", "agent-os-5"]
        )
        #expect(new.out.contains(#""decision":"deny""#), "\(new.out)")
        #expect(new.out.contains("No rules matched; default action applied"))
        // A written defaults.action is the same in both.
        let written = try temporaryFile(Self.withoutDefaultsAction + "\ndefaults: {action: allow}\n", suffix: ".yaml")
        let both = try cli(
            CheckCommand.self,
            ["--policy", written, "--tool", "search_documents", "--json", "--compat", "agent-os-5"]
        )
        #expect(both.out.contains(#""decision":"allow""#))
        #expect(throws: (any Error).self) { try CheckCommand.parse(["--policy", path, "--compat", "agent-os-4"]) }
    }

    @Test func thePolicyCanSayItItselfAndAFlagMayNotContradictIt() throws {
        let path = try temporaryFile("compat: agent-os-5\n" + Self.withoutDefaultsAction, suffix: ".yaml")
        let set = try PolicyLoader.load(paths: [path])
        #expect(set.compat == .agentOS5)
        #expect(set.evaluate(try context(#"{"tool_name": "x"}"#)).outcome == .deny)
        let contradicted = try cli(CheckCommand.self, ["--policy", path, "--tool", "x", "--compat", "agent-os-3.7"])
        #expect(contradicted.status == 2)
        #expect(
            contradicted.err.contains(
                ":1:9: the policy says compat: agent-os-5 and --compat says agent-os-3.7: give one"
            )
        )
        #expect(
            diagnostics("version: \"1.0\"\nname: p\ncompat: agent-os-6\n") == [
                "p.yaml:3:9: 'compat' must be 'agent-os-3.7' or 'agent-os-5' (got str 'agent-os-6')"
            ]
        )
        // Read from the first document only.
        let second = try temporaryFile("compat: agent-os-5\nversion: \"1.0\"\nname: second\n", suffix: ".yaml")
        let plain = try temporaryFile(Self.withoutDefaultsAction, suffix: ".yaml")
        #expect(throws: PolicyLoadError.self) { try PolicyLoader.load(paths: [plain, second]) }
    }

    @Test func testAndDiffTakeTheFlag() throws {
        let policy = try temporaryFile(Self.withoutDefaultsAction, suffix: ".yaml")
        let scenarios = try temporaryFile(
            """
            scenarios:
              - name: search
                context: {tool_name: search_documents}
                expected_allowed: false
                expected_decision: deny
            """,
            suffix: ".yaml"
        )
        #expect(try cli(TestCommand.self, [policy, scenarios]).status == 1)
        #expect(try cli(TestCommand.self, [policy, scenarios, "--compat", "agent-os-5"]).status == 0)
        // The same file under both generations changes nothing; the flag applies to both sides.
        let diff = try cli(DiffCommand.self, [policy, policy, "--scenarios", scenarios, "--compat", "agent-os-5"])
        #expect(diff.status == 0, "\(diff.out)")
        // Adding `compat: agent-os-5` to a file is a change that diff shows by its decisions.
        let moved = try temporaryFile("compat: agent-os-5\n" + Self.withoutDefaultsAction, suffix: ".yaml")
        let change = try cli(DiffCommand.self, [policy, moved, "--scenarios", scenarios])
        #expect(change.status == 1)
        #expect(change.out.contains("search (search_documents): allow -> deny"), "\(change.out)")
    }

    @Test func validateWarnsWhereTheGenerationsDiffer() throws {
        let path = try temporaryFile(Self.withoutDefaultsAction, suffix: ".yaml")
        let result = try cli(ValidateCommand.self, [path])
        #expect(result.status == 0)
        #expect(
            result.out.contains(
                "\(path): warning: allows everything unmatched only because `defaults.action` is absent; agent-os 5 denies"
            ),
            "\(result.out)"
        )
        #expect(result.out.contains("\(path): OK"))
        #expect(!(try cli(ValidateCommand.self, [path, "--compat", "agent-os-5"]).out.contains("warning")))
        let seed = Paths.policies + "/approval-workflow.yaml"
        #expect(!(try cli(ValidateCommand.self, [seed]).out.contains("warning")))
    }

    @Test func validateChecksAFoldersFilesTogetherAndDiffNamesTheGeneration() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try (Self.withoutDefaultsAction + "\ndefaults: {action: deny}\n").write(
            toFile: folder + "/a.yaml",
            atomically: true,
            encoding: .utf8
        )
        try "compat: agent-os-5\nversion: \"1.0\"\nname: b\n".write(
            toFile: folder + "/b.yaml",
            atomically: true,
            encoding: .utf8
        )
        let result = try cli(ValidateCommand.self, [folder])
        #expect(result.status == 1)
        #expect(result.out.contains("/b.yaml:1:9: 'compat' is read from the first document only"), "\(result.out)")

        let plain = try temporaryFile(Self.withoutDefaultsAction, suffix: ".yaml")
        let five = try temporaryFile("compat: agent-os-5\n" + Self.withoutDefaultsAction, suffix: ".yaml")
        let diff = try cli(DiffCommand.self, [plain, five])
        #expect(diff.out.contains("compat: agent-os-3.7 -> agent-os-5"), "\(diff.out)")
        #expect(diff.out.contains("defaults.action: allow -> deny"), "\(diff.out)")
    }

    @Test func anAgentControlSpecificationManifestIsRefusedNotLoadedEmpty() throws {
        let manifest = """
            agent_control_specification_version: "0.3.0-alpha-agt"
            metadata: {name: minimal}
            policies:
              minimal: {type: rego, bundle: ./bundle, query: data.minimal.verdict}
            intervention_points:
              pre_tool_call:
                policy_target: $.tool_call.args
                policy_target_kind: tool_args
                policy: {id: minimal}
            """
        let expected =
            "p.yaml:1:1: this is an Agent Control Specification manifest (agent_control_specification_version: 0.3.0-alpha-agt), the Agent Governance Toolkit's newer format; Tollgate reads agent-os policy documents (version, name, rules, defaults) and does not read ACS manifests yet"
        #expect(diagnostics(manifest) == [expected])
        let path = try temporaryFile(manifest, suffix: ".yaml")
        let check = try cli(CheckCommand.self, ["--policy", path, "--tool", "delete_database"])
        #expect(check.status == 2)
        #expect(check.err.contains("Agent Control Specification manifest"))
    }
}
