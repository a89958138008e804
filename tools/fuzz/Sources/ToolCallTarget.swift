// The fuzz target for a tool call's body: the parser the worker runs on every call, then the
// policy deciding what it parsed (the seed policy, policies/approval-workflow.yaml). It checks:
//   - a refused body says why, and the names salvaged from it for the reply are bounded;
//   - an accepted one has an agent_id and a tool_name within the protocol's bounds, and its
//     arguments are written as a JSON object;
//   - the decision is consistent: allowed exactly when the outcome is allow, an escalation
//     always says who decides, and failing closed never allows.

import TollgateJSON
import TollgatePolicy

@testable import TollgateWorker

/// Loaded once, from the repository root (tools/fuzz/run.sh runs from there).
let seedPolicy: PolicySet = {
    do {
        return try PolicyLoader.load(paths: ["policies/approval-workflow.yaml"])
    } catch {
        fatalError("fuzz: the seed policy does not load: \(error)")
    }
}()

@Sendable func fuzzToolCall(_ bytes: [UInt8]) {
    switch ToolCall.parse(bytes) {
    case .failure(let problem):
        require(!problem.description.isEmpty, "a call was refused without a reason")
        let names = ToolCall.salvage(bytes)
        if let agent = names.agentID { requireName(agent, "salvaged agent_id", maxBytes: ToolCall.maxNameBytes) }
        if let tool = names.toolName { requireName(tool, "salvaged tool_name", maxBytes: ToolCall.maxNameBytes) }
    case .success(let call):
        requireName(call.agentID, "agent_id", maxBytes: ToolCall.maxNameBytes)
        requireName(call.toolName, "tool_name", maxBytes: ToolCall.maxNameBytes)
        let written = try? JSONValue.parse(Array(call.argumentsJSON.utf8))
        require(written?.objectValue != nil, "arguments written as \(call.argumentsJSON)")
        let decision = seedPolicy.evaluate(call.policyContext())
        require(decision.allowed == (decision.outcome == .allow), "allowed \(decision.allowed) with \(decision)")
        require(decision.outcome != .escalate || decision.escalation != nil, "an escalation without approvers")
        require(!(decision.failedClosed && decision.allowed), "failed closed and allowed")
    }
}
