import TollgateJSON
import TollgatePolicy
import TollgateStore

// Approve with edits: an approving vote may carry corrected `arguments`. The edited call is
// evaluated against the policy as if the agent had sent it; if it may stand, it replaces the
// pending arguments and the tally starts again (a new round) with this approval.
extension Gate {
    /// What an edited call leads to.
    enum EditCheck: Equatable {
        /// The same arguments as the pending ones (by canonical JSON): a plain approval.
        case unchanged
        /// The edited arguments, as JSON text, may replace the pending ones.
        case edited(String)
        /// Why the edit is refused.
        case refused(String)
    }

    /// Evaluates the call of `escalation` with `arguments` in place of its own, against the
    /// policy in force. The edit may stand when the policy allows the edited call or escalates it
    /// under the same rule; it is refused when the policy denies it (naming the rule), and when
    /// it escalates under another rule: the approvers of this request are not necessarily those
    /// of that rule, so an edit could otherwise move a call past the people it needs.
    func checkEdit(_ arguments: JSONObject, of escalation: EscalationRecord) -> EditCheck {
        let edited = JSONValue.object(arguments)
        if case .success(let current) = parseObject(Array(escalation.argumentsJSON.utf8)),
            canonicalJSON(.object(current)) == canonicalJSON(edited)
        {
            return .unchanged
        }
        let requestID = escalation.requestID
        if let stored = escalation.stagesJSON,
            ApprovalStep.decode(stored).map({ escalation.phase >= $0.count || $0[escalation.phase].stage > 0 }) ?? true
        {
            return .refused(
                "request \(requestID) is past its first approval stage: arguments can be edited only in the first stage, where every approval starts again"
            )
        }
        guard let stored = escalation.callContextJSON, case .success(var context) = parseObject(Array(stored.utf8))
        else {
            return .refused(
                "request \(requestID) was parked without its call's context (by an older worker), so an edit cannot be evaluated: approve or deny it as it is"
            )
        }
        context["arguments"] = edited
        let verdict = policy.decide(context, escalationKeyword: configuration.escalationKeyword)
        let rule = escalation.rule ?? "default"
        switch verdict.outcome {
        case .deny:
            return .refused(
                "the edited call is denied by rule \(verdict.rule ?? "default") (\(verdict.reason)): the vote does not count"
            )
        case .escalate where verdict.rule != escalation.rule:
            return .refused(
                "the edited call falls under rule \(verdict.rule ?? "default"), not \(rule) of request \(requestID): it needs that rule's approvers, so the agent must make that call itself"
            )
        case .allow, .escalate:
            return .edited(String(decoding: edited.serialized(), as: UTF8.self))
        }
    }

    /// The voted notice's note for an accepted edit.
    static func editNote(by voter: String, superseded: [String]) -> String {
        let earlier =
            superseded.isEmpty
            ? "no earlier votes"
            : "the votes of \(superseded.joined(separator: ", ")) were for other arguments and no longer count"
        return "arguments edited by \(voter); the tally starts again with this approval (\(earlier))"
    }
}
