import Testing
import TollgateStore

@testable import TollgateWorker

/// Re-homing budgets: a worker hands its counts to the agents' owners through the ring (itself
/// included) and a marker follows them into its own queue. Calls already queued here are
/// decided against the counts in transit; the quorum harness policy allows 3 calls per agent.
@Suite("Re-homing budgets")
struct RehomeTests {
    static let workerUser = "tollgate-worker"

    func harness() throws -> GateHarness {
        try GateHarness(policy: quorumPolicyYAML) { $0.workerUsers = [Self.workerUser] }
    }

    /// What the broker would deliver for a message the worker published (hand-off or marker).
    func delivered(_ message: OutboundMessage, by user: String? = workerUser) -> Inbound {
        deliveredToolCall(message, by: user)
    }

    func rehome(_ h: GateHarness) throws -> (handoffs: [OutboundMessage], marker: OutboundMessage) {
        let out = try h.store.transaction { try h.gate.rehome(databaseID: try h.store.databaseID()) }
        let handoffs = out.filter { $0.headers.contains { $0.value == BudgetHandoff.kind } }
        let marker = try #require(out.first { $0.headers.contains { $0.value == RehomeMarker.kind } })
        #expect(out.last?.messageID == marker.messageID, "the marker is published after the hand-offs")
        return (handoffs, marker)
    }

    @Test("calls queued ahead of a hand-off that comes back are decided against the count in transit")
    func queuedCallsSeeTheCountInTransit() throws {
        let h = try harness()
        for _ in 0..<2 { #expect(try h.handle(h.call()).reply?.decision == "allow") }
        let (handoffs, marker) = try rehome(h)
        #expect(handoffs.count == 1)
        #expect(marker.exchange == "" && marker.routingKey == h.topology.toolCallsQueue)
        #expect(try h.store.budgets().isEmpty, "the count left the budgets table")
        #expect(try h.store.budgetUsed(agentID: "finance-agent", sessionID: "") == 2, "but still counts here")
        // Calls that were queued before the hand-off: one more is allowed, then the budget is spent.
        #expect(try h.handle(h.call()).reply?.decision == "allow")
        let spent = try h.handle(h.call()).reply
        #expect(spent?.decision == "deny" && spent?.resolution == "limit")
        // The hand-off comes back: its count moves out of transit into the budget, nothing doubles.
        #expect(try h.handle(delivered(handoffs[0])).isEmpty)
        #expect(try h.store.budgetsInTransit().isEmpty)
        #expect(try h.store.budgetUsed(agentID: "finance-agent", sessionID: "") == 3)
        #expect(try h.handle(delivered(marker)).isEmpty)
        #expect(try h.store.budgetUsed(agentID: "finance-agent", sessionID: "") == 3)
        #expect(try h.handle(h.call()).reply?.resolution == "limit")
    }

    @Test("a count handed to another worker stops counting here when the marker arrives")
    func markerEndsWhatWentElsewhere() throws {
        let h = try harness()
        for _ in 0..<3 { _ = try h.handle(h.call()) }
        let (_, marker) = try rehome(h)
        #expect(try h.handle(h.call()).reply?.resolution == "limit", "queued ahead of the marker: still counted")
        // The hand-off was routed to another worker (the agent moved): only the marker comes here.
        #expect(try h.handle(delivered(marker)).isEmpty)
        #expect(try h.store.budgetsInTransit().isEmpty)
        #expect(try h.store.budgetUsed(agentID: "finance-agent", sessionID: "") == 0)
        // A redelivered marker changes nothing.
        #expect(try h.handle(delivered(marker)).isEmpty)
    }

    @Test("two re-homings before their hand-offs arrive: each count leaves transit once")
    func twoEpochs() throws {
        let h = try harness()
        _ = try h.handle(h.call(agent: "a1"))
        let first = try rehome(h)
        _ = try h.handle(h.call(agent: "a1"))
        let second = try rehome(h)
        #expect(try h.store.budgetUsed(agentID: "a1", sessionID: "") == 2)
        _ = try h.handle(delivered(first.handoffs[0]))
        _ = try h.handle(delivered(first.marker))
        #expect(try h.store.budgetUsed(agentID: "a1", sessionID: "") == 2, "the second epoch is still in transit")
        _ = try h.handle(delivered(second.handoffs[0]))
        _ = try h.handle(delivered(second.marker))
        #expect(try h.store.budgetUsed(agentID: "a1", sessionID: "") == 2)
        #expect(try h.store.budgetsInTransit().isEmpty)
    }

    @Test("a marker from someone who is not a worker user, or of another database, is refused and changes nothing")
    func forgedMarker() throws {
        let h = try harness()
        for _ in 0..<3 { _ = try h.handle(h.call()) }
        let (_, marker) = try rehome(h)
        let forged = try h.handle(delivered(marker, by: "finance-agent"))
        #expect(forged.deadLetters.count == 1)
        #expect(forged.deadLetters.first?.header["x-tollgate-error"]?.contains("not a worker user") == true)
        var other = marker
        other.body = RehomeMarker(databaseID: "another-db", epoch: 1, fromWorker: "w2").encoded()
        let foreign = try h.handle(delivered(other))
        #expect(foreign.deadLetters.first?.header["x-tollgate-error"]?.contains("not this worker's") == true)
        #expect(try h.store.budgetUsed(agentID: "finance-agent", sessionID: "") == 3, "the count is still in transit")
        #expect(try h.handle(h.call()).reply?.resolution == "limit")
    }

    @Test("a draining worker forgets its counts at once and sends no marker")
    func leaving() throws {
        let h = try harness()
        _ = try h.handle(h.call())
        let out = try h.store.transaction {
            try h.gate.rehome(databaseID: try h.store.databaseID(), leaving: true)
        }
        #expect(out.count == 1 && out[0].headers.contains { $0.value == BudgetHandoff.kind })
        #expect(try h.store.budgetsInTransit().isEmpty)
        #expect(try h.store.budgetUsed(agentID: "finance-agent", sessionID: "") == 0)
    }
}
