import Logging
import TollgateJSON
import TollgateStore

// Votes: who voted (the broker-checked `user_id`, or the person a trusted gateway names), whether
// the vote counts (`Tally`), and what it decides.
extension Gate {
    /// Applies one vote. Must run inside a store transaction.
    func handleVote(_ input: Inbound, now: Millis) throws -> [OutboundMessage] {
        // The body is parsed once: a revocation or a vote (nil: too large to parse).
        let body = sizeProblem(input) == nil ? parseObject(input.body) : nil
        if case .success(let object) = body, GrantRevocation.isRevocation(object) {
            return try handleRevocation(input, object: object, now: now)
        }
        let publisher = input.userID ?? ""
        let fingerprint = input.messageID == nil ? input.fingerprint() : nil
        if let seen = try seenVote(input, publisher: publisher, fingerprint: fingerprint) {
            counters.duplicates += 1
            return reply(seen.reply, to: input)
        }
        var messages: [OutboundMessage] = []
        let answer: VoteReply
        switch try judge(input, body: body) {
        case .invalid(let problem, let requestID):
            counters.votesRejected += 1
            answer = VoteReply(requestID: requestID, accepted: false, error: problem)
            messages.append(deadLetter(input, reason: problem, queue: topology.approvalsQueue))
            try auditVote(
                requestID: requestID,
                escalation: nil,
                voter: input.userID,
                choice: nil,
                accepted: false,
                detail: problem,
                now: now
            )
        case .rejected(let problem, let vote, let escalation, let voter):
            counters.votesRejected += 1
            answer = VoteReply(requestID: vote.requestID, accepted: false, error: problem)
            try auditVote(
                requestID: vote.requestID,
                escalation: escalation,
                voter: voter,
                choice: vote.decision,
                accepted: false,
                detail: problem,
                now: now
            )
            logger.notice(
                "rejected a vote",
                metadata: [
                    LogKey.requestID: "\(vote.requestID)", LogKey.voter: "\(voter ?? "-")", LogKey.reason: "\(problem)",
                ]
            )
        case .accepted(let ballot):
            counters.votesAccepted += 1
            let (status, decided) = try count(ballot, now: now)
            messages += decided
            answer = VoteReply(
                requestID: ballot.vote.requestID,
                accepted: true,
                status: status,
                grantID: status == .allow ? try store.grant(requestID: ballot.vote.requestID)?.grantID : nil
            )
        }
        return messages
            + (try answered(input, with: answer.encoded(), publisher: publisher, fingerprint: fingerprint, now: now))
    }

    /// Records a vote (or revocation) message as handled, with the answer a redelivery gets,
    /// and returns that answer for its `reply_to`.
    func answered(
        _ input: Inbound,
        with body: [UInt8],
        publisher: String,
        fingerprint: [UInt8]?,
        now: Millis
    ) throws
        -> [OutboundMessage]
    {
        let replyBody = input.replyTo == nil ? [] : body
        try store.insertVoteInput(
            VoteInputRecord(
                publisher: publisher,
                messageID: input.messageID,
                fingerprint: fingerprint,
                receivedAt: now,
                reply: replyBody
            )
        )
        return reply(replyBody, to: input)
    }

    /// The record of this vote message when it was handled before (same publisher and
    /// `message_id`, or the same content redelivered without one).
    func seenVote(_ input: Inbound, publisher: String, fingerprint: [UInt8]?) throws -> VoteInputRecord? {
        if let messageID = input.messageID { return try store.voteInput(publisher: publisher, messageID: messageID) }
        if input.redelivered, let fingerprint { return try store.voteInput(fingerprint: fingerprint) }
        return nil
    }

    /// A vote that counts, with what it counts towards.
    struct Ballot {
        var vote: Vote
        var escalation: EscalationRecord
        var tally: Tally
        var voter: String
        /// How the voter was named, for the audit entry ("via trusted gateway G").
        var note: String?
        /// Approve with edits: the edited arguments (JSON text) that replace the pending ones.
        var edit: String? = nil
    }

