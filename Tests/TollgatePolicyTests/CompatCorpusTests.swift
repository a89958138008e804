import Foundation
import Testing
import TollgateJSON
@testable import TollgatePolicy

/// Replays the differential corpus made by Tests/compat/gen_compat.py against agent-os 3.7.0:
/// every case must give the reference's allowed, action, rule and reason, and the tutorial's
/// routing (allow / deny / escalate).
@Suite struct CompatCorpusTests {
    struct Mismatch: CustomStringConvertible {
        let set: Int
        let context: String
        let expected: String
        let got: String
        let policies: [String]
        var description: String {
            "set \(set), context \(context)\n  expected \(expected)\n  got      \(got)\n  policies:\n"
                + policies.joined(separator: "  ---\n")
        }
    }

    /// Replays a corpus file; returns the number of cases and the mismatches.
    static func replay(_ path: String, compat: PolicyCompatibility? = nil) throws -> (cases: Int, mismatches: [String])
    {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        var cases = 0
        var mismatches: [String] = []
        for line in data.split(separator: 0x0A) where !line.isEmpty {
            let entry = try JSONValue.parse(line)
            guard let id = entry["id"]?.intValue, let texts = entry["policies"]?.arrayValue,
                let contexts = entry["contexts"]?.arrayValue, let expected = entry["expected"]?.arrayValue
            else { throw TestFailure("malformed corpus line") }
            let sources = texts.enumerated().map { i, text in
                PolicySource(path: "set\(id)-doc\(i).yaml", bytes: Array((text.stringValue ?? "").utf8))
            }
            let set: PolicySet
            do {
                set = try PolicyLoader.load(sources: sources, compat: compat)
            } catch {
                mismatches.append(
                    "set \(id): Tollgate refused what agent-os loads:\n\(error)\n\(texts.compactMap(\.stringValue).joined(separator: "---\n"))"
                )
                continue
            }
            for (context, want) in zip(contexts, expected) {
                cases += 1
                guard case .object(let object) = context else { throw TestFailure("context is not an object") }
                let d = set.evaluate(object)
                let got: JSONValue = [
                    "allowed": .bool(d.allowed), "action": .string(d.action),
                    "rule": d.rule.map(JSONValue.string) ?? .null,
                    "reason": .string(d.reason), "decision": .string(d.outcome.rawValue),
                ]
                if got != want {
                    mismatches.append(
                        Mismatch(
                            set: Int(id),
                            context: context.description,
                            expected: want.description,
                            got: got.description + (d.errorDetail.map { " (\($0))" } ?? ""),
                            policies: texts.compactMap(\.stringValue)
                        ).description
                    )
                }
            }
        }
        return (cases, mismatches)
    }

    @Test func storedCorpusMatchesTheReference() throws {
        let (cases, mismatches) = try Self.replay(Paths.fixtures + "/compat/corpus.jsonl")
        if let dump = ProcessInfo.processInfo.environment["TOLLGATE_COMPAT_DUMP"] {
            try mismatches.joined(separator: "\n\n").write(toFile: dump, atomically: true, encoding: .utf8)
        }
        #expect(cases >= 5000)
        #expect(
            mismatches.isEmpty,
            "\(mismatches.count) of \(cases) cases differ; first:\n\(mismatches.prefix(3).joined(separator: "\n\n"))"
        )
    }

    /// The corpus of agent-os 5.0.0 (`agent-governance-toolkit-core`, made by
    /// Tests/compat/check_agent_os_5.sh): generated policies whose first document has no
    /// `defaults.action`, decided with `--compat agent-os-5`.
    @Test func agentOS5CorpusMatchesTheReferenceWithCompat() throws {
        let path = Paths.fixtures + "/compat/corpus-agent-os-5.jsonl"
        let (cases, mismatches) = try Self.replay(path, compat: .agentOS5)
        #expect(cases >= 5000)
        #expect(
            mismatches.isEmpty,
            "\(mismatches.count) of \(cases) cases differ; first:\n\(mismatches.prefix(3).joined(separator: "\n\n"))"
        )
        // The same policies under the default (agent-os 3.7) differ exactly where no rule matched.
        let (_, differences) = try Self.replay(path)
        #expect(!differences.isEmpty)
        #expect(
            differences.allSatisfy { $0.contains(#"expected {"allowed":false,"action":"deny","rule":null,"#) },
            "\(differences.prefix(2))"
        )
    }

    /// With TOLLGATE_REFERENCE=1 and agent-os installed: a fresh random corpus, compared live.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["TOLLGATE_REFERENCE"] == "1"))
    func freshCorpusMatchesTheReference() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent(
            "tollgate-compat-\(UUID().uuidString).jsonl"
        ).path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let seed = Int.random(in: 1..<1_000_000_000)
        let result = try run(
            "/usr/bin/env",
            [
                "python3", Paths.packageRoot + "/Tests/compat/gen_compat.py", "--seed", String(seed), "--sets", "200",
                "--out", out,
            ]
        )
        try #require(result.status == 0, "gen_compat.py failed: \(result.err)")
        let (cases, mismatches) = try Self.replay(out)
        #expect(cases > 0)
        #expect(
            mismatches.isEmpty,
            "seed \(seed): \(mismatches.count) of \(cases) cases differ; first:\n\(mismatches.prefix(3).joined(separator: "\n\n"))"
        )
    }
}
