import ArgumentParser

/// A command whose whole work is `execute`, callable in-process by tests; `run()` wires it to
/// the process's standard output and error and turns its status into the exit code.
protocol OfflineCommand: ParsableCommand {
    func execute(stdout: inout some TextOutputStream, stderr: inout some TextOutputStream) -> Int32
}

extension OfflineCommand {
    public func run() throws {
        var out = StandardOutput()
        var err = StandardError()
        let status = execute(stdout: &out, stderr: &err)
        out.flush()
        if status != 0 { throw ExitCode(status) }
    }
}
