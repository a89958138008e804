import Testing
@testable import TollgatePolicy

/// The escalation fatigue settings: a rule's own limits, `defaults.escalation`'s agent-wide
/// ones, agent-os 5's names for them, and what is refused.
@Suite struct FatigueSettingsTests {
    static let yaml = """
        version: "1.0"
        name: fatigue
        rules:
          - name: transfer
            condition: {field: tool_name, operator: eq, value: transfer_funds}
            action: escalate
            escalation: {max_pending_per_agent: 2, max_new_per_agent: 5, window_seconds: 30}
          - name: email
            condition: {field: tool_name, operator: eq, value: send_email}
            action: escalate
            escalation: {fatigue_threshold: 3, fatigue_window_seconds: 120}
          - name: refund
            condition: {field: tool_name, operator: eq, value: issue_refund}
            action: escalate
        defaults:
          escalation: {max_pending_per_agent: 10, fatigue_threshold: 20}
        """

    @Test func rulesKeepTheirOwnLimitsAndGetTheAgentWideOnes() throws {
        let set = try policy(Self.yaml)
        let rules = Dictionary(uniqueKeysWithValues: set.rulesInOrder.map { ($0.name, $0.escalation) })
        #expect(rules["transfer"]?.ruleLimits == EscalationLimits(maxPending: 2, maxNew: 5, windowSeconds: 30))
        #expect(rules["email"]?.ruleLimits == EscalationLimits(maxNew: 3, windowSeconds: 120))
        // Not inherited: the defaults' limits count all of an agent's escalations instead.
        #expect(rules["refund"]?.ruleLimits == EscalationLimits())
        for name in ["transfer", "email", "refund"] {
            #expect(rules[name]?.agentLimits == EscalationLimits(maxPending: 10, maxNew: 20, windowSeconds: 60))
        }
    }

    @Test func refusedWithFileLineAndColumn() {
        let cases: [(String, String)] = [
            (
                "{max_pending_per_agent: 0}",
                "p.yaml:6:41: 'escalation.max_pending_per_agent' must be a positive integer (got int 0)"
            ),
            (
                "{max_new_per_agent: 3, fatigue_threshold: 3}",
                "p.yaml:6:40: 'escalation.fatigue_threshold' is agent-os 5's name for 'max_new_per_agent': give one of them, not both"
            ),
            (
                "{window_seconds: 30}",
                "p.yaml:6:18: 'escalation.window_seconds' bounds max_new_per_agent (or fatigue_threshold), which this block does not set"
            ),
            (
                "{fatigue_threshold: many}",
                "p.yaml:6:37: 'escalation.fatigue_threshold' must be a positive integer (got str 'many')"
            ),
        ]
        for (block, expected) in cases {
            let yaml = """
                version: "1.0"
                name: p
                rules:
                  - name: r
                    condition: {field: tool_name, operator: eq, value: x}
                    escalation: \(block)
                    action: escalate
                """
            #expect(diagnostics(yaml) == [expected], "\(block)")
        }
    }
}
