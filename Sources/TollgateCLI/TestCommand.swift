import ArgumentParser
import TollgatePolicy

/// `tollgate test`: run a scenario file against policies.
public struct TestCommand: OfflineCommand {
    public static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run scenarios (expected decisions) against policies.",
        discussion: """
            The last argument is the scenario file; the ones before it are policy files or \
            folders, loaded together. A scenario file is agent-os's format:

              scenarios:
                - name: transfer-escalates
                  context: {tool_name: transfer_funds}
                  expected_action: deny          # the matched rule's action as written
                  expected_allowed: false        # true for allow and audit
                  expected_decision: escalate    # Tollgate: allow | deny | escalate
                  expected_rule: escalate-transfer-funds   # Tollgate: null = no rule matched

            Examples:
              tollgate test policies/approval-workflow.yaml policies/tests/approval-workflow.scenarios.yaml
              tollgate test policies/a.yaml policies/b.yaml scenarios.yaml

            Prints 'FAIL: name: expected X, got Y' for each failed expectation and 'N/M scenarios \
            passed'. Exit status: 0 all pass; 1 some fail; 2 a policy or the scenario file cannot \
            be read or is invalid.
            """
    )

    @Argument(help: ArgumentHelp("Policy files or folders, then the scenario file.", valueName: "policy... scenarios"))
    public var paths: [String] = []

    @OptionGroup var policyOptions: PolicyOptions

    public init() {}

    public func execute(stdout: inout some TextOutputStream, stderr: inout some TextOutputStream) -> Int32 {
        guard paths.count >= 2, let scenarioPath = paths.last else {
            print("error: give one or more policies, then a scenario file", to: &stderr)
            return 2
        }
        let set: PolicySet
        let scenarios: [PolicyScenario]
        do {
            set = try PolicyLoader.load(paths: Array(paths.dropLast()), compat: policyOptions.compat)
            let sources = try PolicyLoader.read(paths: [scenarioPath])
            guard sources.count == 1, let source = sources.first else {
                print("error: \(scenarioPath): the scenario file must be one file", to: &stderr)
                return 2
            }
            scenarios = try PolicyScenario.load(source)
        } catch {
            print(error.description, to: &stderr)
            return 2
        }
        let options = policyOptions.evaluation
        var passed = 0
        for scenario in scenarios {
            let failures = scenario.failures(of: set.evaluate(scenario.context, options: options))
            if failures.isEmpty {
                passed += 1
            }
            for failure in failures {
                print("FAIL: \(scenario.name): \(failure)", to: &stdout)
            }
        }
        print("\(passed)/\(scenarios.count) scenarios passed", to: &stdout)
        return passed == scenarios.count ? 0 : 1
    }
}
