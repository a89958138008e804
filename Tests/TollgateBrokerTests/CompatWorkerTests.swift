// `tollgate worker --compat agent-os-5` (and TOLLGATE_COMPAT): a policy without defaults.action
// denies what no rule matches, as agent-os 5 does; without the flag it allows, as agent-os 3.7.
import Foundation
import Testing
import TollgateJSON

@Suite("Worker: agent-os generations", .serialized)
struct CompatWorkerTests {
    static let policy = """
        version: "1.0"
        name: no-default
        rules:
          - name: block-delete
            condition: {field: tool_name, operator: eq, value: delete_database}
            action: deny
        """

    @Test("an unmatched call: allowed by default, denied with --compat agent-os-5 or TOLLGATE_COMPAT")
    func unmatchedCall() throws {
        let scratch = try Scratch()
        let path = try scratch.write("policy.yaml", Self.policy)
        let agent = try TestClient(user: "finance-agent")
        defer { agent.close() }
        for (arguments, environment, expected) in [
            ([String](), [String: String](), "allow"), (["--compat", "agent-os-5"], [:], "deny"),
            ([], ["TOLLGATE_COMPAT": "agent-os-5"], "deny"),
        ] {
            let worker = WorkerProcess(
                scratch: scratch,
                policies: [path],
                arguments: arguments,
                environment: environment
            )
            try worker.start()
            let reply = try agent.reply(to: try agent.call(prefix: worker.prefix, tool: "search_documents"))
            #expect(reply.string("decision") == expected, "\(arguments) \(environment)")
            #expect(reply.string("reason") == "No rules matched; default action applied")
            // Every message the worker publishes carries its time of publication, in seconds.
            let stamp = Int64(try #require(reply.delivery.properties.timestamp))
            #expect(abs(stamp - Int64(Date().timeIntervalSince1970)) <= 60, "timestamp \(stamp)")
            #expect(worker.log.contains("compat=\(expected == "deny" ? "agent-os-5" : "agent-os-3.7")"))
            #expect(worker.terminate() == 0)
        }
    }

    @Test("a TOLLGATE_COMPAT that names no generation stops the start with a clear error")
    func unknownGeneration() throws {
        let scratch = try Scratch()
        let path = try scratch.write("policy.yaml", Self.policy)
        let result = try runTollgate(
            ["worker", "--policy", path, "--db", scratch.path("w.db"), "--prefix", "tgcompat"],
            environment: ["TOLLGATE_COMPAT": "agent-os-9"]
        )
        #expect(result.status != 0)
        #expect(
            result.output.contains("TOLLGATE_COMPAT must be agent-os-3.7 or agent-os-5, not 'agent-os-9'"),
            "\(result.output)"
        )
        let flag = try runTollgate(["worker", "--policy", path, "--compat", "agent-os-9"])
        #expect(flag.status != 0)
        #expect(flag.output.contains("agent-os-9"), "\(flag.output)")
    }
}
