import Logging
import TollgateJSON
import TollgateStore

// Ending a standing grant early (`tollgate revoke`): authorised like a vote on the request that
// made it (the broker-checked `user_id`, or the person a trusted gateway names; an approver of
// that request's rule, never the agent), answered, audited, and harmless when redelivered.
extension Gate {
    /// Handles one revocation from the approvals queue. Must run inside a store transaction.
    func handleRevocation(_ input: Inbound, object: JSONObject, now: Millis) throws -> [OutboundMessage] {
        let publisher = input.userID ?? ""
        let fingerprint = input.messageID == nil ? input.fingerprint() : nil
        if let seen = try seenVote(input, publisher: publisher, fingerprint: fingerprint) {
            counters.duplicates += 1
            return reply(seen.reply, to: input)
        }
        var messages: [OutboundMessage] = []
        let answer: RevocationReply
        switch GrantRevocation.parse(object) {
        case .failure(let problem):
            counters.votesRejected += 1
            let grantID = object["grant_id"]?.stringValue
            answer = RevocationReply(grantID: grantID, revoked: false, error: problem.description)
            messages.append(deadLetter(input, reason: problem.description, queue: topology.approvalsQueue))
            try auditRevocation(
                grantID: grantID,
                grant: nil,
                voter: input.userID,
                accepted: false,
                detail: problem.description,
                now: now
            )
        case .success(let revocation):
            answer = try revoke(revocation, publisher: input.userID, now: now)
            if answer.revoked, let grant = try store.grant(id: revocation.grantID) {
                messages += try enqueue([revokedNotice(grant)])
            }
        }
        return messages
            + (try answered(input, with: answer.encoded(), publisher: publisher, fingerprint: fingerprint, now: now))
    }

    private func revoke(_ revocation: GrantRevocation, publisher: String?, now: Millis) throws -> RevocationReply {
        let id = revocation.grantID
        func refuse(_ problem: String, _ grant: GrantRecord?, voter: String?) throws -> RevocationReply {
            counters.votesRejected += 1
            try auditRevocation(grantID: id, grant: grant, voter: voter, accepted: false, detail: problem, now: now)
            logger.notice(
                "refused to revoke a grant",
                metadata: ["grant_id": "\(id)", LogKey.voter: "\(voter ?? "-")", LogKey.reason: "\(problem)"]
            )
            return RevocationReply(grantID: id, revoked: false, error: problem)
        }
        guard let publisher else {
            return try refuse(
                "revocation has no user_id property: publish it with user_id set to your RabbitMQ user name (the broker checks it)",
                nil,
                voter: nil
            )
        }
        let (voter, note) = identify(approver: revocation.approver, via: revocation.via, publisher: publisher)
        guard let grant = try store.grant(id: id) else {
            return try refuse("grant \(id) is not held by worker \(configuration.workerID)", nil, voter: voter)
        }
        if voter == grant.agentID {
            return try refuse("\(voter) is the agent the grant is for and cannot revoke it", grant, voter: voter)
        }
        // Who may vote on the request that made the grant (in any of its stages) may end it. A
        // record that cannot be read leaves the grant's own approvers.
        var approvers = grant.approvers
        do {
            if let escalation = try store.escalation(requestID: grant.requestID) {
                approvers =
                    escalation.stagesJSON.flatMap(ApprovalStep.decode).map(Self.allApprovers) ?? escalation.approvers
            }
        } catch {
            guard error.kind == .unreadable else { throw error }
        }
        if !approvers.isEmpty, !approvers.contains(voter) {
            return try refuse(
                "\(voter) is not an approver of rule \(grant.rule ?? "default") (approvers: \(approvers.joined(separator: ", ")))",
                grant,
                voter: voter
            )
        }
        if let revokedAt = grant.revokedAt {
            return try refuse(
                "grant \(id) was already revoked at \(isoTime(revokedAt)) by \(grant.revokedBy ?? "?")",
                grant,
                voter: voter
            )
        }
        if grant.expiresAt <= now {
            return try refuse("grant \(id) already expired at \(isoTime(grant.expiresAt))", grant, voter: voter)
        }
        try store.revokeGrant(id: id, by: voter, at: now)
        counters.votesAccepted += 1
        var detail = "grant \(id) revoked"
        if let comment = revocation.comment, !comment.isEmpty { detail += ": \(comment)" }
        if let note { detail += " (\(note))" }
        try auditRevocation(grantID: id, grant: grant, voter: voter, accepted: true, detail: detail, now: now)
        logger.info("revoked a standing grant", metadata: ["grant_id": "\(id)", LogKey.voter: "\(voter)"])
        return RevocationReply(grantID: id, revoked: true)
    }

    /// `revoked.<tool>` on the escalations exchange, so consoles drop the grant.
    private func revokedNotice(_ grant: GrantRecord) -> OutboundMessage {
        var w = JSONWriter(reservingCapacity: 512)
        w.beginObject()
        w.key("grant")
        writeGrant(grant, to: &w)
        w.objectField("revoked_at", grant.revokedAt.map { isoTime($0) })
        w.objectField("revoked_by", grant.revokedBy)
        w.endObject()
        return OutboundMessage(
            exchange: topology.escalationsExchange,
            routingKey: topology.noticeRoutingKey(.revoked, toolName: grant.toolName),
            body: w.bytes
        )
    }

    private func auditRevocation(
        grantID: String?,
        grant: GrantRecord?,
        voter: String?,
        accepted: Bool,
        detail: String,
        now: Millis
    ) throws {
        try store.appendAudit(
            AuditRecord(
                at: now,
                kind: .grant,
                requestID: grant?.requestID,
                agentID: grant?.agentID,
                toolName: grant?.toolName,
                decision: "revoke",
                resolution: nil,
                rule: grant?.rule,
                voter: voter,
                accepted: accepted,
                detail: accepted ? detail : "grant \(grantID ?? "?"): \(detail)",
                policyVersion: grant?.policyVersion
            )
        )
    }
}
