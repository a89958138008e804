import Logging
import TollgateStore

// Approval stages (`escalation.stages`): the stages decide in order, each with its own approvers,
// quorum and deadline; the request is allowed when every stage has approved, and one deny in any
// stage ends it. The escalation record always holds the current step's approvers, quorum,
// deadline and timeout action, so votes and deadlines work as for a single stage; this file
// moves a request from step to step.
extension Gate {
    /// The steps of a staged escalation; nil without stages. Throws `unreadable` when the stored
    /// steps cannot be read (the caller fails closed).
    func steps(of escalation: EscalationRecord) throws(StoreError) -> [ApprovalStep]? {
        guard let stored = escalation.stagesJSON else { return nil }
        guard let steps = ApprovalStep.decode(stored), escalation.phase < steps.count else {
            throw StoreError(
                kind: .unreadable,
                message: "the approval stages of \(escalation.requestID) cannot be read"
            )
        }
        return steps
    }

    /// The step's quorum was met (or the step was waived): on to the next stage, with its own
    /// pending notice and deadline; nil after the last stage (the request is then decided).
    func advanceAfterApproval(
        _ escalation: EscalationRecord,
        steps: [ApprovalStep],
        why: String,
        now: Millis
    ) throws -> [OutboundMessage]? {
        guard let next = ApprovalStep.nextStage(after: escalation.phase, in: steps) else { return nil }
        return try move(escalation, steps: steps, to: next, why: why, now: now)
    }

    /// A staged escalation whose step's deadline passed: denied, handed to the stage's fallback
    /// group, or (a waived stage) moved on or allowed.
    func stageTimedOut(_ escalation: EscalationRecord, steps: [ApprovalStep], now: Millis) throws -> [OutboundMessage] {
        let step = steps[escalation.phase]
        let waited = "\(step.label) had no decision within \(step.timeoutSeconds) s"
        switch step.onTimeout {
        case .deny:
            return try finalize(
                escalation,
                .deny,
                resolution: .timeout,
                deciders: [],
                reason: "\(waited): denied",
                now: now
            )
        case .fallback:
            return try move(
                escalation,
                steps: steps,
                to: escalation.phase + 1,
                why: "\(waited): handed to its fallback group",
                now: now
            )
        case .allow:
            let why = "\(waited): waived (on_timeout: allow)"
            if let moved = try advanceAfterApproval(escalation, steps: steps, why: why, now: now) { return moved }
            return try finalize(
                escalation,
                .allow,
                resolution: .timeout,
                deciders: try stagedApprovers(escalation, steps: steps),
                reason: why,
                now: now
            )
        }
    }

    /// Everyone whose approval counted, stage after stage: the approvals of the current round in
    /// each step that reached its quorum (a step that timed out, to its fallback group or waived,
    /// counts nobody).
    func stagedApprovers(_ escalation: EscalationRecord, steps: [ApprovalStep]) throws -> [String] {
        let votes = try store.votes(requestID: escalation.requestID).filter {
            $0.round == escalation.round && $0.decision == .approve
        }
        var approvers: [String] = []
        for (phase, step) in steps.enumerated() where phase <= escalation.phase {
            let here = votes.filter { $0.phase == phase }.map(\.voter)
            guard here.count >= step.requiredApprovals else { continue }
            for voter in here where !approvers.contains(voter) { approvers.append(voter) }
        }
        return approvers
    }

    /// Everyone who may approve in some step of the stages.
    static func allApprovers(_ steps: [ApprovalStep]) -> [String] {
        var all: [String] = []
        for step in steps { for approver in step.approvers where !all.contains(approver) { all.append(approver) } }
        return all
    }

    /// Moves the request to step `phase`: its approvers, quorum, deadline and timeout action,
    /// an audit entry, a log line and a `pending.<tool>` notice naming the stage.
    private func move(
        _ escalation: EscalationRecord,
        steps: [ApprovalStep],
        to phase: Int,
        why: String,
        now: Millis
    ) throws -> [OutboundMessage] {
        guard phase < steps.count else {
            throw StoreError(
                kind: .unreadable,
                message: "the approval stages of \(escalation.requestID) have no step \(phase)"
            )
        }
        let step = steps[phase]
        var moved = escalation
        moved.phase = phase
        moved.approvers = step.approvers
        moved.requiredApprovals = step.requiredApprovals
        moved.timeoutAction = step.finalTimeoutAction
        moved.deadline = Self.deadline(now, seconds: step.timeoutSeconds)
        guard
            try store.advanceEscalation(
                requestID: escalation.requestID,
                from: escalation.phase,
                to: phase,
                approvers: moved.approvers,
                requiredApprovals: moved.requiredApprovals,
                deadline: moved.deadline,
                timeoutAction: moved.timeoutAction
            )
        else { return [] }
        try auditEscalated(escalation, detail: "\(why); now \(step.label): \(Self.terms(moved))", now: now)
        logger.info(
            "moved an escalated call to its next approval stage",
            metadata: [
                LogKey.requestID: "\(escalation.requestID)", "stage": "\(step.label)",
                "deadline": "\(isoTime(moved.deadline))", LogKey.reason: "\(why)",
            ]
        )
        return try enqueue([notice(moved)])
    }
}
