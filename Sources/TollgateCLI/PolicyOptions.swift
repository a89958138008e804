import ArgumentParser
import TollgatePolicy

extension PolicyCompatibility: ExpressibleByArgument {}

/// `--compat`: which agent-os generation's default the policies follow.
struct CompatOption: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "agent-os-3.7 (a first document without defaults.action allows what no rule matches) or agent-os-5 (it denies). Default: the policy's compat:, else agent-os-3.7 (worker: env TOLLGATE_COMPAT).",
            valueName: "generation"
        )
    )
    var compat: PolicyCompatibility?
}

/// How the commands that decide calls read the policies: `--compat` and `--no-escalation-keyword`.
struct PolicyOptions: ParsableArguments {
    @OptionGroup var compatOption: CompatOption

    @Flag(
        name: .customLong("no-escalation-keyword"),
        help: "Do not route deny decisions whose reason says 'requires human approval' to escalate."
    )
    var noEscalationKeyword = false

    var compat: PolicyCompatibility? { compatOption.compat }
    var evaluation: EvaluationOptions { EvaluationOptions(escalationKeyword: !noEscalationKeyword) }
}
