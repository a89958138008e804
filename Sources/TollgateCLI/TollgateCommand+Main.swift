import ArgumentParser

extension TollgateCommand {
    /// The entry point of `main.swift`: parses the arguments and runs the chosen subcommand,
    /// awaiting it when it is async.
    ///
    /// Not `main()`: in top-level code `await TollgateCommand.main()` resolves to
    /// ArgumentParser's synchronous `main()`, which refuses an async root command on Linux
    /// ("Asynchronous root command needs availability annotation").
    public static func runMain() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
