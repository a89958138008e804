import CSQLite

/// `SQLITE_TRANSIENT` is a macro that does not import into Swift: it tells SQLite to copy bound
/// text and blobs before `sqlite3_bind_*` returns.
let SQLITE_TRANSIENT = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A connection to one SQLite database file, used from one thread at a time.
///
/// The worker owns one on its event-loop thread; the command line opens its own. Tollgate never
/// shares a connection between threads, so this type is deliberately not `Sendable`.
final class SQLiteDatabase {
    private var handle: OpaquePointer?
    let path: String
    private var statements: [String: SQLiteStatement] = [:]

    private let readOnly: Bool
    private let busyTimeoutMilliseconds: Int32

    init(path: String, readOnly: Bool = false, busyTimeoutMilliseconds: Int32 = 10_000) throws(StoreError) {
        self.path = path
        self.readOnly = readOnly
        self.busyTimeoutMilliseconds = busyTimeoutMilliseconds
        try open(create: !readOnly)
    }

    /// Done once, before SQLite's first use in the process (see the shim).
    private static let configured: Bool = tollgate_sqlite3_disable_memstatus() == SQLITE_OK

    private func open(create: Bool) throws(StoreError) {
        _ = Self.configured
        var db: OpaquePointer?
        var flags = readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE
        if create { flags |= SQLITE_OPEN_CREATE }
        let rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(db)
            throw StoreError(kind: .open, code: rc, message: "cannot open database \(path): \(message)")
        }
        handle = db
        sqlite3_busy_timeout(db, busyTimeoutMilliseconds)
        sqlite3_extended_result_codes(db, 1)
    }

    /// Opens the file again after `close()`, never creating it: a database that is gone (its file
    /// system unmounted) must not come back empty.
    func reopen() throws(StoreError) {
        close()
        try open(create: false)
    }

    var isOpen: Bool { handle != nil }

    deinit { close() }

    func close() {
        statements.removeAll()  // finalizes every cached statement
        if let handle {
            sqlite3_close_v2(handle)
            self.handle = nil
        }
    }

    /// The open connection, or an error once `close()` ran.
    private func connection() throws(StoreError) -> OpaquePointer {
        guard let handle else { throw StoreError(kind: .open, message: "database \(path) is closed") }
        return handle
    }

    /// Runs one or more statements that take no parameters and return no rows.
    func execute(_ sql: String) throws(StoreError) {
        let db = try connection()
        var errorMessage: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &errorMessage)
        if rc != SQLITE_OK {
            let message = errorMessage.map { String(cString: $0) } ?? "error \(rc)"
            sqlite3_free(errorMessage)
            throw makeError(rc, message: message, sql: sql)
        }
    }

    /// A prepared statement with `values` bound (copied), cached by its SQL text for the life of
    /// the connection. Every bind's return code is checked, and the number of values must be the
    /// number of parameters.
    func statement(_ sql: String, _ values: [SQLiteValue] = []) throws(StoreError) -> SQLiteStatement {
        let statement = try prepared(sql)
        try statement.bind(values)
        return statement
    }

    /// The prepared statement for `sql`, from the cache or prepared now, reset.
    private func prepared(_ sql: String) throws(StoreError) -> SQLiteStatement {
        let statement: SQLiteStatement
        if let cached = statements[sql] {
            // Every use resets its statement when done (`run`, `first`, ...); resetting again is
            // cheap and makes sure it can be bound.
            cached.reset()
            statement = cached
        } else {
            let db = try connection()
            var stmt: OpaquePointer?
            let rc = sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
            guard rc == SQLITE_OK, let stmt else {
                throw makeError(rc, message: String(cString: sqlite3_errmsg(db)), sql: sql)
            }
            statement = SQLiteStatement(stmt, database: self)
            statements[sql] = statement
        }
        return statement
    }

    /// Runs a statement that returns no rows; returns how many rows it changed.
    @discardableResult
    func run(_ sql: String, _ values: [SQLiteValue] = []) throws(StoreError) -> Int {
        let stmt = try prepared(sql)
        return try stmt.withBindings(values) { () throws(StoreError) -> Int in
            _ = try stmt.step()
            return changes
        }
    }

    /// The first row of a query, decoded by `decode`, or nil when there is none.
    func first<T>(
        _ sql: String,
        _ values: [SQLiteValue] = [],
        _ decode: (SQLiteRow) throws(StoreError) -> T
    ) throws(StoreError) -> T? {
        let stmt = try prepared(sql)
        return try stmt.withBindings(values) { () throws(StoreError) -> T? in
            guard try stmt.step() else { return nil }
            return try decode(SQLiteRow(stmt))
        }
    }

    /// Every row of a query, decoded by `decode`.
    func all<T>(
        _ sql: String,
        _ values: [SQLiteValue] = [],
        _ decode: (SQLiteRow) throws(StoreError) -> T
    ) throws(StoreError) -> [T] {
        let stmt = try prepared(sql)
        return try stmt.withBindings(values) { () throws(StoreError) -> [T] in
            var rows: [T] = []
            while try stmt.step() { rows.append(try decode(SQLiteRow(stmt))) }
            return rows
        }
    }

    /// Calls `body` with each row of a query (streaming; constant memory).
    func forEach(
        _ sql: String,
        _ values: [SQLiteValue] = [],
        _ body: (SQLiteRow) throws -> Void
    ) throws {
        let stmt = try statement(sql, values)
        defer { stmt.reset() }
        while try stmt.step() { try body(SQLiteRow(stmt)) }
    }

    enum CheckpointMode {
        /// Copies what it can without waiting for other connections.
        case passive
        /// Waits for the writer and readers, copies everything, and lets the WAL start over.
        case restart
    }

    /// Runs a checkpoint of the WAL; false when SQLite reports an error (a busy lock, an I/O
    /// error): the WAL is then left as it is. With `waitingMilliseconds`, the busy timeout for
    /// this checkpoint only: past it, a `RESTART` checkpoint copies what it can without waiting,
    /// as `PASSIVE` does.
    @discardableResult
    func checkpoint(_ mode: CheckpointMode, waitingMilliseconds: Int32? = nil) -> Bool {
        guard let handle else { return false }
        let code = mode == .passive ? SQLITE_CHECKPOINT_PASSIVE : SQLITE_CHECKPOINT_RESTART
        if let waitingMilliseconds { sqlite3_busy_timeout(handle, waitingMilliseconds) }
        defer { if waitingMilliseconds != nil { sqlite3_busy_timeout(handle, busyTimeoutMilliseconds) } }
        return sqlite3_wal_checkpoint_v2(handle, nil, code, nil, nil) == SQLITE_OK
    }

    /// Calls `syncer.walCommitted(frames:)` after every commit of this connection (SQLite's WAL
    /// hook, which also replaces its automatic checkpoints); nil removes it.
    func setWALHook(_ syncer: StoreSyncer?) {
        guard let handle else { return }
        guard let syncer else {
            sqlite3_wal_hook(handle, nil, nil)
            return
        }
        sqlite3_wal_hook(
            handle,
            { context, _, _, frames in
                guard let context else { return SQLITE_OK }
                Unmanaged<StoreSyncer>.fromOpaque(context).takeUnretainedValue().walCommitted(frames: frames)
                return SQLITE_OK
            },
            Unmanaged.passUnretained(syncer).toOpaque()
        )
    }

    var changes: Int { handle.map { Int(sqlite3_changes($0)) } ?? 0 }
    var lastInsertRowID: Int64 { handle.map { sqlite3_last_insert_rowid($0) } ?? 0 }

    func makeError(_ rc: Int32, message: String? = nil, sql: String? = nil) -> StoreError {
        let text = message ?? handle.map { String(cString: sqlite3_errmsg($0)) } ?? "error \(rc)"
        var full = "SQLite error \(rc) on \(path): \(text)"
        if let sql { full += " (in: \(sql.prefix(80)))" }
        return StoreError(kind: StoreError.Kind(sqliteCode: rc), code: rc, message: full)
    }
}
