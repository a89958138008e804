import Foundation

/// How hard SQLite works to make a commit survive a power cut.
public enum StoreDurability: String, Sendable, CaseIterable {
    /// fsync on every commit (WAL, `synchronous=FULL`): a committed decision survives a power cut.
    case full
    /// fsync at checkpoints only (WAL, `synchronous=NORMAL`): survives a crash of the worker
    /// process, may lose the last commits on a power cut.
    case normal
}

/// Tollgate's state in one SQLite file: what the worker must remember so that a redelivered
/// input is harmless (calls, vote inputs), budgets, parked escalations with their votes and
/// waiters, the outbox of messages still to be confirmed by the broker, and the hash-chained
/// audit trail. One extension per table group: `Store+Calls`, `Store+Escalations`, ...
///
/// Not `Sendable`: one instance belongs to one thread (the worker's event loop, or a command).
public final class Store {
    public static var schemaVersion: Int { StoreSchema.current }

    /// WAL pages after which a commit checkpoints (SQLite's default is 1000 pages, 4 MiB), and the
    /// size the WAL file is truncated to after a checkpoint: a worker's WAL stays near 1 MiB.
    static let walAutocheckpointPages = 256
    static let walSizeLimitBytes = 1 << 20

    let db: SQLiteDatabase
    public var path: String { db.path }

    /// The last audit entry inside the current transaction.
    var auditHead: (seq: Int64, hash: [UInt8]) = (0, AuditRecord.genesisHash)
    var auditHeadMoved = false
    private(set) var inTransaction = false

    /// Opens (and creates or migrates) the database.
    ///
    /// - Parameter workerID: when given, the database is bound to this worker on first use and
    ///   refused to any other: pending escalations and the outbox belong to the worker whose
    ///   queues receive their votes.
    ///
    /// - Parameter deferredSync: with `durability` `.full`, commits return before the disk has
    ///   them and a `StoreSyncer` (`syncer`) makes them durable on threads of its own: the caller
    ///   must wait for it before it publishes what a commit caused (the worker does). Without it,
    ///   every commit waits for its sync (`synchronous=FULL`).
    /// - Parameter syncFault: asked before each of the syncer's syncs, to hold or fail them (for
    ///   the tests that show nothing is published before its commit is on disk).
    public init(
        path: String,
        workerID: String? = nil,
        durability: StoreDurability = .full,
        deferredSync: Bool = false,
        syncFault: (@Sendable () -> StoreSyncer.Fault?)? = nil
    ) throws(StoreError) {
        db = try SQLiteDatabase(path: path)
        self.durability = durability
        self.deferredSync = deferredSync && durability == .full
        self.syncFault = syncFault
        do throws(StoreError) {
            try configure()
            try migrate(workerID: workerID)
            knownDatabaseID = try metaValue("database_id")
            // The migration and the database's id (which the worker publishes beside its
            // queues) committed without waiting for the disk: on it before anything is told.
            try syncNow()
        } catch {
            close()
            throw error
        }
    }

    private var durability: StoreDurability = .full
    private let deferredSync: Bool
    private let syncFault: (@Sendable () -> StoreSyncer.Fault?)?

    /// Makes this store's commits durable when they are not synced as they commit (`deferredSync`);
    /// nil otherwise, and while the store is closed.
    public private(set) var syncer: StoreSyncer?

    private func configure() throws(StoreError) {
        try db.execute("PRAGMA journal_mode=WAL")
        try db.execute("PRAGMA synchronous=\(durability == .full && !deferredSync ? "FULL" : "NORMAL")")
        try db.execute("PRAGMA wal_autocheckpoint=\(Self.walAutocheckpointPages)")
        try db.execute("PRAGMA journal_size_limit=\(Self.walSizeLimitBytes)")
        try db.execute("PRAGMA foreign_keys=OFF")
        try db.execute("PRAGMA temp_store=MEMORY")
    }

