import TollgateJSON
import TollgatePolicy
import TollgateStore

// Escalation fatigue: an agent that escalates too often is denied at once, without paging
// anyone, and the notice stream says so (`limited.<tool>`), once per limit and quiet period.
extension Gate {
    /// An escalation limit a call ran into.
    struct LimitHit: Equatable {
        enum Kind: String { case pending, window }
        var kind: Kind
        /// The rule the limit counts, or nil for `defaults.escalation` (all of the agent's
        /// escalations).
        var rule: String?
        var max: Int
        var windowSeconds: Int?
        var count: Int

        /// The setting's name in the policy.
        var setting: String {
            let prefix = rule == nil ? "defaults.escalation." : "escalation."
            switch kind {
            case .pending: return "\(prefix)max_pending_per_agent: \(max)"
            case .window: return "\(prefix)max_new_per_agent: \(max), window_seconds: \(windowSeconds ?? 0)"
            }
        }

        func reason(agentID: String) -> String {
            let what = rule.map { "escalations of rule \($0)" } ?? "escalations"
            switch kind {
            case .pending:
                return
                    "escalation limit: agent \(agentID) has \(count) \(what) waiting for people (\(setting)); denied without asking"
            case .window:
                return
                    "escalation limit: agent \(agentID) made \(count) \(what) in the last \(windowSeconds ?? 0) s (\(setting)); denied without asking"
            }
        }

        /// Identifies the limit for the notice throttle.
        var key: String { "\(kind.rawValue)\u{0}\(rule ?? "")" }
        /// How long after a `limited` notice the same agent and limit get no other.
        var quietMillis: Millis { Millis(windowSeconds ?? 60) * 1000 }
    }

    /// The first limit this escalation would break: the rule's own, then the agent-wide ones of
    /// `defaults.escalation`; pending before new. Nil when none is set or none is reached.
    func limitReached(_ call: ToolCall, verdict: PolicyDecision, now: Millis) throws -> LimitHit? {
        guard let spec = verdict.escalation else { return nil }
        let scopes: [(EscalationLimits, String?)] = [(spec.ruleLimits, verdict.rule), (spec.agentLimits, nil)]
        for (limits, rule) in scopes where !limits.isEmpty {
            if let max = limits.maxPending {
                let pending = try store.pendingCount(agentID: call.agentID, rule: rule)
                if pending >= max { return LimitHit(kind: .pending, rule: rule, max: max, count: pending) }
            }
            if let max = limits.maxNew {
                let since = now - Millis(limits.windowSeconds) * 1000
                let recent = try store.escalationCount(agentID: call.agentID, since: since, rule: rule)
                if recent >= max {
                    return LimitHit(
                        kind: .window,
                        rule: rule,
                        max: max,
                        windowSeconds: limits.windowSeconds,
                        count: recent
                    )
                }
            }
        }
        return nil
    }

    /// Denies a call whose escalation broke `hit`: `resolution: limit`, audited like every
    /// immediate decision, and a `limited.<tool>` notice (through the outbox) unless one went out
    /// for this agent and limit within its quiet period.
    func limitEscalation(
        _ input: Inbound,
        decided: ImmediateDecision,
        hit: LimitHit,
        fingerprint: [UInt8]?,
        now: Millis
    ) throws -> [OutboundMessage] {
        counters.escalationsLimited += 1
        let call = decided.call
        let reason = hit.reason(agentID: call.agentID)
        let message = decided.message(.deny, .limit, reason: reason, correlationID: input.correlationID)
        logger.notice(
            "escalation limit reached: denied without asking",
            metadata: [
                LogKey.requestID: "\(decided.requestID)", LogKey.agent: "\(call.agentID)",
                LogKey.tool: "\(call.toolName)", LogKey.rule: "\(decided.verdict.rule ?? "-")",
                "limit": "\(hit.setting)", "count": "\(hit.count)",
            ]
        )
        var out = try finishImmediate(input, message, recordAgentID: call.agentID, fingerprint: fingerprint, now: now)
        if let suppressed = limitNotices.take(
            agentID: call.agentID,
            key: hit.key,
            quietMillis: hit.quietMillis,
            now: now
        ) {
            out += try enqueue([limitedNotice(decided, hit: hit, reason: reason, suppressed: suppressed, now: now)])
        }
        return out
    }

    private func limitedNotice(
        _ decided: ImmediateDecision,
        hit: LimitHit,
        reason: String,
        suppressed: Int,
        now: Millis
    ) -> OutboundMessage {
        let call = decided.call
        var w = JSONWriter(reservingCapacity: 512)
        w.beginObject()
        w.objectField("request_id", decided.requestID)
        w.objectField("agent_id", call.agentID)
        w.objectField("session_id", call.sessionID.isEmpty ? nil : call.sessionID)
        w.objectField("tool_name", call.toolName)
        w.key("arguments")
        w.rawValue(call.argumentsJSON.utf8)
        w.objectField("reason", call.reason)
        w.objectField("rule", decided.verdict.rule)
        w.objectField("message", reason)
        w.key("limit")
        w.beginObject()
        w.objectField("kind", hit.kind.rawValue)
        w.objectField("scope", hit.rule == nil ? "agent" : "rule")
        w.objectField("max", hit.max)
        if let window = hit.windowSeconds {
            w.objectField("window_seconds", window)
        } else {
            w.key("window_seconds")
            w.null()
        }
        w.objectField("count", hit.count)
        w.endObject()
        w.objectField("denied_since_last_notice", suppressed)
        w.objectField("created_at", isoTime(now))
        w.objectField("policy_version", decided.policyVersion)
        w.endObject()
        return OutboundMessage(
            exchange: topology.escalationsExchange,
            routingKey: topology.noticeRoutingKey(.limited, toolName: call.toolName),
            body: w.bytes
        )
    }
}

/// When the last `limited` notice of each agent and limit went out, and how many calls were
/// denied by that limit since without a notice. In memory (a restart may send one notice more);
/// put back with the counters when a transaction does not commit.
struct LimitNoticeThrottle: Equatable {
    private var last: [String: (at: Millis, quiet: Millis, suppressed: Int)] = [:]

    static func == (a: LimitNoticeThrottle, b: LimitNoticeThrottle) -> Bool {
        a.last.count == b.last.count
            && a.last.allSatisfy { key, value in
                b.last[key].map { $0.at == value.at && $0.quiet == value.quiet && $0.suppressed == value.suppressed }
                    ?? false
            }
    }

    /// Nil when a notice went out for this agent and limit within `quietMillis` (counted as
    /// suppressed); else the number suppressed since the last one, and the notice is due.
    mutating func take(agentID: String, key: String, quietMillis: Millis, now: Millis) -> Int? {
        let id = agentID + "\u{0}" + key
        if let previous = last[id], now - previous.at < quietMillis {
            last[id]!.suppressed += 1
            return nil
        }
        let suppressed = last[id]?.suppressed ?? 0
        last[id] = (now, quietMillis, 0)
        if last.count > 10_000 { last = last.filter { now - $0.value.at < $0.value.quiet } }
        return suppressed
    }
}
