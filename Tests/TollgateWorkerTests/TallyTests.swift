// The vote rules as a pure value.
import Testing
import TollgateStore

@testable import TollgateWorker

@Suite("Tally")
struct TallyTests {
    func escalation(
        approvers: [String] = [],
        approvals: Int = 1,
        denials: Int = 1,
        status: EscalationStatus = .pending
    )
        -> EscalationRecord
    {
        EscalationRecord(
            requestID: "w1-r",
            workerID: "w1",
            agentID: "agent",
            sessionID: "",
            toolName: "t",
            argumentsJSON: "{}",
            reason: nil,
            rule: nil,
            message: "m",
            policyVersion: "p",
            approvers: approvers,
            requiredApprovals: approvals,
            requiredDenials: denials,
            timeoutAction: .deny,
            createdAt: 0,
            deadline: 1,
            replyTo: nil,
            correlationID: nil,
            status: status,
            resolution: status == .pending ? nil : .timeout,
            charged: false
        )
    }

    func vote(_ voter: String, _ choice: VoteChoice) -> VoteRecord {
        VoteRecord(requestID: "w1-r", voter: voter, decision: choice, comment: nil, at: 0)
    }

    @Test("rejections, in order: decided, own request, not an approver, already voted")
    func rejections() {
        #expect(Tally(escalation(status: .deny), votes: []).rejection(of: "a") == .alreadyDecided(.deny, .timeout))
        #expect(Tally(escalation(), votes: []).rejection(of: "agent") == .ownRequest)
        #expect(Tally(escalation(approvers: ["agent"]), votes: []).rejection(of: "agent") == .ownRequest)
        #expect(Tally(escalation(approvers: ["b"]), votes: []).rejection(of: "a") == .notAnApprover(approvers: ["b"]))
        #expect(Tally(escalation(), votes: [vote("a", .deny)]).rejection(of: "a") == .alreadyVoted)
        #expect(Tally(escalation(), votes: []).rejection(of: "anyone") == nil, "no list: anyone but the agent")
    }

    @Test("approvals and denials decide at their thresholds; denials first")
    func outcomes() {
        var tally = Tally(escalation(approvals: 2, denials: 2), votes: [])
        #expect(tally.count(.approve, by: "a") == .open(approvals: ["a"], denials: []))
        #expect(tally.count(.deny, by: "b") == .open(approvals: ["a"], denials: ["b"]))
        #expect(tally.count(.deny, by: "c") == .decided(.deny, by: ["b", "c"]))
        var approve = Tally(escalation(approvals: 2), votes: [vote("a", .approve)])
        #expect(approve.count(.approve, by: "b") == .decided(.allow, by: ["a", "b"]))
        #expect(
            Tally(escalation(approvals: 1, denials: 1), votes: [vote("a", .approve), vote("b", .deny)]).outcome
                == .decided(.deny, by: ["b"])
        )
    }

    @Test("the messages name the voter and the request")
    func messages() {
        #expect(
            Tally.Rejection.notAnApprover(approvers: ["m", "c"]).message(voter: "x", requestID: "r")
                == "x is not an approver of this request (approvers: m, c)"
        )
        #expect(
            Tally.Rejection.alreadyDecided(.allow, .approved).message(voter: "x", requestID: "r")
                == "request r is already decided: allow (approved)"
        )
    }
}

@Suite("Clock watch")
struct ClockWatchTests {
    final class HandClock: WorkerClock {
        var wall: Millis = 1_000_000
        var monotonic: Millis = 5
        func wallMillis() -> Millis { wall }
        func monotonicMillis() -> Millis { monotonic }
    }

    @Test("steps of the wall clock are seen, drift and waits are not")
    func steps() {
        let clock = HandClock()
        var watch = ClockWatch()
        #expect(watch.read(clock).step == nil)
        clock.wall += 250
        clock.monotonic += 250
        #expect(watch.read(clock).step == nil, "time passing is no step")
        clock.wall += 300
        #expect(watch.read(clock).step == nil, "under a second: drift")
        clock.wall -= 3_600_000
        clock.monotonic += 10
        #expect(watch.read(clock).step == -3_600_010, "the wall moved back an hour while 10 ms passed")
        clock.wall += 7_200_000
        #expect(watch.read(clock).step == 7_200_000)
    }
}
