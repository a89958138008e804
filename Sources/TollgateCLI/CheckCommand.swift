import ArgumentParser
import TollgateJSON
import TollgatePolicy

/// `tollgate check`: decide tool calls offline against policy files.
public struct CheckCommand: OfflineCommand {
    public static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Decide tool calls against policies, offline.",
        discussion: """
            Give the tool calls as --tool (one row each; --field and --context add to every one), \
            as one --context JSON object, or as a file of JSON objects, one per line (--input, \
            '-' for standard input).

            Examples:
              tollgate check --policy policies/approval-workflow.yaml \\
                  --tool search_documents --tool write_file --tool delete_database \\
                  --tool transfer_funds --tool send_email
              tollgate check --policy policies/examples/payments.yaml --tool transfer_funds \\
                  --field arguments.amount=25000 --json
              tollgate check --policy policies/ --context '{"tool_name":"send_email","environment":"production"}'
              tollgate check --policy policies/approval-workflow.yaml --input calls.jsonl > decisions.jsonl

            --field KEY=VALUE: VALUE is read as JSON when it is valid JSON (5000, true, null, \
            {"a":1}, "quoted"), else as a plain string. A dotted KEY builds nested objects: \
            arguments.amount=5000 gives {"arguments":{"amount":5000}}.

            --tool-calls: read --context and --input lines as tool calls of the wire protocol \
            ({"agent_id","tool_name","arguments","reason","context"}): conditions then see the keys \
            of "context" at the top level beside tool_name, agent_id, reason and arguments, as in \
            the worker.

            --input: each line gives one output line, in order: \
            {"allowed","action","rule","reason","decision","policy_version"}. A line that is not \
            a JSON object gives {"line":N,"error":"..."} and the run goes on. Blank lines are \
            skipped (no output line).

            Exit status: 0 all decided; 1 some input lines were not JSON objects; 2 a policy is \
            invalid or unreadable (every error is printed as file:line:column: message), or the \
            input or arguments are unusable (64: options the parser rejects).
            """
    )

    @Option(
        name: .long,
        help: ArgumentHelp("A policy file or folder (*.yaml then *.yml). Repeatable.", valueName: "file-or-dir")
    )
    public var policy: [String] = []

    @Option(name: .long, help: ArgumentHelp("A tool name to decide (one row each). Repeatable.", valueName: "name"))
    public var tool: [String] = []

    @Option(name: .long, help: ArgumentHelp("A context field for every tool call. Repeatable.", valueName: "key=value"))
    public var field: [String] = []

    @Option(name: .long, help: ArgumentHelp("The context as one JSON object.", valueName: "json"))
    public var context: String?

    @Option(name: .long, help: ArgumentHelp("A file of JSON objects, one per line ('-' for stdin).", valueName: "file"))
    public var input: String?

    @Flag(name: .customLong("tool-calls"), help: "Read --context and --input lines as wire-protocol tool calls.")
    public var toolCalls = false

    @Flag(name: .long, help: "Print JSON (one object per tool call) instead of a table.")
    public var json = false

    @OptionGroup var policyOptions: PolicyOptions

    public init() {}

    /// The whole command, callable in-process; returns the exit status.
    public func execute(stdout: inout some TextOutputStream, stderr: inout some TextOutputStream) -> Int32 {
        guard !policy.isEmpty else {
            print("error: give at least one --policy", to: &stderr)
            return 2
        }
        let set: PolicySet
        do {
            set = try PolicyLoader.load(paths: policy, compat: policyOptions.compat)
        } catch {
            print(error.description, to: &stderr)
            return 2
        }
        let options = policyOptions.evaluation
        if let input {
            guard tool.isEmpty, field.isEmpty, context == nil else {
                print("error: --input cannot be combined with --tool, --field or --context", to: &stderr)
                return 2
            }
            return runBatch(set, options, path: input, stdout: &stdout, stderr: &stderr)
        }
        var base = JSONObject()
        if let context {
            guard case .object(let object)? = try? JSONValue.parse(context) else {
                let detail: String
                do {
                    _ = try JSONValue.parse(context)
                    detail = "not a JSON object"
                } catch {
                    detail = error.description
                }
                print("error: --context: \(detail)", to: &stderr)
                return 2
            }
            base = toolCalls ? PolicyContext.forToolCall(object) : object
        }
        for assignment in field {
            if let problem = Self.apply(field: assignment, to: &base) {
                print("error: --field \(assignment): \(problem)", to: &stderr)
                return 2
            }
        }
        guard !tool.isEmpty || context != nil || !field.isEmpty else {
            print("error: give --tool, --context, --field or --input", to: &stderr)
            return 2
        }
        var rows: [(tool: String, decision: PolicyDecision)] = []
        for name in tool.isEmpty ? [nil] : tool.map(Optional.some) {
            var context = base
            if let name { context["tool_name"] = .string(name) }
            let toolName = context["tool_name"]?.stringValue ?? "-"
            rows.append((toolName, set.evaluate(context, options: options)))
        }
        if json {
            for row in rows {
                var writer = JSONWriter()
                row.decision.write(to: &writer, policyVersion: set.version.description)
                print(String(decoding: writer.bytes, as: UTF8.self), to: &stdout)
            }
        } else {
            print(Self.table(rows), terminator: "", to: &stdout)
        }
        return 0
    }

    /// The layout of the agent-os tutorial's example output.
    static func table(_ rows: [(tool: String, decision: PolicyDecision)]) -> String {
        func pad(_ s: String, _ width: Int) -> String {
            let n = s.unicodeScalars.count
            return n >= width ? s : s + String(repeating: " ", count: width - n)
        }
        var text = "  \(pad("Tool", 22)) \(pad("Decision", 14)) Reason\n"
        text += "  " + String(repeating: "-", count: 55) + "\n"
        for row in rows {
            let label: String
            switch row.decision.outcome {
            case .allow: label = "✅ allow"
            case .deny: label = "🚫 deny"
            case .escalate: label = "⏳ escalate"
            }
            text += "  \(pad(row.tool, 22)) \(pad(label, 11)) \(row.decision.reason)\n"
        }
        return text
    }

    /// Sets `KEY=VALUE` in `context`; a dotted key builds nested objects. Returns a problem.
    static func apply(field assignment: String, to context: inout JSONObject) -> String? {
        guard let eq = assignment.firstIndex(of: "="), eq != assignment.startIndex else {
            return "expected KEY=VALUE"
        }
        let key = String(assignment[..<eq])
        let text = String(assignment[assignment.index(after: eq)...])
        let value = (try? JSONValue.parse(text)) ?? .string(text)
        let path = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        return set(value, at: path[...], in: &context)
    }

    static func set(_ value: JSONValue, at path: ArraySlice<String>, in object: inout JSONObject) -> String? {
        guard let first = path.first else { return nil }
        if path.count == 1 {
            object[first] = value
            return nil
        }
        var inner: JSONObject
        switch object[first] {
        case nil: inner = JSONObject()
        case .object(let existing)?: inner = existing
        default: return "'\(first)' is already set to a value that is not an object"
        }
        if let problem = set(value, at: path.dropFirst(), in: &inner) { return problem }
        object[first] = .object(inner)
        return nil
    }

    /// One decision line per input line, streaming.
    func runBatch(
        _ set: PolicySet,
        _ options: EvaluationOptions,
        path: String,
        stdout: inout some TextOutputStream,
        stderr: inout some TextOutputStream
    ) -> Int32 {
        guard var reader = LineReader(path: path) else {
            print("error: --input \(path): cannot open the file", to: &stderr)
            return 2
        }
        defer { reader.close() }
        let version = set.version.description
        var writer = JSONWriter(reservingCapacity: 1 << 17)
        var lineNumber = 0
        var bad = false
        func report(_ message: String) {
            bad = true
            writer.beginObject()
            writer.objectField("line", lineNumber)
            writer.objectField("error", message)
            writer.endObject()
        }
        while let line = reader.next() {
            lineNumber += 1
            switch line {
            case .tooLong:
                report("line longer than \(LineReader.maxLineLength) bytes")
            case .text(let bytes):
                if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
                do {
                    let value = try JSONValue.parse(bytes)
                    if case .object(let object) = value {
                        let context = toolCalls ? PolicyContext.forToolCall(object) : object
                        set.evaluate(context, options: options).write(to: &writer, policyVersion: version)
                    } else {
                        report("not a JSON object")
                    }
                } catch {
                    report("invalid JSON: \(error.description)")
                }
            }
            writer.endLine()
            if writer.bytes.count >= 1 << 16 {
                stdout.write(String(decoding: writer.bytes, as: UTF8.self))
                writer.reset()
            }
        }
        stdout.write(String(decoding: writer.bytes, as: UTF8.self))
        return bad ? 1 : 0
    }
}
