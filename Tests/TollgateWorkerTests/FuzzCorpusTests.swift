import Foundation
import Testing
import TollgateJSON
import TollgatePolicy

@testable import TollgateWorker

/// The tool-call and vote bodies libFuzzer found that reach new code (tools/fuzz/run.sh keeps
/// them in tools/fuzz/corpus/tool-call and .../vote), replayed on every test run with the fuzz
/// targets' checks (tools/fuzz/Sources): none may crash; a refused body says why; an accepted
/// one keeps the protocol's bounds and is decided consistently.
@Suite("tool-call and vote fuzz corpus")
struct FuzzCorpusTests {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func corpus(_ name: String) throws -> [(String, [UInt8])] {
        let folder = root.appendingPathComponent("tools/fuzz/corpus/\(name)")
        return try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted().map {
            ($0, [UInt8](try Data(contentsOf: folder.appendingPathComponent($0))))
        }
    }

    @Test("every kept tool call is refused with a reason, or parsed within bounds and decided consistently")
    func toolCalls() throws {
        let policy = try PolicyLoader.load(paths: [
            Self.root.appendingPathComponent("policies/approval-workflow.yaml").path
        ])
        let inputs = try Self.corpus("tool-call")
        #expect(inputs.count >= 4, "the corpus is there")
        var accepted = 0
        for (name, bytes) in inputs {
            switch ToolCall.parse(bytes) {
            case .failure(let problem):
                #expect(!problem.description.isEmpty, "\(name)")
                let names = ToolCall.salvage(bytes)
                #expect((names.agentID?.utf8.count ?? 1) <= ToolCall.maxNameBytes, "\(name)")
            case .success(let call):
                accepted += 1
                #expect(!call.agentID.isEmpty && call.agentID.utf8.count <= ToolCall.maxNameBytes, "\(name)")
                #expect(!call.toolName.isEmpty && call.toolName.utf8.count <= ToolCall.maxNameBytes, "\(name)")
                #expect((try? JSONValue.parse(Array(call.argumentsJSON.utf8)))?.objectValue != nil, "\(name)")
                let decision = policy.evaluate(call.policyContext())
                #expect(decision.allowed == (decision.outcome == .allow), "\(name): \(decision)")
                #expect(decision.outcome != .escalate || decision.escalation != nil, "\(name)")
            }
        }
        #expect(accepted >= 4, "the seed calls parse")
    }

    @Test("every kept vote or revocation is refused with a reason, or parsed within bounds")
    func votes() throws {
        let inputs = try Self.corpus("vote")
        #expect(inputs.count >= 5, "the corpus is there")
        var accepted = 0
        for (name, bytes) in inputs {
            guard case .success(let object) = parseObject(bytes) else { continue }
            if GrantRevocation.isRevocation(object) {
                if case .success(let revocation) = GrantRevocation.parse(object) {
                    accepted += 1
                    #expect(!revocation.grantID.isEmpty && revocation.grantID.utf8.count <= 255, "\(name)")
                }
                continue
            }
            switch Vote.parse(object) {
            case .failure(let problem): #expect(!problem.description.isEmpty, "\(name)")
            case .success(let vote):
                accepted += 1
                #expect(!vote.requestID.isEmpty && vote.requestID.utf8.count <= 255, "\(name)")
                #expect(vote.arguments == nil || vote.decision == .approve, "\(name)")
                #expect(vote.grant == nil || vote.decision == .approve, "\(name)")
                #expect((vote.grant?.ttlSeconds ?? 1) >= 1, "\(name)")
                #expect((vote.via?.count ?? 0) <= 100, "\(name)")
            }
        }
        #expect(accepted >= 5, "the seed votes parse")
    }
}