    enum Judgement {
        case invalid(String, requestID: String?)
        case rejected(String, Vote, EscalationRecord?, voter: String?)
        case accepted(Ballot)
    }

    /// Whether a vote counts. A record that cannot be read rejects the vote (and is logged): it
    /// never counts towards a decision.
    private func judge(_ input: Inbound, body: Result<JSONObject, InvalidInput>?) throws -> Judgement {
        guard let body else {
            return .invalid(sizeProblem(input)?.description ?? "message too large", requestID: nil)
        }
        let vote: Vote
        switch body.flatMap(Vote.parse) {
        case .failure(let problem):
            if case .success(let object) = body {
                return .invalid(problem.description, requestID: object["request_id"]?.stringValue)
            }
            return .invalid(problem.description, requestID: nil)
        case .success(let parsed): vote = parsed
        }
        guard let userID = input.userID else {
            return .rejected(
                "vote has no user_id property: publish it with user_id set to your RabbitMQ user name (the broker checks it)",
                vote,
                nil,
                voter: nil
            )
        }
        let (voter, note) = identify(approver: vote.approver, via: vote.via, publisher: userID)
        do {
            guard let escalation = try store.escalation(requestID: vote.requestID) else {
                return .rejected(
                    "request \(vote.requestID) is not held by worker \(configuration.workerID)",
                    vote,
                    nil,
                    voter: voter
                )
            }
            _ = try steps(of: escalation)  // stages that cannot be read take no votes
            let tally = Tally(escalation, votes: try store.votes(requestID: vote.requestID))
            // A voter of this round may still edit: the edit starts a new round.
            let rejection = tally.rejection(of: voter)
            if let rejection, !(rejection == .alreadyVoted && vote.arguments != nil) {
                return .rejected(
                    rejection.message(voter: voter, requestID: vote.requestID),
                    vote,
                    escalation,
                    voter: voter
                )
            }
            let comment = vote.comment?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            if escalation.requireComment.requires(vote.decision), comment.isEmpty {
                let what = escalation.requireComment == .always ? "vote on" : "deny"
                return .rejected(
                    "a comment is required to \(what) request \(vote.requestID) (rule \(escalation.rule ?? "default"))",
                    vote,
                    escalation,
                    voter: voter
                )
            }
            var edit: String?
            if let arguments = vote.arguments {
                switch checkEdit(arguments, of: escalation) {
                case .refused(let problem): return .rejected(problem, vote, escalation, voter: voter)
                case .edited(let edited): edit = edited
                case .unchanged:
                    if let rejection {
                        return .rejected(
                            rejection.message(voter: voter, requestID: vote.requestID),
                            vote,
                            escalation,
                            voter: voter
                        )
                    }
                }
            }
            if let grant = vote.grant, let problem = grantProblem(grant, for: escalation) {
                return .rejected(problem, vote, escalation, voter: voter)
            }
            return .accepted(
                Ballot(vote: vote, escalation: escalation, tally: tally, voter: voter, note: note, edit: edit)
            )
        } catch {
            // (`catch ... where` on a typed-throws body hangs the Swift 6.3 compiler.)
            guard error.kind == .unreadable else { throw error }
            logger.error(
                "a record of this request cannot be read; the vote does not count",
                metadata: [LogKey.requestID: "\(vote.requestID)", LogKey.error: "\(error)"]
            )
            return .rejected(
                "the worker cannot read its record of request \(vote.requestID) (\(error.message)): the vote does not count",
                vote,
                nil,
                voter: voter
            )
        }
    }

    /// The person who voted: the publisher, or for a trusted gateway the person it names.
    func identify(approver: String?, via: String?, publisher: String) -> (voter: String, note: String?) {
        guard let approver else { return (publisher, nil) }
        if configuration.trustedGateways.contains(publisher) {
            return (approver, "via trusted gateway \(publisher)" + (via.map { " (\($0))" } ?? ""))
        }
        return (publisher, "approver field '\(approver)' ignored: \(publisher) is not a trusted gateway")
    }

