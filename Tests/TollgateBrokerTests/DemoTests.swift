// `tollgate demo` against a real worker, checked line by line against the seed's layout
// (chapter 5's "Full example" output in ../shared/seed/).
import Foundation
import Testing

@Suite("Demo")
struct DemoTests {
    /// The seed's full example output: from the first ==== line after "Full example" to the
    /// closing ==== line.
    func seedLayout() throws -> [String] {
        let seed = packageRoot.deletingLastPathComponent().appendingPathComponent(
            "shared/seed/000_75a9b80bc4f35a9e.txt"
        )
        let lines = try String(contentsOf: seed, encoding: .utf8).components(separatedBy: "\n")
        let start = try #require(lines.firstIndex(of: "Full example"))
        let first = try #require(lines[start...].firstIndex { $0.hasPrefix("=====") })
        let close = try #require(lines[(first + 3)...].firstIndex { $0.hasPrefix("=====") })
        let end = try #require(lines[(close + 1)...].firstIndex { $0.hasPrefix("=====") })
        return Array(lines[first...end])
    }

    /// Request ids and counts become placeholders; the one line that names agent-os's Python
    /// class says what Tollgate's policy calls it.
    func normalized(_ line: String) -> String {
        var text = line
        for pattern in [
            #"[a-z0-9]+-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"#,
            #"[a-z][0-9][a-z][0-9][a-z][0-9][a-z][0-9]\.\.\."#,
        ] {
            text = text.replacingOccurrences(of: pattern, with: "<request-id>", options: .regularExpression)
        }
        text = text.replacingOccurrences(of: #"queue: [0-9]+"#, with: "queue: <n>", options: .regularExpression)
        text = text.replacingOccurrences(of: #"after [0-9]+s"#, with: "after <n>s", options: .regularExpression)
        text = text.replacingOccurrences(of: "DefaultTimeoutAction.DENY ensures", with: "timeout_action: deny ensures")
        return text
    }

    @Test("the demo plays the five parts in the seed's layout, with real request ids, then verifies the audit trail")
    func demoLayout() throws {
        let scratch = try Scratch()
        let worker = WorkerProcess(scratch: scratch, policies: [seedPolicy], arguments: ["--escalation-timeout", "3"])
        try worker.start()
        let result = try runTollgate([
            "demo", "--prefix", worker.prefix, "--db", worker.databasePath,
            "--amqp-url", Broker.url.description(withPassword: true),
        ])
        #expect(result.status == 0, "\(result.output)")
        let output = result.output.components(separatedBy: "\n")
        let expected = try seedLayout()
        let got = Array(output.prefix(expected.count))
        for (index, (want, have)) in zip(expected, got).enumerated() {
            #expect(normalized(have) == normalized(want), "line \(index + 1): got '\(have)', the seed has '\(want)'")
        }
        #expect(got.count == expected.count)
        #expect(result.output.contains("OK: "), "ends with audit verify")
        #expect(result.output.contains(worker.workerID + "-"), "real request ids")
        worker.terminate()
    }
}
