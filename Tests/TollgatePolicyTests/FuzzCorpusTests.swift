import Foundation
import Testing
import TollgateJSON
import TollgatePolicy

/// The policy files libFuzzer found that reach new code in the loader (tools/fuzz/run.sh keeps
/// them in tools/fuzz/corpus/policy), replayed on every test run with the fuzz target's checks
/// (tools/fuzz/Sources/PolicyTarget.swift): none may crash; a refused file says what is wrong at
/// a line and column inside it; one that loads decides every call consistently.
@Suite("policy fuzz corpus")
struct PolicyFuzzCorpusTests {
    @Test("every kept policy file loads and decides consistently, or is refused inside the file")
    func replay() throws {
        let folder = Paths.packageRoot + "/tools/fuzz/corpus/policy"
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(names.count >= 10, "the corpus is there")
        let probes = [
            try context(#"{"tool_name": "transfer_funds", "arguments": {"amount": 50000}}"#),
            try context(#"{"tool_name": "delete_database", "role": "admin", "tags": ["x"]}"#),
            JSONObject(),
        ]
        var loaded = 0
        for name in names {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name)))
            let source = PolicySource(path: name, bytes: bytes)
            let lines = source.lineCount
            let policy: PolicySet
            do {
                policy = try PolicyLoader.load(sources: [source])
            } catch {
                #expect(!error.diagnostics.isEmpty, "\(name)")
                for diagnostic in error.diagnostics {
                    #expect(!diagnostic.message.isEmpty, "\(name)")
                    if let at = diagnostic.location {
                        #expect(at.line >= 1 && at.line <= lines + 1 && at.column >= 1, "\(name): \(diagnostic)")
                    }
                }
                continue
            }
            loaded += 1
            for probe in probes {
                let decision = policy.evaluate(PolicyContext.forToolCall(probe))
                #expect(decision.allowed == (decision.outcome == .allow), "\(name): \(decision)")
                #expect(decision.outcome != .escalate || decision.escalation != nil, "\(name)")
            }
        }
        #expect(loaded >= 10, "the seed policies load")
    }
}
