/// A JSON value as Python's `json.loads` would produce it.
///
/// - Integers (numbers without fraction or exponent) are `.int` when they fit in 64 bits;
///   larger ones fall back to the nearest `.double` (Python would keep them exact; see
///   docs/policy-format.md, "Deviations").
/// - Objects keep their keys in first-seen order; a duplicate key keeps the position of its
///   first occurrence and the value of its last (`dict(pairs)` in Python).
/// - Strings compare by Unicode scalars (code points), like Python, not by Swift's canonical
///   equivalence.
///
/// `==` is structural: `.int(1) != .double(1.0)`, objects compare regardless of key order.
/// Python's cross-type numeric equality lives in TollgatePolicy, which needs it.
public enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)
}

extension JSONValue {
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var intValue: Int64? {
        if case .int(let i) = self { return i }
        return nil
    }

    /// The value of a number, `.int` or `.double`, as a `Double`.
    public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var objectValue: JSONObject? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// The member `key` of an object; nil for a missing key or a value that is not an object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }
}

extension JSONValue: Equatable {
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.int(let a), .int(let b)): return a == b
        case (.double(let a), .double(let b)): return a == b
        case (.string(let a), .string(let b)): return a.utf8.elementsEqual(b.utf8)
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)): return a == b
        default: return false
        }
    }
}

extension JSONValue: Hashable {
    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0 as UInt8)
        case .bool(let b):
            hasher.combine(1 as UInt8)
            hasher.combine(b)
        case .int(let i):
            hasher.combine(2 as UInt8)
            hasher.combine(i)
        case .double(let d):
            hasher.combine(3 as UInt8)
            hasher.combine(d)
        case .string(let s):
            hasher.combine(4 as UInt8)
            hasher.combine(ExactString(s))
        case .array(let a):
            hasher.combine(5 as UInt8)
            hasher.combine(a)
        case .object(let o):
            hasher.combine(6 as UInt8)
            hasher.combine(o)
        }
    }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        var object = JSONObject()
        for (key, value) in elements { object[key] = value }
        self = .object(object)
    }
}

extension JSONValue: CustomStringConvertible {
    /// The compact JSON text of the value.
    public var description: String { String(decoding: serialized(), as: UTF8.self) }
}

/// A string that compares and hashes by its UTF-8 bytes (Unicode scalars), as Python does,
/// instead of by Swift's canonical equivalence ("é" precomposed differs from "e" + U+0301).
public struct ExactString: Hashable, Sendable {
    public let value: String

    @inlinable
    public init(_ value: String) { self.value = value }

    @inlinable
    public static func == (lhs: ExactString, rhs: ExactString) -> Bool {
        exactEquals(lhs.value, rhs.value)
    }

    public func hash(into hasher: inout Hasher) {
        var copy = value
        copy.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

/// Whether two strings hold the same Unicode scalars (Python's `==` on `str`).
@inlinable
public func exactEquals(_ a: String, _ b: String) -> Bool {
    let au = a.utf8
    let bu = b.utf8
    guard au.count == bu.count else { return false }
    if let result = au.withContiguousStorageIfAvailable({ ab in
        bu.withContiguousStorageIfAvailable { bb in
            ab.count == 0 || memoryEquals(ab, bb)
        }
    }), let equal = result {
        return equal
    }
    return au.elementsEqual(bu)
}

@inlinable
func memoryEquals(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
    var i = 0
    let n = a.count
    while i < n {
        if a[i] != b[i] { return false }
        i &+= 1
    }
    return true
}

/// Code point order of two strings (Python's `<` on `str`): UTF-8 byte order is code point order.
@inlinable
public func exactLess(_ a: String, _ b: String) -> Bool {
    a.utf8.lexicographicallyPrecedes(b.utf8)
}
