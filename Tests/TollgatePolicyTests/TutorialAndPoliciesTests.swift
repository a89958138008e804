import Foundation
import Testing
@testable import TollgateCLI
@testable import TollgatePolicy

/// Runs `tollgate test` in-process and returns its status and output.
func runTest(_ paths: [String]) throws -> (status: Int32, out: String, err: String) {
    try cli(TestCommand.self, paths)
}

@Suite struct TutorialTests {
    static let policyFiles = [
        "01_first_policy", "02_admin_policy", "02_reader_policy", "03_rate_limit_policy", "04_env_policy",
        "04_global_policy", "04_support_team_policy", "05_approval_policy", "06_test_policy", "07_policy_v1",
        "07_policy_v2",
    ]

    @Test(arguments: policyFiles)
    func everyTutorialPolicyLoads(_ name: String) throws {
        let set = try PolicyLoader.load(paths: [Paths.tutorial + "/\(name).yaml"])
        #expect(set.documents.count == 1)
        #expect(!set.documents[0].rules.isEmpty)
    }

    @Test func chapterSixScenariosPass() throws {
        let result = try runTest([Paths.tutorial + "/06_test_policy.yaml", Paths.tutorial + "/06_test_scenarios.yaml"])
        #expect(result.out == "8/8 scenarios passed\n")
        #expect(result.status == 0)
    }

    /// Our scenario files for the other tutorial policies, with the reference's answers.
    @Test(arguments: try FileManager.default.contentsOfDirectory(atPath: Paths.fixtures + "/tutorial").sorted())
    func tutorialScenarioFilesPass(_ file: String) throws {
        let name = String(file.dropLast(".scenarios.yaml".count))
        let policies = name.split(separator: "+").enumerated().map { i, part in
            // "04_global+support_team" -> 04_global_policy.yaml, 04_support_team_policy.yaml
            let stem = i == 0 ? String(part) : "04_" + part
            return Paths.tutorial + "/\(stem)_policy.yaml"
        }
        let paths = name.contains("+") ? policies : [Paths.tutorial + "/\(name).yaml"]
        let result = try runTest(paths + [Paths.fixtures + "/tutorial/" + file])
        #expect(result.status == 0, "\(result.out)\(result.err)")
        #expect(result.out.hasSuffix("scenarios passed\n") && !result.out.contains("FAIL"))
    }

    @Test func layeredPoliciesKeepTheirOrderAndAllowDuplicateNamesAcrossDocuments() throws {
        let set = try PolicyLoader.load(paths: [
            Paths.tutorial + "/04_global_policy.yaml", Paths.tutorial + "/04_support_team_policy.yaml",
        ])
        // Both documents have block-delete-database at priority 100: the global one comes first.
        let first = set.rulesInOrder.first
        #expect(
            first?.name == "block-delete-database" && first?.message == "Company policy: no agent may delete databases"
        )
        #expect(set.version.description.hasPrefix("global-security-policy@1.0+support-team-policy@1.0#"))
    }
}

@Suite struct PoliciesFolderTests {
    @Test func approvalWorkflowIsTheTutorialFileByteForByte() throws {
        let ours = try Data(contentsOf: URL(fileURLWithPath: Paths.policies + "/approval-workflow.yaml"))
        let theirs = try Data(contentsOf: URL(fileURLWithPath: Paths.tutorial + "/05_approval_policy.yaml"))
        #expect(ours == theirs)
    }

    /// Every policies/tests/NAME.scenarios.yaml runs against policies/NAME.yaml or
    /// policies/examples/NAME.yaml.
    @Test(arguments: try FileManager.default.contentsOfDirectory(atPath: Paths.policies + "/tests").sorted())
    func everyScenarioFilePasses(_ file: String) throws {
        let name = String(file.dropLast(".scenarios.yaml".count))
        let candidates = [Paths.policies + "/\(name).yaml", Paths.policies + "/examples/\(name).yaml"]
        let policy = try #require(
            candidates.first { FileManager.default.fileExists(atPath: $0) },
            "no policy for \(file)"
        )
        let result = try runTest([policy, Paths.policies + "/tests/" + file])
        #expect(result.status == 0, "\(result.out)\(result.err)")
        #expect(!result.out.contains("FAIL"))
    }

    @Test func paymentsEscalationCarriesTheQuorum() throws {
        let set = try PolicyLoader.load(paths: [Paths.policies + "/examples/payments.yaml"])
        let large = set.evaluate(try context(#"{"tool_name":"transfer_funds","arguments":{"amount":25000,"to":"v"}}"#))
        #expect(large.outcome == .escalate)
        #expect(
            large.escalation
                == EscalationSpec(
                    approvers: ["manager@corp.com", "cfo@corp.com", "compliance@corp.com"],
                    requiredApprovals: 2,
                    requiredDenials: 1,
                    timeoutSeconds: 900,
                    timeoutAction: .deny
                )
        )
        // The external-transfer rule sets only approvers: the rest comes from defaults.escalation.
        let external = set.evaluate(
            try context(#"{"tool_name":"transfer_funds","arguments":{"amount":5,"to":"external-x"}}"#)
        )
        #expect(
            external.escalation
                == EscalationSpec(
                    approvers: ["manager@corp.com"],
                    requiredApprovals: 1,
                    requiredDenials: 1,
                    timeoutSeconds: 300,
                    timeoutAction: .deny
                )
        )
        #expect(set.evaluate(try context(#"{"tool_name":"get_balance"}"#)).escalation == nil)
        #expect(set.maxToolCalls == nil)
    }
}
