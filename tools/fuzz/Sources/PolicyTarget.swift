// The fuzz target for a policy file: the loader (YAML, the schema, the strict checks) on the
// bytes libFuzzer makes up, then, when they load, the policy on a few calls. It checks:
//   - a refused file says what is wrong, at a line and column inside the file when it names one;
//   - a policy that loads decides every call consistently (allowed exactly when the outcome is
//     allow, an escalation always says who decides, failing closed never allows).

import TollgateJSON
import TollgatePolicy

/// Calls of every shape a condition may meet: strings, numbers, nested objects, nothing.
let policyProbes: [JSONObject] = [
    ["tool_name": "transfer_funds", "agent_id": "a", "arguments": ["amount": 50_000, "to": "x"]],
    ["tool_name": "search_documents", "arguments": ["query": "q"], "context": ["session_id": "s"]],
    ["tool_name": "delete_database", "amount": 1.5, "role": "admin", "tags": ["x", "y"]],
    [:],
]

@Sendable func fuzzPolicy(_ bytes: [UInt8]) {
    let source = PolicySource(path: "fuzz.yaml", bytes: bytes)
    let lines = source.lineCount
    let policy: PolicySet
    do {
        policy = try PolicyLoader.load(sources: [source])
    } catch {
        require(!error.diagnostics.isEmpty, "a policy was refused without a diagnostic")
        for diagnostic in error.diagnostics {
            require(!diagnostic.message.isEmpty, "a diagnostic without a message")
            if let at = diagnostic.location {
                require(at.line >= 1 && at.line <= lines + 1 && at.column >= 1, "\(diagnostic) is outside the file")
            }
        }
        return
    }
    for probe in policyProbes {
        let decision = policy.evaluate(PolicyContext.forToolCall(probe))
        require(decision.allowed == (decision.outcome == .allow), "allowed \(decision.allowed) with \(decision)")
        require(decision.outcome != .escalate || decision.escalation != nil, "an escalation without approvers")
        require(!(decision.failedClosed && decision.allowed), "failed closed and allowed")
    }
}
