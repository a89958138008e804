/// A value bound to a statement parameter, in SQLite's own storage classes.
///
/// Statements are bound from arrays of these, by position (`?1`, `?2`, ...), so a statement and
/// its values can be read side by side and a missing or extra value is an error, not a silent NULL.
enum SQLiteValue: Equatable {
    case null
    case integer(Int64)
    case text(String)
    case blob([UInt8])

    static func text(_ value: String?) -> SQLiteValue { value.map(SQLiteValue.text) ?? .null }
    static func blob(_ value: [UInt8]?) -> SQLiteValue { value.map(SQLiteValue.blob) ?? .null }
    static func integer(_ value: Int64?) -> SQLiteValue { value.map(SQLiteValue.integer) ?? .null }
    static func integer(_ value: Int) -> SQLiteValue { .integer(Int64(value)) }
    static func bool(_ value: Bool) -> SQLiteValue { .integer(value ? 1 : 0) }
}