    /// With `deferredSync`: the syncer, and its WAL hook in place of SQLite's own checkpoints.
    private func startSyncer() throws(StoreError) {
        guard deferredSync, syncer == nil else { return }
        let started = try StoreSyncer(databasePath: db.path, fault: syncFault)
        db.setWALHook(started)
        syncer = started
    }

    /// Syncs what the syncer was asked for and stops it (before the connection closes).
    private func stopSyncer() {
        guard let syncer else { return }
        db.setWALHook(nil)
        syncer.stop()
        self.syncer = nil
    }

    /// Whether the connection is open (false after `close()`).
    public var isOpen: Bool { db.isOpen }

    /// Opens the database again after `close()` (the worker lets go of its file while its file
    /// system is read-only, so that an operator can unmount and repair it). Refuses a file that
    /// is missing or is another database: never an empty or foreign one in its place.
    public func reopen() throws(StoreError) {
        let expected = knownDatabaseID
        stopSyncer()
        try db.reopen()
        do throws(StoreError) {
            try configure()
            let found = try metaValue("database_id")
            if let expected, found != expected {
                throw StoreError(
                    kind: .mismatch,
                    message: "\(db.path) is now another database (\(found ?? "no database_id")), not \(expected)"
                )
            }
            try syncNow()
        } catch {
            close()
            throw error
        }
    }

    /// The database id read while the connection was open, to recognise the file on `reopen()`.
    private var knownDatabaseID: String?

    /// Opens an existing database for reading only (the `pending` and `audit` commands), which
    /// works while a worker writes to it.
    public init(readingExisting path: String) throws(StoreError) {
        guard FileManager.default.fileExists(atPath: path) else {
            throw StoreError(kind: .open, message: "no database at \(path): give the --db the worker uses")
        }
        db = try SQLiteDatabase(path: path, readOnly: true)
        deferredSync = false
        syncFault = nil
        do throws(StoreError) {
            guard let version = try metaValue("schema_version").flatMap({ Int($0) }) else {
                throw StoreError(kind: .mismatch, message: "\(path) is not a Tollgate database (no schema_version)")
            }
            try Self.checkKnown(version, path: path)
        } catch {
            db.close()
            throw error
        }
    }

    public func close() {
        stopSyncer()
        db.close()
    }

    // MARK: - Schema and meta

    private static func checkKnown(_ version: Int, path: String) throws(StoreError) {
        guard version <= current else {
            throw StoreError(
                kind: .mismatch,
                message: "\(path) has schema version \(version); this tollgate knows versions up to \(current): "
                    + "use the tollgate that wrote it"
            )
        }
    }

    private static var current: Int { StoreSchema.current }

    /// Brings the schema to the current version and binds the database to `workerID`, in one
    /// write transaction.
    private func migrate(workerID: String?) throws(StoreError) {
        try db.execute("BEGIN IMMEDIATE")
        do throws(StoreError) {
            try db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID")
            let found = try metaValue("schema_version")
            let version = found.flatMap { Int($0) } ?? 0
            if found != nil, version == 0 {
                throw StoreError(kind: .mismatch, message: "\(path) has an unreadable schema_version '\(found ?? "")'")
            }
            try Self.checkKnown(version, path: path)
            for migration in StoreSchema.migrations.dropFirst(version) { try db.execute(migration) }
            if version < Self.current { try setMeta("schema_version", "\(Self.current)") }
            if let workerID { try bind(to: workerID) }
            try db.execute("COMMIT")
        } catch {
            try? db.execute("ROLLBACK")
            throw error
        }
    }

    private func bind(to workerID: String) throws(StoreError) {
        if let owner = try metaValue("worker_id") {
            guard owner == workerID else {
                throw StoreError(
                    kind: .mismatch,
                    message: "\(db.path) belongs to worker '\(owner)', not '\(workerID)': "
                        + "each worker keeps its own database (its escalations are voted on through its own queue); "
                        + "start this worker with --worker-id \(owner) or give it another --db"
                )
            }
        } else {
            try setMeta("worker_id", workerID)
        }
    }

