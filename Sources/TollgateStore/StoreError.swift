import CSQLite

/// An error from the store: what failed, SQLite's code, and whether waiting can fix it.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// The database file cannot be opened or is not a Tollgate database.
        case open
        /// Another process holds the write lock longer than the busy timeout.
        case busy
        /// The file system is full (`SQLITE_FULL`).
        case full
        /// The file system or the file is read-only (`SQLITE_READONLY`).
        case readOnly
        /// The operating system failed a read or write (`SQLITE_IOERR`).
        case io
        /// The file is damaged: an operator must look.
        case corrupt
        /// A record holds something this version cannot read (a NULL where a value belongs, an
        /// unknown status, a list that does not parse). Never taken for a default: what depends
        /// on it fails closed.
        case unreadable
        /// The database belongs to another worker, or its schema is newer than this binary.
        case mismatch
        /// Any other SQLite failure.
        case sqlite

        init(sqliteCode rc: Int32) {
            switch rc & 0xff {
            case SQLITE_BUSY, SQLITE_LOCKED: self = .busy
            case SQLITE_FULL: self = .full
            case SQLITE_READONLY: self = .readOnly
            case SQLITE_IOERR: self = .io
            case SQLITE_CORRUPT, SQLITE_NOTADB: self = .corrupt
            case SQLITE_CANTOPEN, SQLITE_PERM: self = .open
            default: self = .sqlite
            }
        }
    }

    public let kind: Kind
    public let code: Int32
    public let message: String

    public init(kind: Kind, code: Int32 = 0, message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }

    /// The environment may fix this by itself (a lock released, space freed, a file system
    /// remounted writable): retry later instead of giving up.
    public var isTransient: Bool {
        switch kind {
        case .busy, .full, .readOnly, .io: true
        case .open, .corrupt, .unreadable, .mismatch, .sqlite: false
        }
    }

    public var description: String { message }
}
