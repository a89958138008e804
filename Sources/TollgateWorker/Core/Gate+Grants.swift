import Logging
import TollgatePolicy
import TollgateStore

// Standing grants: an approving vote may ask that the same agent's calls of the same tool under
// the same rule be allowed without asking again, for a while (in the request's session, or
// anywhere). The grant is made when the request is approved, if every approval that decided it
// asked for one; it covers calls the policy escalates (never one it denies), budgets still apply,
// and it ends at its expiry, when revoked, or when the policy changes (a new policy version).
extension Gate {
    /// Why a vote's grant request cannot be honoured, or nil when it can.
    func grantProblem(_ grant: GrantRequest, for escalation: EscalationRecord) -> String? {
        let rule = escalation.rule ?? "default"
        if escalation.maxGrantSeconds == 0 {
            return
                "rule \(rule) does not allow standing grants (escalation.max_grant_seconds is 0): approve without a grant"
        }
        if grant.ttlSeconds > escalation.maxGrantSeconds {
            return
                "a grant of \(grant.ttlSeconds) s is longer than rule \(rule) allows (escalation.max_grant_seconds: \(escalation.maxGrantSeconds))"
        }
        if grant.scope == .session, escalation.sessionID.isEmpty {
            return
                "request \(escalation.requestID) has no context.session_id, so a session grant would cover nothing: ask for scope agent, or approve without a grant"
        }
        return nil
    }

    /// The grant an approval makes: when every approval among the deciders asked for one, the
    /// narrowest of them (scope `session` if any asked for it, the shortest time).
    func grantMade(
        by deciders: [String],
        of escalation: EscalationRecord,
        votes: [VoteRecord],
        now: Millis
    )
        -> GrantRecord?
    {
        let deciding = votes.filter {
            $0.round == escalation.round && $0.decision == .approve && deciders.contains($0.voter)
        }
        let asked = deciding.compactMap(\.grant)
        guard !deciding.isEmpty, asked.count == deciding.count, escalation.maxGrantSeconds > 0 else { return nil }
        // A request parked under a policy version no longer in force makes no grant: it would cover nothing.
        guard escalation.policyVersion == policy.versionString else { return nil }
        let ttl = min(asked.map(\.ttlSeconds).min() ?? 0, escalation.maxGrantSeconds)
        let session = asked.contains { $0.scope == .session }
        return GrantRecord(
            grantID: "grant-" + makeRequestID(),
            agentID: escalation.agentID,
            sessionID: session ? escalation.sessionID : nil,
            toolName: escalation.toolName,
            rule: escalation.rule,
            policyVersion: escalation.policyVersion,
            approvers: deciders,
            requestID: escalation.requestID,
            createdAt: now,
            expiresAt: now + Millis(ttl) * 1000
        )
    }

    /// Stores a grant made by an approval, with its audit entry.
    func recordGrant(_ grant: GrantRecord, now: Millis) throws {
        try store.insertGrant(grant)
        counters.grantsMade += 1
        try store.appendAudit(
            AuditRecord(
                at: now,
                kind: .grant,
                requestID: grant.requestID,
                agentID: grant.agentID,
                toolName: grant.toolName,
                decision: "made",
                resolution: nil,
                rule: grant.rule,
                voter: grant.approvers.joined(separator: ","),
                accepted: true,
                detail: "grant \(grant.grantID): \(Self.describe(grant))",
                policyVersion: grant.policyVersion
            )
        )
        logger.info(
            "made a standing grant",
            metadata: [
                "grant_id": "\(grant.grantID)", LogKey.agent: "\(grant.agentID)", LogKey.tool: "\(grant.toolName)",
                "scope": "\(grant.scope.rawValue)", "expires_at": "\(isoTime(grant.expiresAt))",
            ]
        )
    }

    /// The grant in force for a call the policy escalated, if any (same agent, tool, rule and
    /// policy version; the call's session for a session grant).
    func grantCovering(_ call: ToolCall, verdict: PolicyDecision, now: Millis) throws -> GrantRecord? {
        try store.grantInForce(
            agentID: call.agentID,
            toolName: call.toolName,
            rule: verdict.rule,
            policyVersion: policy.versionString,
            sessionID: call.sessionID,
            now: now
        )
    }

    /// Ends the grants made under another policy version than the one in force (a reload, or a
    /// start with changed files), so that going back to an earlier version does not bring them
    /// back. Returns how many ended. Must run inside a store transaction.
    @discardableResult
    func endGrantsOfOtherPolicies(now: Millis) throws -> Int {
        let ended = try store.endGrants(notUnder: policy.versionString, at: now)
        if ended > 0 {
            try store.appendAudit(
                AuditRecord(
                    at: now,
                    kind: .grant,
                    requestID: nil,
                    agentID: nil,
                    toolName: nil,
                    decision: "revoke",
                    resolution: nil,
                    rule: nil,
                    voter: nil,
                    accepted: true,
                    detail: "\(ended) standing grant\(ended == 1 ? "" : "s") ended: made under another policy version",
                    policyVersion: policy.versionString
                )
            )
        }
        return ended
    }

    /// What a grant covers and until when, in words.
    static func describe(_ grant: GrantRecord) -> String {
        let scope =
            grant.sessionID.map { "agent \(grant.agentID) in session \($0)" } ?? "agent \(grant.agentID) in any session"
        return
            "\(grant.toolName) under rule \(grant.rule ?? "default") for \(scope), by \(grant.approvers.joined(separator: ", ")), until \(isoTime(grant.expiresAt))"
    }
}
