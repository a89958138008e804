import ArgumentParser
import TollgatePolicy

/// `tollgate validate`: check policy files strictly.
public struct ValidateCommand: OfflineCommand {
    public static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check policy files; print every error as file:line:column: message.",
        discussion: """
            Each file is checked on its own (a folder stands for its *.yaml and *.yml files). A \
            valid file prints 'FILE: OK'.

            Examples:
              tollgate validate policies/approval-workflow.yaml
              tollgate validate policies/ policies/examples/

            With --strict a valid file is also refused for what the worker would run but should \
            not: an approval stage whose timeout approves the request (on_timeout: allow).

            A warning (which does not change the exit status) goes with a policy whose first \
            document has no defaults.action: agent-os 3.7, and Tollgate by default, allow what no \
            rule matches; agent-os 5 denies it. Write defaults.action, or compat: agent-os-5 (or \
            give --compat agent-os-5) to have the 5.0 default.

            Exit status: 0 all valid; 1 some file is invalid (YAML syntax errors included, with \
            their position) or, with --strict, has a finding; 2 some path cannot be read (missing \
            file, empty folder).
            """
    )

    @Argument(help: ArgumentHelp("Policy files or folders.", valueName: "file"))
    public var files: [String] = []

    @Flag(help: "Also refuse what is valid but unsafe (an approval stage with on_timeout: allow).")
    public var strict = false

    @OptionGroup var compatOption: CompatOption

    public init() {}

    public func execute(stdout: inout some TextOutputStream, stderr: inout some TextOutputStream) -> Int32 {
        guard !files.isEmpty else {
            print("error: give at least one policy file", to: &stderr)
            return 2
        }
        var status: Int32 = 0
        for path in files {
            let sources: [PolicySource]
            do {
                sources = try PolicyLoader.read(paths: [path])
            } catch {
                print(error.description, to: &stderr)
                status = 2
                continue
            }
            var documents: [PolicyDocument] = []
            for (index, source) in sources.enumerated() {
                switch PolicyLoader.parse(source) {
                case .success(let document):
                    documents.append(document)
                    // The first file of a path is the first document of the policy it stands for.
                    let compat = compatOption.compat ?? document.compat ?? .agentOS3
                    if index == 0, compat == .agentOS3, document.defaults.action == nil {
                        print(
                            "\(source.path): warning: allows everything unmatched only because `defaults.action` is absent; agent-os 5 denies (write defaults.action, or compat: agent-os-5)",
                            to: &stdout
                        )
                    }
                    if strict, !document.strictFindings.isEmpty {
                        for finding in document.strictFindings { print("\(finding) (--strict)", to: &stdout) }
                        if status == 0 { status = 1 }
                    } else {
                        print("\(source.path): OK", to: &stdout)
                    }
                case .failure(let error):
                    print(error.description, to: &stdout)
                    if status == 0 { status = 1 }
                }
            }
            // What only the files together can get wrong (compat in a later file, or against
            // --compat), as the worker would refuse it.
            if documents.count == sources.count {
                do {
                    _ = try PolicyLoader.compatibility(of: documents, flag: compatOption.compat)
                } catch {
                    print(error.description, to: &stdout)
                    if status == 0 { status = 1 }
                }
            }
        }
        return status
    }
}
