import TollgateStore

/// Who may vote on an escalation and when its votes decide it: a pure value, built from the
/// escalation and its accepted votes, with no storage behind it.
struct Tally: Equatable {
    /// Why a vote does not count.
    enum Rejection: Equatable {
        case alreadyDecided(EscalationStatus, Resolution?)
        case ownRequest
        case notAnApprover(approvers: [String])
        case alreadyVoted

        func message(voter: String, requestID: String) -> String {
            switch self {
            case .alreadyDecided(let status, let resolution):
                "request \(requestID) is already decided: \(status.rawValue) (\(resolution?.rawValue ?? "-"))"
            case .ownRequest:
                "\(voter) is the agent that made the request and cannot vote on it"
            case .notAnApprover(let approvers):
                "\(voter) is not an approver of this request (approvers: \(approvers.joined(separator: ", ")))"
            case .alreadyVoted:
                "\(voter) has already voted on request \(requestID)"
            }
        }
    }

    /// What a counted vote leads to.
    enum Outcome: Equatable {
        /// Not decided yet: the voters so far.
        case open(approvals: [String], denials: [String])
        /// Decided by the voters listed (the approvers for `allow`, the deniers for `deny`).
        case decided(FinalDecision, by: [String])
    }

    let agentID: String
    let status: EscalationStatus
    let resolution: Resolution?
    /// Who may vote; empty: anyone but the agent.
    let approvers: [String]
    let requiredApprovals: Int
    let requiredDenials: Int
    private(set) var approvals: [String]
    private(set) var denials: [String]
    /// The escalation's round: 0, one more per accepted edit of the arguments.
    let round: Int
    /// Who voted in earlier rounds (on other arguments) and has not voted in this one: their
    /// votes no longer count.
    private(set) var superseded: [String]

    init(_ escalation: EscalationRecord, votes: [VoteRecord]) {
        agentID = escalation.agentID
        status = escalation.status
        resolution = escalation.resolution
        approvers = escalation.approvers
        requiredApprovals = escalation.requiredApprovals
        requiredDenials = escalation.requiredDenials
        round = escalation.round
        // Approvals of this round (an edit starts a new one) in this step of a staged approval.
        // Denials of this step stand across edits: an edit cannot undo someone else's no.
        let step = votes.filter { $0.phase == escalation.phase }
        let current = step.filter { $0.round == escalation.round }
        approvals = current.filter { $0.decision == .approve }.map(\.voter)
        var denied: [String] = []
        for vote in step where vote.decision == .deny && !denied.contains(vote.voter) { denied.append(vote.voter) }
        denials = denied
        var earlier: [String] = []
        for vote in step
        where vote.round < escalation.round && vote.decision == .approve && !earlier.contains(vote.voter) {
            earlier.append(vote.voter)
        }
        superseded = earlier.filter { !current.map(\.voter).contains($0) && !denied.contains($0) }
    }

    /// Why `voter`'s vote would not count, or nil when it counts. The checks run in this order:
    /// decided, own request, approvers list, second vote.
    func rejection(of voter: String) -> Rejection? {
        if status != .pending { return .alreadyDecided(status, resolution) }
        if voter == agentID { return .ownRequest }
        if !approvers.isEmpty, !approvers.contains(voter) { return .notAnApprover(approvers: approvers) }
        if approvals.contains(voter) || denials.contains(voter) { return .alreadyVoted }
        return nil
    }

    /// Counts a vote that `rejection(of:)` let through. Denials decide first: with
    /// `required_denials` deniers the request is denied, with `required_approvals` approvers it
    /// is allowed.
    mutating func count(_ choice: VoteChoice, by voter: String) -> Outcome {
        switch choice {
        case .approve: approvals.append(voter)
        case .deny: denials.append(voter)
        }
        superseded.removeAll { $0 == voter }
        return outcome
    }

    var outcome: Outcome {
        if denials.count >= requiredDenials { return .decided(.deny, by: denials) }
        if approvals.count >= requiredApprovals { return .decided(.allow, by: approvals) }
        return .open(approvals: approvals, denials: denials)
    }
}
