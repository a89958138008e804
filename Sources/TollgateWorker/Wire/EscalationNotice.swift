import TollgateJSON
import TollgateStore

/// The notice of a parked call, for approval bots (`pending.<tool>` on `tollgate.escalations`).
struct EscalationNotice {
    var escalation: EscalationRecord
    var approveViaExchange: String
    var approveViaRoutingKey: String
    /// The voters so far, for `voted.<tool>` notices and fleet `pending` answers.
    /// `superseded`: who voted in an earlier round, on other arguments (approve with edits).
    var tally: (approvals: [String], denials: [String], superseded: [String])? = nil
    /// What the vote behind a `voted` notice changed, in words (an edit of the arguments).
    var note: String? = nil

    func encoded() -> [UInt8] {
        let e = escalation
        var w = JSONWriter(reservingCapacity: 640)
        w.beginObject()
        w.objectField("request_id", e.requestID)
        w.objectField("agent_id", e.agentID)
        w.objectField("session_id", e.sessionID.isEmpty ? nil : e.sessionID)
        w.objectField("tool_name", e.toolName)
        w.key("arguments")
        w.rawValue(e.argumentsJSON.utf8)
        w.objectField("reason", e.reason)
        w.objectField("rule", e.rule)
        w.objectField("message", e.message)
        w.objectField("created_at", isoTime(e.createdAt))
        w.objectField("deadline", isoTime(e.deadline))
        w.objectField("timeout_action", e.timeoutAction.rawValue)
        w.key("quorum")
        w.beginObject()
        w.objectField("required_approvals", e.requiredApprovals)
        w.objectField("required_denials", e.requiredDenials)
        w.objectField("require_comment", e.requireComment.rawValue)
        w.objectField("max_grant_seconds", e.maxGrantSeconds)
        w.key("approvers")
        w.beginArray()
        for approver in e.approvers { w.string(approver) }
        w.endArray()
        w.endObject()
        w.key("approve_via")
        w.beginObject()
        w.objectField("exchange", approveViaExchange)
        w.objectField("routing_key", approveViaRoutingKey)
        w.endObject()
        w.objectField("policy_version", e.policyVersion)
        w.objectField("edited", e.round > 0)
        w.objectField("round", e.round)
        if let stored = e.stagesJSON, let steps = ApprovalStep.decode(stored), e.phase < steps.count {
            let step = steps[e.phase]
            w.key("stage")
            w.beginObject()
            w.objectField("index", step.stage + 1)
            w.objectField("count", step.stageCount)
            w.objectField("name", step.name)
            w.objectField("fallback", step.isFallback)
            w.objectField("on_timeout", step.onTimeout.rawValue)
            w.endObject()
        }
        if let tally {
            w.key("approvals")
            w.beginArray()
            for voter in tally.approvals { w.string(voter) }
            w.endArray()
            w.key("denials")
            w.beginArray()
            for voter in tally.denials { w.string(voter) }
            w.endArray()
            w.key("superseded")
            w.beginArray()
            for voter in tally.superseded { w.string(voter) }
            w.endArray()
        }
        w.objectField("note", note)
        w.endObject()
        return w.bytes
    }

    /// The notice as one JSON value, to embed in a fleet answer.
    func write(to w: inout JSONWriter) { w.rawValue(encoded()) }
}

/// The answer to a vote that carried `reply_to`.
struct VoteReply {
    var requestID: String?
    var accepted: Bool
    /// The request's status after an accepted vote.
    var status: EscalationStatus?
    var error: String?
    /// The standing grant the approval made, if it made one.
    var grantID: String? = nil

    func encoded() -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 160)
        w.beginObject()
        w.objectField("request_id", requestID)
        w.objectField("accepted", accepted)
        if accepted {
            w.objectField("status", status?.rawValue)
            if let grantID { w.objectField("grant_id", grantID) }
        } else {
            w.objectField("error", error)
        }
        w.endObject()
        return w.bytes
    }
}
