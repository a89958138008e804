import Logging
import TollgateAMQP
import TollgateStore

// What the loop does between batches: republish rejected outbox rows, forget old inputs, log
// progress, reload the policies.
extension WorkerLoop {
    func housekeeping(_ connection: AMQPConnection) throws {
        let now = clock.wallMillis()
        defer { logStats(force: false) }
        // While the database cannot be written (and may be closed) the store is left alone.
        guard outage == nil else { return }
        if now - lastOutboxSweep >= 10_000 {
            lastOutboxSweep = now
            // Rows the broker rejected (nack) are published again here; normally every row is
            // in flight and this publishes nothing.
            if try store.outboxCount() > inFlightOutbox.count { try republishOutbox(connection) }
            metrics.readiness(control.status.ready)
        }
        if now - lastPrune >= 60_000 {
            lastPrune = now
            let cutoff = now - Millis(configuration.dedupeRetentionSeconds) * 1000
            do {
                let removed = try store.transaction { try store.pruneInputs(receivedBefore: cutoff) }
                if removed > 0 { logger.debug("forgot old inputs", metadata: ["count": "\(removed)"]) }
            } catch let error as StoreError where error.isTransient {
                try enterOutage(error, holding: [], connection)
            }
        }
    }

    /// The `progress` line: totals since the worker started (`calls_total`, `allow_total`, ...)
    /// and the calls and rate since the previous line (`calls`, `per_second`).
    func logStats(force: Bool) {
        let now = clock.wallMillis()
        if lastStats == 0 { lastStats = now }
        let elapsed = now - lastStats
        guard force || elapsed >= Millis(configuration.statsIntervalSeconds) * 1000 else { return }
        let c = gate.counters
        let calls = c.calls - countersAtLastStats.calls
        guard force || c != countersAtLastStats else {
            lastStats = now
            return
        }
        let rate = elapsed > 0 ? Double(calls) * 1000 / Double(elapsed) : 0
        logger.info(
            "progress",
            metadata: [
                "calls": "\(calls)", "per_second": "\(Int(rate))", "calls_total": "\(c.calls)",
                "allow_total": "\(c.allowed)", "deny_total": "\(c.denied)", "escalated_total": "\(c.escalated)",
                "invalid_total": "\(c.invalid)", "limit_total": "\(c.limited)", "duplicates_total": "\(c.duplicates)",
                "votes_accepted_total": "\(c.votesAccepted)", "votes_rejected_total": "\(c.votesRejected)",
                "timeouts_total": "\(c.timeouts)", "unroutable_total": "\(c.unroutable)",
                "granted_total": "\(c.granted)", "grants_made_total": "\(c.grantsMade)",
                "escalations_limited_total": "\(c.escalationsLimited)",
            ]
        )
        countersAtLastStats = c
        lastStats = now
    }

    /// Ends the standing grants made under another policy version (they cover nothing now; ended,
    /// they cannot come back if the files go back to that version). A database that cannot be
    /// written leaves them: they still cover nothing, and the next start or reload ends them.
    func endStaleGrants() {
        do {
            let ended = try store.transaction { try gate.endGrantsOfOtherPolicies(now: clock.wallMillis()) }
            if ended > 0 {
                logger.notice(
                    "ended the standing grants of another policy version",
                    metadata: ["grants_ended": "\(ended)", "policy_version": "\(gate.policy.versionString)"]
                )
            }
        } catch {
            logger.warning("could not end the grants of another policy version", metadata: [LogKey.error: "\(error)"])
        }
    }

    func reloadPolicy() {
        do {
            let next = try LoadedPolicy.load(paths: configuration.policyPaths, compat: configuration.compat)
            let previous = gate.policy.versionString
            gate.policy = next
            logger.info("policies reloaded", metadata: next.logMetadata)
            if previous != next.versionString { endStaleGrants() }
            control.update {
                $0.policyVersion = next.versionString
                $0.policyReloads += 1
            }
        } catch {
            logger.error("policy reload refused; keeping the policies in force", metadata: [LogKey.error: "\(error)"])
            control.update { $0.policyReloadFailures += 1 }
        }
    }
}
