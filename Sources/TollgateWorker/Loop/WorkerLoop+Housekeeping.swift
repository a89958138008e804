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
                try enterOutage(error, requeueing: [], connection)
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
            ]
        )
        countersAtLastStats = c
        lastStats = now
    }

    func reloadPolicy() {
        do {
            let next = try LoadedPolicy.load(paths: configuration.policyPaths)
            let previous = gate.policy.versionString
            gate.policy = next
            var metadata = next.logMetadata
            // Standing grants are bound to the policy version they were made under.
            if previous != next.versionString,
                let ended = try? store.grantsInForce(now: clock.wallMillis(), policyVersion: previous).count, ended > 0
            {
                metadata["grants_ended"] = "\(ended)"
            }
            logger.info("policies reloaded", metadata: metadata)
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
