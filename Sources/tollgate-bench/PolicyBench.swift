import ArgumentParser
import Foundation
import TollgateJSON
import TollgatePolicy

/// `tollgate-bench policy`: decisions per second of the policy engine alone (pre-built
/// contexts), for the tutorial's 5-rule policy and a 1,000-rule policy, and the rate of
/// JSON parse + decide on wire-protocol-shaped tool calls. benchmarks/reference_policy_bench.py
/// measures agent-os on the same inputs. Figures: docs/benchmarks-policy.md.
struct PolicyBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Policy evaluation rate: seed policy, 1,000-rule policy, JSON parse + evaluate.",
        discussion: """
            Build in release mode: swift build -c release --product tollgate-bench
            Run:                   .build/release/tollgate-bench policy
            """
    )

    @Option(help: "Decisions per measurement.")
    var iterations = 5_000_000

    @Option(help: "Measurements per figure; the best is reported.")
    var repeats = 3

    @Option(help: "The seed policy file (default: the tutorial's 05_approval_policy.yaml, built in).")
    var seedPolicy: String?

    @Flag(help: "Print the result as one JSON object (decisions per second by figure).") var json = false

    func run() throws {
        let seed: PolicySet
        if let seedPolicy {
            seed = try PolicyLoader.load(paths: [seedPolicy])
        } else {
            seed = try PolicyLoader.load(sources: [
                PolicySource(path: "approval-workflow.yaml", bytes: Array(BenchPolicies.seed.utf8))
            ])
        }
        let large = try PolicyLoader.load(sources: [
            PolicySource(path: "large.yaml", bytes: Array(BenchPolicies.largePolicy(rules: 1000).utf8))
        ])

        let seedContexts = BenchPolicies.seedTools.map { tool -> JSONObject in
            ["tool_name": .string(tool), "agent_id": "finance-agent", "environment": "production"]
        }
        let largeContexts = BenchPolicies.largeTools(rules: 1000).map { tool -> JSONObject in
            ["tool_name": .string(tool), "agent_id": "finance-agent", "environment": "production"]
        }
        if !json {
            print(
                "machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; iterations \(iterations), best of \(repeats)"
            )
        }
        var figures: [(key: String, perSecond: Double)] = []
        func record(_ key: String, _ name: String, _ perSecond: Double) {
            figures.append((key, perSecond))
            if !json { report(name, perSecond) }
        }
        record("seed_evaluate", "seed policy (5 rules), evaluate", rate(seed, seedContexts))
        record("large_evaluate", "1,000-rule policy, evaluate", rate(large, largeContexts))
        let messages = BenchPolicies.seedTools.map { BenchPolicies.message(tool: $0) }
        record("seed_parse_evaluate", "seed policy, JSON parse + evaluate", parseRate(seed, messages))
        let largeMessages = BenchPolicies.largeTools(rules: 1000).map { BenchPolicies.message(tool: $0) }
        record("large_parse_evaluate", "1,000-rule policy, JSON parse + evaluate", parseRate(large, largeMessages))

        // Why `matches` uses ICU (NSRegularExpression): the same search with Swift Regex.
        let regexPolicy = try PolicyLoader.load(sources: [
            PolicySource(path: "regex.yaml", bytes: Array(BenchPolicies.regexPolicy.utf8))
        ])
        record(
            "regex_icu_evaluate",
            "matches rule (ICU regex), evaluate",
            rate(regexPolicy, seedContexts, iterations: iterations / 10)
        )
        record(
            "regex_swift",
            "same search with Swift Regex",
            swiftRegexRate(BenchPolicies.seedTools, iterations: iterations / 10)
        )
        if json {
            let object: [String: Any] = [
                "benchmark": "policy", "machine": machineSummary(brokerVersion: "-"), "iterations": iterations,
                "repeats": repeats, "seed_policy": seedPolicy ?? "built-in approval-workflow.yaml",
                "decisions_per_second": Dictionary(
                    uniqueKeysWithValues: figures.map { ($0.key, $0.perSecond.rounded()) }
                ),
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        }
    }

    func swiftRegexRate(_ texts: [String], iterations: Int) -> Double {
        guard let regex = try? Regex("^(send|transfer)_\\w+$") else { return 0 }
        var best = 0.0
        for _ in 0..<repeats {
            var found = 0
            let start = ContinuousClock.now
            for i in 0..<iterations where texts[i % texts.count].firstMatch(of: regex) != nil { found += 1 }
            let elapsed = ContinuousClock.now - start
            precondition(found >= 0)
            best = max(best, Double(iterations) / seconds(elapsed))
        }
        return best
    }

    func report(_ name: String, _ perSecond: Double) {
        let padded = name.padding(toLength: 42, withPad: " ", startingAt: 0)
        print(
            "\(padded) \(String(format: "%12.0f", perSecond)) decisions/s  (\(String(format: "%.1f", 1e9 / perSecond)) ns each)"
        )
    }

    func rate(_ set: PolicySet, _ contexts: [JSONObject], iterations: Int? = nil) -> Double {
        let iterations = iterations ?? self.iterations
        var best = 0.0
        for _ in 0..<repeats {
            var allowed = 0
            let start = ContinuousClock.now
            var i = 0
            let n = contexts.count
            for _ in 0..<iterations {
                if set.evaluate(contexts[i]).allowed { allowed += 1 }
                i += 1
                if i == n { i = 0 }
            }
            let elapsed = ContinuousClock.now - start
            precondition(allowed >= 0)
            best = max(best, Double(iterations) / seconds(elapsed))
        }
        return best
    }

    func parseRate(_ set: PolicySet, _ messages: [[UInt8]]) -> Double {
        var best = 0.0
        let count = iterations / 5
        for _ in 0..<repeats {
            var allowed = 0
            let start = ContinuousClock.now
            var i = 0
            for _ in 0..<count {
                if case .object(let object)? = try? JSONValue.parse(messages[i]), set.evaluate(object).allowed {
                    allowed += 1
                }
                i += 1
                if i == messages.count { i = 0 }
            }
            let elapsed = ContinuousClock.now - start
            precondition(allowed >= 0)
            best = max(best, Double(count) / seconds(elapsed))
        }
        return best
    }

    func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

/// The inputs both benchmarks use (benchmarks/reference_policy_bench.py builds the same).
enum BenchPolicies {
    static let seedTools = ["search_documents", "write_file", "delete_database", "transfer_funds", "send_email"]

    /// `1,000` rules `tool_name eq tool-NNNN`, priorities cycling 0..<100, a third deny.
    static func largePolicy(rules: Int) -> String {
        var text = "version: \"1.0\"\nname: large-policy\nrules:\n"
        for i in 0..<rules {
            text += """
                  - name: rule-\(i)
                    condition:
                      field: tool_name
                      operator: eq
                      value: tool-\(i)
                    action: \(i % 3 == 0 ? "deny" : "allow")
                    priority: \(i % 100)
                    message: "rule \(i)"

                """
        }
        return text + "defaults:\n  action: allow\n"
    }

    /// Tools that hit rules spread over the list, and some that match none.
    static func largeTools(rules: Int) -> [String] {
        (0..<16).map { $0 == 15 ? "unknown-tool" : "tool-\(($0 * 997) % rules)" }
    }

    /// A tool call as the wire protocol carries it.
    static func message(tool: String) -> [UInt8] {
        Array(
            """
            {"agent_id":"finance-agent","tool_name":"\(tool)","arguments":{"amount":5000,"to":"vendor-123"},\
            "reason":"Agent wants to transfer $5,000 to vendor account","context":{"environment":"production","session_id":"s-42"}}
            """.utf8
        )
    }

    static let regexPolicy = """
        rules:
          - name: escalate-sends-and-transfers
            condition: {field: tool_name, operator: matches, value: "^(send|transfer)_\\\\w+$"}
            action: escalate
        """

    static let seed = """
        # Copyright (c) Microsoft Corporation.
        # Licensed under the MIT License.

        version: "1.0"
        name: approval-workflow-policy
        description: >
          Policy with three decision tiers: allow, deny, and escalate.
          Tools whose message says "requires human approval" are routed
          to a human reviewer before the agent may proceed.

        rules:
          # Tier 1: Always allowed — safe, read-only actions
          - name: allow-search-documents
            condition:
              field: tool_name
              operator: eq
              value: search_documents
            action: allow
            priority: 80
            message: "Safe action: searching documents is always allowed"

          # Tier 2: Always denied — irreversibly destructive
          - name: block-delete-database
            condition:
              field: tool_name
              operator: eq
              value: delete_database
            action: deny
            priority: 100
            message: "Destructive action: deleting databases is never allowed"

          # Tier 3: Escalate — needs human review
          - name: escalate-transfer-funds
            condition:
              field: tool_name
              operator: eq
              value: transfer_funds
            action: deny
            priority: 90
            message: "Sensitive action: transfer_funds requires human approval"

          - name: escalate-send-email
            condition:
              field: tool_name
              operator: eq
              value: send_email
            action: deny
            priority: 85
            message: "Sensitive action: send_email requires human approval"

        defaults:
          action: allow
          max_tool_calls: 10

        """
}
