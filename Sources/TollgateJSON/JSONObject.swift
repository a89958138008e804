/// A JSON object: members in insertion order, lookup by exact key (Unicode scalars).
///
/// Small objects (the common case: a tool call has a handful of keys) are searched linearly,
/// which beats hashing; objects with more than `indexThreshold` members also keep a hash index.
/// Assigning an existing key replaces its value in place (Python's dict keeps the first
/// position), so parsing `{"a":1,"a":2}` gives `{"a":2}`.
public struct JSONObject: Sendable {
    public typealias Element = (key: String, value: JSONValue)

    @usableFromInline var members: [Element]
    @usableFromInline var index: [ExactString: Int]?

    @usableFromInline static var indexThreshold: Int { 12 }

    public init() {
        members = []
        index = nil
    }

    public init(minimumCapacity: Int) {
        members = []
        members.reserveCapacity(minimumCapacity)
        index = nil
    }

    /// Builds an object from pairs; a repeated key keeps its first position and its last value.
    public init<S: Sequence>(_ pairs: S) where S.Element == (String, JSONValue) {
        self.init()
        for (key, value) in pairs { self[key] = value }
    }

    public var count: Int { members.count }
    public var isEmpty: Bool { members.isEmpty }
    public var keys: [String] { members.map(\.key) }

    @inlinable
    func position(of key: String) -> Int? {
        if let index { return index[ExactString(key)] }
        // Through the buffer: no bounds checks and no retain of each key compared.
        return members.withUnsafeBufferPointer { buffer -> Int? in
            let length = key.utf8.count
            for i in 0..<buffer.count where buffer[i].key.utf8.count == length && exactEquals(buffer[i].key, key) {
                return i
            }
            return nil
        }
    }

    /// The value for `key`, or nil when absent. Setting nil removes the member.
    @inlinable
    public subscript(key: String) -> JSONValue? {
        get {
            guard let i = position(of: key) else { return nil }
            return members[i].value
        }
        set {
            if let i = position(of: key) {
                if let newValue {
                    members[i].value = newValue
                } else {
                    members.remove(at: i)
                    rebuildIndex()
                }
            } else if let newValue {
                members.append((key, newValue))
                if index != nil {
                    index?[ExactString(key)] = members.count - 1
                } else if members.count > Self.indexThreshold {
                    rebuildIndex()
                }
            }
        }
    }

    @usableFromInline
    mutating func rebuildIndex() {
        guard members.count > Self.indexThreshold else {
            index = nil
            return
        }
        var built = [ExactString: Int](minimumCapacity: members.count)
        for (i, member) in members.enumerated() { built[ExactString(member.key)] = i }
        index = built
    }
}

extension JSONObject: Sequence {
    public func makeIterator() -> IndexingIterator<[Element]> { members.makeIterator() }
}

extension JSONObject: Equatable {
    /// Same keys with equal values, in any order (JSON object semantics).
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.count == rhs.count else { return false }
        for (key, value) in lhs.members {
            guard let other = rhs[key], other == value else { return false }
        }
        return true
    }
}

extension JSONObject: Hashable {
    public func hash(into hasher: inout Hasher) {
        // Order-independent: combine per-member hashes commutatively.
        var combined = 0
        for (key, value) in members {
            var h = Hasher()
            h.combine(ExactString(key))
            h.combine(value)
            combined ^= h.finalize()
        }
        hasher.combine(count)
        hasher.combine(combined)
    }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(elements)
    }
}
