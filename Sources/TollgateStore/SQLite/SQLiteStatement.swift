import CSQLite

/// A prepared statement, bound by position from `SQLiteValue`s, then stepped.
final class SQLiteStatement {
    private let stmt: OpaquePointer
    private unowned let database: SQLiteDatabase

    init(_ stmt: OpaquePointer, database: SQLiteDatabase) {
        self.stmt = stmt
        self.database = database
    }

    deinit { sqlite3_finalize(stmt) }

    /// Ends a use of the statement (its read transaction and locks). Its bindings stay: the next
    /// `bind` sets every parameter again (their count is checked), so clearing them is not needed.
    func reset() {
        sqlite3_reset(stmt)
    }

    /// Checks that `count` values fit the statement's parameters.
    private func checkCount(_ count: Int) throws(StoreError) {
        let expected = Int(sqlite3_bind_parameter_count(stmt))
        guard count == expected else {
            throw StoreError(
                kind: .sqlite,
                message: "statement takes \(expected) parameters, \(count) given (in: \(sql.prefix(80)))"
            )
        }
    }

    /// Binds `values` to `?1 ... ?N`, runs `body` while they are bound, and resets the statement
    /// before they go: every step of the statement happens inside `body`. Text and blobs are
    /// copied into one buffer the statement keeps (no allocation once it has grown) and bound by
    /// pointer into it (`SQLITE_STATIC`): no copy by SQLite, no allocation per value. The count
    /// must match the statement's parameters.
    func withBindings<T>(
        _ values: [SQLiteValue],
        _ body: () throws(StoreError) -> T
    ) throws(StoreError) -> T {
        try checkCount(values.count)
        scratch.removeAll(keepingCapacity: true)
        for value in values {
            switch value {
            case .null, .integer: break
            case .text(let text): scratch.append(contentsOf: text.utf8)
            case .blob(let bytes): scratch.append(contentsOf: bytes)
            }
        }
        // A byte past the end, so an empty text or blob still has a non-null pointer (SQLite
        // binds a null pointer as NULL).
        scratch.append(0)
        return try scratch.withUnsafeBytes { buffer -> Result<T, StoreError> in
            let base = buffer.baseAddress!
            var offset = 0
            for (position, value) in values.enumerated() {
                let index = Int32(position + 1)
                let rc: Int32
                switch value {
                case .null:
                    rc = sqlite3_bind_null(stmt, index)
                case .integer(let n):
                    rc = sqlite3_bind_int64(stmt, index, n)
                case .text(let text):
                    let count = text.utf8.count
                    rc = sqlite3_bind_text(
                        stmt,
                        index,
                        (base + offset).assumingMemoryBound(to: CChar.self),
                        Int32(count),
                        nil
                    )
                    offset += count
                case .blob(let bytes):
                    rc = sqlite3_bind_blob(stmt, index, base + offset, Int32(bytes.count), nil)
                    offset += bytes.count
                }
                guard rc == SQLITE_OK else { return .failure(bindFailed(rc, index)) }
            }
            defer { reset() }
            do throws(StoreError) { return .success(try body()) } catch { return .failure(error) }
        }.get()
    }

    /// The bytes of the text and blob values bound by `withBindings`.
    private var scratch: [UInt8] = []

    private func bindFailed(_ rc: Int32, _ index: Int32) -> StoreError {
        database.makeError(rc, message: "binding parameter \(index) failed", sql: sql)
    }

