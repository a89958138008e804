import CSQLite
import Foundation

/// `SQLITE_TRANSIENT` is a macro that does not import into Swift: it tells SQLite to copy bound
/// text and blobs before `sqlite3_bind_*` returns.
private let SQLITE_TRANSIENT = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// An error from SQLite, with the statement or operation that failed.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// The database file cannot be opened or is not a Tollgate database.
        case open
        /// Another process holds the write lock longer than the busy timeout.
        case busy
        /// The file is corrupt or the disk is full: an operator must look.
        case corrupt
        /// The database belongs to another worker, or its schema is newer than this binary.
        case mismatch
        /// Any other SQLite failure.
        case sqlite
    }

    public let kind: Kind
    public let code: Int32
    public let message: String

    public init(kind: Kind, code: Int32 = 0, message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// A connection to one SQLite database file, used from one thread at a time.
///
/// The worker owns one on its event-loop thread; the command line opens its own. SQLite is
/// built in serialized or multi-thread mode on Debian, but Tollgate never shares a connection
/// between threads, so this type is deliberately not `Sendable`.
final class SQLiteDatabase {
    private(set) var handle: OpaquePointer?
    let path: String
    private var statements: [String: SQLiteStatement] = [:]

    init(path: String, readOnly: Bool = false, busyTimeoutMilliseconds: Int32 = 10_000) throws(StoreError) {
        self.path = path
        var db: OpaquePointer?
        let flags =
            readOnly
            ? SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX
            : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(db)
            throw StoreError(kind: .open, code: rc, message: "cannot open database \(path): \(message)")
        }
        handle = db
        sqlite3_busy_timeout(db, busyTimeoutMilliseconds)
        sqlite3_extended_result_codes(db, 1)
    }

    deinit { close() }

    func close() {
        statements.removeAll()  // finalizes every cached statement
        if let handle {
            sqlite3_close_v2(handle)
            self.handle = nil
        }
    }

    /// Runs one or more statements that return no rows.
    func execute(_ sql: String) throws(StoreError) {
        var errorMessage: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &errorMessage)
        if rc != SQLITE_OK {
            let message = errorMessage.map { String(cString: $0) } ?? "error \(rc)"
            sqlite3_free(errorMessage)
            throw makeError(rc, message: message, sql: sql)
        }
    }

    /// A prepared statement, cached by its SQL text for the life of the connection.
    func statement(_ sql: String) throws(StoreError) -> SQLiteStatement {
        if let cached = statements[sql] {
            cached.reset()
            return cached
        }
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else {
            throw makeError(rc, message: String(cString: sqlite3_errmsg(handle)), sql: sql)
        }
        let statement = SQLiteStatement(stmt, database: self)
        statements[sql] = statement
        return statement
    }

    var changes: Int { Int(sqlite3_changes(handle)) }
    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    func makeError(_ rc: Int32, message: String? = nil, sql: String? = nil) -> StoreError {
        let text = message ?? String(cString: sqlite3_errmsg(handle))
        let primary = rc & 0xff
        let kind: StoreError.Kind
        switch primary {
        case SQLITE_BUSY, SQLITE_LOCKED: kind = .busy
        case SQLITE_CORRUPT, SQLITE_NOTADB, SQLITE_FULL, SQLITE_IOERR: kind = .corrupt
        case SQLITE_CANTOPEN, SQLITE_PERM, SQLITE_READONLY: kind = .open
        default: kind = .sqlite
        }
        var full = "SQLite error \(rc) on \(path): \(text)"
        if let sql { full += " (in: \(sql.prefix(80)))" }
        return StoreError(kind: kind, code: rc, message: full)
    }
}

/// A prepared statement. Bind parameters by 1-based index, then `step()`.
final class SQLiteStatement {
    private let stmt: OpaquePointer
    private unowned let database: SQLiteDatabase

    init(_ stmt: OpaquePointer, database: SQLiteDatabase) {
        self.stmt = stmt
        self.database = database
    }

    deinit { sqlite3_finalize(stmt) }

    func reset() {
        sqlite3_reset(stmt)
        sqlite3_clear_bindings(stmt)
    }

    @discardableResult
    func bind(_ index: Int32, _ value: String?) -> Self {
        if let value {
            var value = value
            value.withUTF8 { buffer in
                buffer.withMemoryRebound(to: CChar.self) { chars in
                    // An empty string still binds as text: SQLite needs a non-null pointer.
                    let base = chars.baseAddress ?? UnsafePointer(bitPattern: 1)
                    _ = sqlite3_bind_text(stmt, index, base, Int32(chars.count), SQLITE_TRANSIENT)
                }
            }
        } else {
            sqlite3_bind_null(stmt, index)
        }
        return self
    }

    @discardableResult
    func bind(_ index: Int32, _ value: Int64?) -> Self {
        if let value { sqlite3_bind_int64(stmt, index, value) } else { sqlite3_bind_null(stmt, index) }
        return self
    }

    @discardableResult
    func bind(_ index: Int32, _ value: Int?) -> Self {
        bind(index, value.map { Int64($0) })
    }

    @discardableResult
    func bind(_ index: Int32, _ value: Bool) -> Self {
        sqlite3_bind_int64(stmt, index, value ? 1 : 0)
        return self
    }

    @discardableResult
    func bind(_ index: Int32, blob: [UInt8]?) -> Self {
        guard let blob else {
            sqlite3_bind_null(stmt, index)
            return self
        }
        blob.withUnsafeBytes { buffer in
            // A zero-length blob must still bind as a blob, not NULL.
            _ = sqlite3_bind_blob(
                stmt,
                index,
                buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1),
                Int32(buffer.count),
                SQLITE_TRANSIENT
            )
        }
        return self
    }

    /// Steps once: `true` when a row is available, `false` when done.
    @discardableResult
    func step() throws(StoreError) -> Bool {
        let rc = sqlite3_step(stmt)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let error = database.makeError(rc, sql: sqlite3_sql(stmt).map { String(cString: $0) })
            sqlite3_reset(stmt)
            throw error
        }
    }

    /// Runs a statement that returns no rows.
    func run() throws(StoreError) {
        _ = try step()
        sqlite3_reset(stmt)
    }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(stmt, column) == SQLITE_NULL }

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(stmt, column) }

    func int(_ column: Int32) -> Int { Int(sqlite3_column_int64(stmt, column)) }

    func optionalInt64(_ column: Int32) -> Int64? { isNull(column) ? nil : int64(column) }

    func string(_ column: Int32) -> String {
        guard let text = sqlite3_column_text(stmt, column) else { return "" }
        let count = Int(sqlite3_column_bytes(stmt, column))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }

    func optionalString(_ column: Int32) -> String? { isNull(column) ? nil : string(column) }

    func blob(_ column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(stmt, column))
        guard count > 0, let pointer = sqlite3_column_blob(stmt, column) else { return [] }
        return [UInt8](UnsafeRawBufferPointer(start: pointer, count: count))
    }

    func optionalBlob(_ column: Int32) -> [UInt8]? { isNull(column) ? nil : blob(column) }
}
