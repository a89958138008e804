// `tollgate diff BASE TARGET`: the structural changes of a policy and the decisions they change,
// as text and JSON, with exit statuses CI can act on.
import Foundation
import Testing
import TollgateJSON

@testable import TollgateCLI

@Suite struct DiffCommandTests {
    static let seed = Paths.policies + "/approval-workflow.yaml"

    @Test("the seed's warning: dropping 'requires human approval' shows as transfer_funds: escalate -> deny")
    func seedWarning() throws {
        let edited = try temporaryFile(
            try String(contentsOfFile: Self.seed, encoding: .utf8).replacingOccurrences(
                of: "transfer_funds requires human approval",
                with: "transfer_funds needs a look"
            ),
            suffix: ".yaml"
        )
        defer { try? FileManager.default.removeItem(atPath: edited) }
        let contexts = try temporaryFile(
            #"{"tool_name": "transfer_funds"}"# + "\n" + #"{"tool_name": "search_documents"}"# + "\n"
        )
        defer { try? FileManager.default.removeItem(atPath: contexts) }
        let result = try cli(DiffCommand.self, [Self.seed, edited, "--contexts", contexts])
        #expect(result.status == 1)
        #expect(
            result.out.contains("~ rule escalate-transfer-funds\n    routes to: escalate -> deny\n"),
            "\(result.out)"
        )
        #expect(
            result.out.contains("\ntransfer_funds: escalate -> deny (rule escalate-transfer-funds)\n"),
            "\(result.out)"
        )
        #expect(result.out.hasSuffix("1 of 2 decisions change\n"))
        #expect(!result.out.contains("escalate-send-email"), "only the edited rule changed")
    }

    @Test("the tutorial's v1 and v2: versions, messages, a priority that reorders matching; JSON for CI")
    func tutorialVersions() throws {
        let v1 = Paths.tutorial + "/07_policy_v1.yaml"
        let v2 = Paths.tutorial + "/07_policy_v2.yaml"
        let contexts = try temporaryFile(
            ["transfer_funds", "send_email", "write_file", "search_documents", "delete_database"]
                .map { #"{"tool_name": "\#($0)"}"# }.joined(separator: "\n")
        )
        defer { try? FileManager.default.removeItem(atPath: contexts) }
        let text = try cli(DiffCommand.self, [v1, v2])
        #expect(text.status == 1, "the policy changed")
        #expect(text.out.contains("~ document production-policy: version 1.0 -> 2.0"))
        #expect(text.out.contains("~ rule block-write-file\n    priority: 70 -> 95"))
        #expect(text.out.contains("~ match order: "))
        let result = try cli(DiffCommand.self, [v1, v2, "--contexts", contexts, "--json"])
        #expect(result.status == 1)
        let json = try JSONValue.parse(Array(result.out.utf8))
        let changed = json["rules_changed"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        #expect(Set(changed) == ["escalate-transfer-funds", "escalate-send-email", "block-write-file"], "\(changed)")
        let decisions = json["decisions_changed"]?.arrayValue ?? []
        let byTool = Dictionary(
            uniqueKeysWithValues: decisions.compactMap { d in d["context"]?.stringValue.map { ($0, d) } }
        )
        #expect(byTool["transfer_funds"]?["old"]?["decision"]?.stringValue == "escalate")
        #expect(byTool["transfer_funds"]?["new"]?["decision"]?.stringValue == "deny")
        #expect(byTool["send_email"]?["new"]?["decision"]?.stringValue == "deny")
        #expect(byTool["search_documents"] == nil && byTool["delete_database"] == nil)
        #expect(json["decisions_checked"]?.intValue == 5)
        #expect(json["match_order"]?["new"]?.arrayValue?.count == 5)
    }

    @Test("no change: exit 0; scenario files as contexts; unreadable input: exit 2")
    func statuses() throws {
        let same = try cli(DiffCommand.self, [Self.seed, Self.seed])
        #expect(same.status == 0 && same.out.contains("no change in documents, rules, order or defaults"))
        let scenarios = Paths.policies + "/tests/approval-workflow.scenarios.yaml"
        let checked = try cli(DiffCommand.self, [Self.seed, Self.seed, "--scenarios", scenarios])
        #expect(checked.status == 0)
        #expect(
            checked.out.range(of: #"0 of \d+ decisions change"#, options: .regularExpression) != nil,
            "\(checked.out)"
        )
        let missing = try cli(DiffCommand.self, [Self.seed, "/nonexistent.yaml"])
        #expect(missing.status == 2 && missing.err.contains("/nonexistent.yaml"))
        let bad = try temporaryFile("not json\n")
        defer { try? FileManager.default.removeItem(atPath: bad) }
        let badContexts = try cli(DiffCommand.self, [Self.seed, Self.seed, "--contexts", bad])
        #expect(badContexts.status == 2 && badContexts.err.contains(":1: not a JSON object"))
    }
}