    /// Records an accepted vote and decides the request when the quorum is reached.
    private func count(_ ballot: Ballot, now: Millis) throws -> (EscalationStatus, [OutboundMessage]) {
        let vote = ballot.vote
        var escalation = ballot.escalation
        var tally = ballot.tally
        var editNote: String?
        if let edited = ballot.edit {
            // A new round: the earlier votes were for other arguments.
            try store.editEscalation(requestID: vote.requestID, argumentsJSON: edited, round: escalation.round)
            escalation.argumentsJSON = edited
            escalation.round += 1
            tally = Tally(escalation, votes: try store.votes(requestID: vote.requestID))
            editNote = Self.editNote(by: ballot.voter, superseded: tally.superseded)
        }
        try store.insertVote(
            VoteRecord(
                requestID: vote.requestID,
                voter: ballot.voter,
                decision: vote.decision,
                comment: vote.comment,
                at: now,
                round: escalation.round,
                argumentsJSON: ballot.edit,
                grant: vote.grant,
                phase: escalation.phase
            )
        )
        var detail = vote.comment ?? ""
        if let note = ballot.note { detail = detail.isEmpty ? note : "\(detail) (\(note))" }
        if let grant = vote.grant {
            detail += (detail.isEmpty ? "" : "; ") + "asks for a \(grant.scope.rawValue) grant of \(grant.ttlSeconds) s"
        }
        if let edited = ballot.edit, let editNote {
            detail = "\(editNote); arguments now \(edited)" + (detail.isEmpty ? "" : ": \(detail)")
        }
        try auditVote(
            requestID: vote.requestID,
            escalation: escalation,
            voter: ballot.voter,
            choice: vote.decision,
            accepted: true,
            detail: detail.isEmpty ? nil : detail,
            now: now
        )
        guard case .decided(let decision, var deciders) = tally.count(vote.decision, by: ballot.voter) else {
            // Not decided yet: consoles see the quorum move (and an edit).
            return (.pending, try enqueue([notice(escalation, tally: tally, note: editNote)]))
        }
        if decision == .allow, let steps = try steps(of: escalation) {
            // A stage approved: on to the next one, or decided after the last.
            let label = steps[escalation.phase].label
            let why = "\(label) approved by \(deciders.joined(separator: ", "))"
            if let moved = try advanceAfterApproval(escalation, steps: steps, why: why, now: now) {
                // Consoles see the stage's last vote (`voted`), then the next stage (`pending`).
                return (.pending, try enqueue([notice(escalation, tally: tally)]) + moved)
            }
            deciders = try stagedApprovers(escalation, steps: steps)
        }
        let verb = decision == .allow ? "approved" : "denied"
        if decision == .allow { counters.approved += 1 } else { counters.rejectedByPeople += 1 }
        let edited = escalation.round > 0 ? " with arguments edited by \(try editors(of: escalation))" : ""
        let messages = try finalize(
            escalation,
            decision,
            resolution: decision == .allow ? .approved : .denied,
            deciders: deciders,
            reason: "\(verb) by \(deciders.joined(separator: ", "))\(edited)" + (vote.comment.map { ": \($0)" } ?? ""),
            now: now
        )
        return (EscalationStatus(decision), messages)
    }

    /// Who edited the arguments into their current form (the voter who started this round).
    private func editors(of escalation: EscalationRecord) throws -> String {
        let votes = try store.votes(requestID: escalation.requestID)
        return votes.first { $0.round == escalation.round && $0.argumentsJSON != nil }?.voter ?? "an approver"
    }

    private func auditVote(
        requestID: String?,
        escalation: EscalationRecord?,
        voter: String?,
        choice: VoteChoice?,
        accepted: Bool,
        detail: String?,
        now: Millis
    ) throws {
        try store.appendAudit(
            AuditRecord(
                at: now,
                kind: .vote,
                requestID: requestID,
                agentID: escalation?.agentID,
                toolName: escalation?.toolName,
                decision: choice?.rawValue,
                resolution: nil,
                rule: escalation?.rule,
                voter: voter,
                accepted: accepted,
                detail: detail,
                policyVersion: escalation?.policyVersion
            )
        )
    }
}
