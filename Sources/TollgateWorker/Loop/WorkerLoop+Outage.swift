import Foundation
import Logging
import TollgateAMQP
import TollgateStore

/// The database cannot be written (a full disk, a read-only file system, an I/O error): since
/// nothing may be acked that is not recorded, the worker stops taking work, keeps its broker
/// connection (and what is in flight) alive, checks with backoff whether writes work again, and
/// carries on by itself when they do.
struct StoreOutage {
    var since: ContinuousClock.Instant
    var error: StoreError
    var nextCheck: ContinuousClock.Instant
    var nextReport: ContinuousClock.Instant
    var backoff = Backoff(initial: .milliseconds(500), maximum: .seconds(15))

    /// How often a line says that the database still cannot be written.
    static let reportInterval: Duration = .seconds(30)
}

extension WorkerLoop {
    /// Called when a transaction failed for a reason that may pass: keeps `inputs` (those of
    /// that transaction, not recorded) unacked for when writes work again, stops consuming, and
    /// logs why, once.
    func enterOutage(_ error: StoreError, holding inputs: [Inbound], _ connection: AMQPConnection) throws {
        // Commits not known to be on disk are not published: their inputs are held too.
        let unsynced = settleAwaitingSync(connection)
        outageHeld.insert(contentsOf: unsynced + inputs, at: 0)
        if outage == nil {
            let now = ContinuousClock.now
            var state = StoreOutage(
                since: now,
                error: error,
                nextCheck: now,
                nextReport: now + StoreOutage.reportInterval
            )
            if let last = lastOutageEnd, now - last.at < .seconds(60) { state.backoff = last.backoff }
            state.nextCheck = now + state.backoff.next()
            outage = state
            logger.error(
                "cannot write the database: not taking work until it can (nothing unrecorded is acked); checking again with backoff",
                metadata: [LogKey.error: "\(error)", "db": "\(store.path)"]
            )
            control.update {
                $0.storeWritable = false
                $0.storeProblem = error.message
            }
            if error.kind == .readOnly || error.kind == .io {
                // Let go of the file, so that an operator can unmount and repair its file system;
                // it is opened again (never created) when it can be written.
                store.close()
                logger.notice(
                    "closed the database until its file system can be written",
                    metadata: ["db": "\(store.path)"]
                )
            }
        }
        try stopConsuming(connection)
    }

    /// While the database cannot be written: checks again when the backoff says so, reports
    /// now and then, and resumes consuming when a write works.
    func checkOutage(_ connection: AMQPConnection, stopping: Bool) throws {
        guard var state = outage else { return }
        let now = ContinuousClock.now
        if now >= state.nextReport {
            state.nextReport = now + StoreOutage.reportInterval
            logger.error(
                "still cannot write the database",
                metadata: [LogKey.error: "\(state.error)", "for": "\(now - state.since)"]
            )
        }
        guard now >= state.nextCheck else {
            outage = state
            return
        }
        do {
            if !store.isOpen { try store.reopen() }
            try store.probeWrite(at: clock.wallMillis())
        } catch {
            // A file that is not there (its file system not mounted yet) is still unavailable.
            guard error.isTransient || error.kind == .open else { throw error }
            if error.kind == .readOnly || error.kind == .io {
                // A file opened while its file system was read-only stays read-only for SQLite
                // even after a remount: let go of it again, so that the next check opens it anew.
                store.close()
            }
            state.error = error
            state.nextCheck = now + state.backoff.next()
            outage = state
            return
        }
        outage = nil
        lastOutageEnd = (now, state.backoff)
        // The probe is one small row; the inputs held are the real test (a full disk may still
        // take the probe's page). If they cannot be recorded, the outage goes on, backoff and all.
        try catchUp(connection)
        if outage == nil, !outageHeld.isEmpty {
            let inputs = outageHeld
            outageHeld.removeAll()
            try runBatch(inputs, connection: connection)
        }
        guard outage == nil else { return }
        logger.notice("the database can be written again; taking work", metadata: ["after": "\(now - state.since)"])
        control.update {
            $0.storeWritable = true
            $0.storeProblem = nil
        }
        if !stopping { try startConsuming(connection) }
    }
}