    /// Binds `values` to `?1 ... ?N` as copies (`SQLITE_TRANSIENT`), for a statement stepped
    /// after this returns; the count must match the statement's parameters.
    func bind(_ values: [SQLiteValue]) throws(StoreError) {
        try checkCount(values.count)
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .null:
                rc = sqlite3_bind_null(stmt, index)
            case .integer(let n):
                rc = sqlite3_bind_int64(stmt, index, n)
            case .text(let text):
                var text = text
                rc = text.withUTF8 { buffer in
                    buffer.withMemoryRebound(to: CChar.self) { chars in
                        // An empty string still binds as text: SQLite needs a non-null pointer.
                        let base = chars.baseAddress ?? UnsafePointer(bitPattern: 1)
                        return sqlite3_bind_text(stmt, index, base, Int32(chars.count), SQLITE_TRANSIENT)
                    }
                }
            case .blob(let bytes):
                rc = bytes.withUnsafeBytes { buffer in
                    // A zero-length blob must still bind as a blob, not NULL.
                    sqlite3_bind_blob(
                        stmt,
                        index,
                        buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1),
                        Int32(buffer.count),
                        SQLITE_TRANSIENT
                    )
                }
            }
            guard rc == SQLITE_OK else {
                throw database.makeError(rc, message: "binding parameter \(index) failed", sql: sql)
            }
        }
    }

    private var sql: String { sqlite3_sql(stmt).map { String(cString: $0) } ?? "" }

    /// Steps once: `true` when a row is available, `false` when done.
    func step() throws(StoreError) -> Bool {
        let rc = sqlite3_step(stmt)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let error = database.makeError(rc, sql: sql)
            sqlite3_reset(stmt)
            throw error
        }
    }

    /// The C statement, for `SQLiteRow` only.
    var rawHandle: OpaquePointer { stmt }
}

/// One result row. Reading a column as a type it does not hold (NULL where a value is required,
/// text where a number is) is an `unreadable` error: a record that cannot be read is never
/// taken for a default.
struct SQLiteRow {
    private let stmt: OpaquePointer

    init(_ statement: SQLiteStatement) { stmt = statement.rawHandle }

    private func type(_ index: Int32) -> Int32 { sqlite3_column_type(stmt, index) }

    private func unreadable(_ index: Int32, _ wanted: String) -> StoreError {
        let name = sqlite3_column_name(stmt, index).map { String(cString: $0) } ?? "column \(index)"
        let found: String
        switch type(index) {
        case SQLITE_NULL: found = "NULL"
        case SQLITE_INTEGER: found = "an integer"
        case SQLITE_FLOAT: found = "a real"
        case SQLITE_TEXT: found = "text"
        default: found = "a blob"
        }
        return StoreError(kind: .unreadable, message: "column \(name) holds \(found), not \(wanted)")
    }

    func isNull(_ index: Int32) -> Bool { type(index) == SQLITE_NULL }

    func int64(_ index: Int32) throws(StoreError) -> Int64 {
        guard type(index) == SQLITE_INTEGER else { throw unreadable(index, "an integer") }
        return sqlite3_column_int64(stmt, index)
    }

    func int(_ index: Int32) throws(StoreError) -> Int { Int(try int64(index)) }

    func bool(_ index: Int32) throws(StoreError) -> Bool {
        switch try int64(index) {
        case 0: return false
        case 1: return true
        default: throw unreadable(index, "0 or 1")
        }
    }

    func optionalInt64(_ index: Int32) throws(StoreError) -> Int64? { isNull(index) ? nil : try int64(index) }

    func string(_ index: Int32) throws(StoreError) -> String {
        guard type(index) == SQLITE_TEXT, let text = sqlite3_column_text(stmt, index) else {
            throw unreadable(index, "text")
        }
        let count = Int(sqlite3_column_bytes(stmt, index))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }

    func optionalString(_ index: Int32) throws(StoreError) -> String? { isNull(index) ? nil : try string(index) }

    func blob(_ index: Int32) throws(StoreError) -> [UInt8] {
        guard type(index) == SQLITE_BLOB else { throw unreadable(index, "a blob") }
        let count = Int(sqlite3_column_bytes(stmt, index))
        guard count > 0, let pointer = sqlite3_column_blob(stmt, index) else { return [] }
        return [UInt8](UnsafeRawBufferPointer(start: pointer, count: count))
    }

    func optionalBlob(_ index: Int32) throws(StoreError) -> [UInt8]? { isNull(index) ? nil : try blob(index) }

    /// A column that must hold one of `T`'s raw values.
    func value<T: RawRepresentable>(_ index: Int32, as _: T.Type) throws(StoreError) -> T where T.RawValue == String {
        let text = try string(index)
        guard let value = T(rawValue: text) else {
            let name = sqlite3_column_name(stmt, index).map { String(cString: $0) } ?? "column \(index)"
            throw StoreError(kind: .unreadable, message: "column \(name) holds '\(text)', not a known \(T.self)")
        }
        return value
    }
}
