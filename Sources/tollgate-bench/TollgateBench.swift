import ArgumentParser

/// `tollgate-bench`: the benchmarks whose figures are recorded in docs/benchmarks.md.
@main
struct TollgateBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tollgate-bench",
        abstract: "Measure Tollgate: policy evaluation, broker relay baseline, worker end to end, escalations.",
        subcommands: [
            // One per line so parallel work merges cleanly.
            RelayCommand.self,
            WorkerBenchCommand.self,
            EscalationBenchCommand.self,
            PolicyBench.self,
            ReceiptBench.self,
            CoreBench.self,
            LoadCommand.self,
        ]
    )
}