    func metaValue(_ key: String) throws(StoreError) -> String? {
        try db.first("SELECT value FROM meta WHERE key = ?1", [.text(key)]) { row throws(StoreError) in
            try row.string(0)
        }
    }

    func setMeta(_ key: String, _ value: String) throws(StoreError) {
        try db.run(
            "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [.text(key), .text(value)]
        )
    }

    /// The worker this database belongs to, if bound.
    public func ownerWorkerID() throws(StoreError) -> String? { try metaValue("worker_id") }

    /// This database's own random id, made when it was created: the worker leaves it on the
    /// broker beside its queues, so that a worker with the same id and another database is refused.
    public func databaseID() throws(StoreError) -> String {
        guard let id = try metaValue("database_id") else {
            throw StoreError(kind: .unreadable, message: "\(db.path) has no database_id")
        }
        knownDatabaseID = id
        return id
    }

    // MARK: - Transactions

    /// Runs `body` in one write transaction (`BEGIN IMMEDIATE` ... `COMMIT`); rolls back and
    /// rethrows when `body` throws. Every write method of the store must be called inside one.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        precondition(!inTransaction, "nested Store.transaction")
        // Never a commit without its syncer (one that failed to start again after a failed
        // sync): its effects would be published unsynced, and nothing would checkpoint.
        if deferredSync, syncer == nil { try startSyncer() }
        if let syncer, syncer.walFrames >= StoreSyncer.hardLimitFrames {
            checkpointPastHardLimit()
        }
        try db.execute("BEGIN IMMEDIATE")
        inTransaction = true
        defer { inTransaction = false }
        do {
            auditHead = try loadAuditHead()
            auditHeadMoved = false
            let result = try body()
            if auditHeadMoved {
                // The head is also kept in meta: deleting the newest entries then shows as a
                // chain that ends before its recorded head.
                try setMeta("audit_head", "\(auditHead.seq):\(auditHead.hash.hexString)")
            }
            try db.execute("COMMIT")
            return result
        } catch {
            try? db.execute("ROLLBACK")
            throw error
        }
    }

    /// The background checkpoints have not caught up (the WAL is past `hardLimitFrames`): the
    /// committer copies the WAL itself, waiting a little for readers. A reader that holds an old
    /// snapshot (a long `audit verify`, a backup) keeps the WAL from being restarted whatever
    /// is done: then at most one try a second, so that commits do not each wait for it.
    private func checkpointPastHardLimit() {
        let now = DispatchTime.now().uptimeNanoseconds
        guard now &- lastHardCheckpoint >= 1_000_000_000 || lastHardCheckpoint == 0 else { return }
        lastHardCheckpoint = now
        db.checkpoint(.restart, waitingMilliseconds: 100)
    }

    private var lastHardCheckpoint: UInt64 = 0

    /// Writes and commits a small row, synced: succeeds only when the database can take writes
    /// again (after a full disk or a read-only file system).
    public func probeWrite(at now: Millis) throws(StoreError) {
        try db.execute("BEGIN IMMEDIATE")
        do throws(StoreError) {
            try setMeta("last_write_probe", "\(now)")
            try db.execute("COMMIT")
        } catch {
            try? db.execute("ROLLBACK")
            throw error
        }
        try syncNow()
    }

    /// With a syncer: waits until every commit so far is on disk. A syncer whose last sync failed
    /// is started anew first (its failure would otherwise answer every later wait), so this is
    /// also how the worker learns that syncing works again.
    public func syncNow() throws(StoreError) {
        guard deferredSync, db.isOpen else { return }
        if let failed = syncer, failed.failure != nil { stopSyncer() }
        try startSyncer()
        guard let current = syncer else { return }
        _ = current.request()
        try current.waitForAll()
    }
}
