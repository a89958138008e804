import ArgumentParser

/// The `tollgate` command. `Sources/tollgate/main.swift` only calls `TollgateCommand.runMain()`,
/// so tests can run every subcommand in-process.
public struct TollgateCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "tollgate",
        abstract: "Gate AI agents' tool calls with agent-os policies, human approvals and an audit trail.",
        discussion: """
            Offline:  tollgate check --policy policies/approval-workflow.yaml --tool transfer_funds
            Broker:   tollgate worker --policy policies/approval-workflow.yaml
            """,
        version: tollgateVersion,
        subcommands: [
            // Registered subcommands. Keep one per line so parallel work merges cleanly.
            CheckCommand.self,
            ValidateCommand.self,
            TestCommand.self,
            WorkerCommand.self,
            CallCommand.self,
            PendingCommand.self,
            ApproveCommand.self,
            DenyCommand.self,
            DiffCommand.self,
            GrantsCommand.self,
            RevokeCommand.self,
            AuditCommand.self,
            DemoCommand.self,
            GatewayCommand.self,
            WebhookCommand.self,
            KeygenCommand.self,
            VerifyReceiptCommand.self,
        ]
    )

    public init() {}
}

public let tollgateVersion = "0.1.0"
