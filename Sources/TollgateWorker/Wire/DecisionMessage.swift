import TollgateJSON
import TollgateStore

/// A decision on a tool call, as published to `reply_to`, `tollgate.decisions` and (for
/// escalated calls) `resolved.<tool>`.
struct DecisionMessage {
    var requestID: String?
    var correlationID: String?
    var agentID: String?
    var toolName: String?
    var decision: Decision
    var resolution: Resolution
    var rule: String?
    var reason: String
    var approvers: [String] = []
    var deadline: Millis?
    var policyVersion: String?
    /// The accepted votes, for the final decision of an escalated call: each voter's decision,
    /// comment and time, so the agent can give the reviewers' words to its model.
    var votes: [VoteRecord]? = nil
    /// The call's arguments (JSON text), for the action digest of a receipt; sent only in the
    /// final decision of an escalated call (`round` set), as `arguments`.
    var argumentsJSON: String? = nil
    /// The escalation's round, for the final decision of an escalated call: above 0, the
    /// arguments were edited by an approver (`edited: true`) and votes of earlier rounds are
    /// marked `superseded`.
    var round: Int? = nil
    /// The standing grant: made by this approval, or the one that allowed this call.
    var grant: GrantRecord? = nil
    /// The steps of a staged approval, so each vote can name its stage.
    var steps: [ApprovalStep]? = nil
    /// The call's arguments as parsed, for the receipt of a decision made at once: serialized
    /// only when a receipt is made. Not sent.
    var callArguments: JSONObject? = nil
    /// A signed receipt (final `allow` with `--receipt-key`), as JSON.
    var receipt: [UInt8]? = nil

    func encoded() -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 384)
        w.beginObject()
        w.objectField("request_id", requestID)
        w.objectField("correlation_id", correlationID)
        w.objectField("agent_id", agentID)
        w.objectField("tool_name", toolName)
        w.objectField("decision", decision.rawValue)
        w.objectField("final", decision.final != nil)
        w.objectField("resolution", resolution.rawValue)
        w.objectField("rule", rule)
        w.objectField("reason", reason)
        w.key("approvers")
        w.beginArray()
        for approver in approvers { w.string(approver) }
        w.endArray()
        w.objectField("deadline", deadline.map { isoTime($0) })
        w.objectField("policy_version", policyVersion)
        if let receipt {
            w.key("receipt")
            w.rawValue(receipt)
        }
        if let grant {
            w.key("grant")
            writeGrant(grant, to: &w)
        }
        if let round {
            w.objectField("edited", round > 0)
            w.key("arguments")
            w.rawValue((argumentsJSON ?? "{}").utf8)
        }
        if let votes {
            w.key("votes")
            w.beginArray()
            for vote in votes {
                w.beginObject()
                w.objectField("voter", vote.voter)
                w.objectField("decision", vote.decision.rawValue)
                w.objectField("comment", vote.comment)
                w.objectField("at", isoTime(withMilliseconds: vote.at))
                if let round, vote.round < round, vote.decision == .approve { w.objectField("superseded", true) }
                if let steps, vote.phase < steps.count {
                    w.objectField("stage", steps[vote.phase].stage + 1)
                    if steps[vote.phase].isFallback { w.objectField("fallback", true) }
                }
                if let arguments = vote.argumentsJSON {
                    w.key("arguments")
                    w.rawValue(arguments.utf8)
                }
                w.endObject()
            }
            w.endArray()
        }
        w.endObject()
        return w.bytes
    }
}

/// A grant as the wire shows it (decisions, fleet `grants` answers).
public func writeGrant(_ g: GrantRecord, to w: inout JSONWriter) {
    w.beginObject()
    w.objectField("grant_id", g.grantID)
    w.objectField("scope", g.scope.rawValue)
    w.objectField("agent_id", g.agentID)
    w.objectField("session_id", g.sessionID)
    w.objectField("tool_name", g.toolName)
    w.objectField("rule", g.rule)
    w.objectField("policy_version", g.policyVersion)
    w.key("approvers")
    w.beginArray()
    for approver in g.approvers { w.string(approver) }
    w.endArray()
    w.objectField("request_id", g.requestID)
    w.objectField("created_at", isoTime(g.createdAt))
    w.objectField("expires_at", isoTime(g.expiresAt))
    w.endObject()
}

/// A stored decision body, read back to answer a redelivered or retried call.
struct StoredDecision {
    let object: JSONObject
    let bytes: [UInt8]

    /// nil when the stored body is not a JSON object (then it is sent again as it is).
    init?(_ bytes: [UInt8]) {
        guard case .success(let object) = parseObject(bytes) else { return nil }
        self.object = object
        self.bytes = bytes
    }

    var resolution: Resolution? { object["resolution"]?.stringValue.flatMap(Resolution.init(rawValue:)) }
    var toolName: String? { object["tool_name"]?.stringValue }
    var reason: String? { object["reason"]?.stringValue }
    var correlationID: String? { object["correlation_id"]?.stringValue }

    /// The body with `correlation_id` set to the one of the message being answered, so that a
    /// client matching on either the property or the field finds its answer.
    func answering(correlationID: String?) -> [UInt8] {
        let current = object["correlation_id"]?.stringValue
        guard current != correlationID else { return bytes }
        var patched = object
        patched["correlation_id"] = correlationID.map(JSONValue.string) ?? .null
        return JSONValue.object(patched).serialized()
    }
}

/// `body` re-addressed to another correlation id (unchanged when it cannot be read).
func answering(_ body: [UInt8], correlationID: String?) -> [UInt8] {
    StoredDecision(body)?.answering(correlationID: correlationID) ?? body
}
