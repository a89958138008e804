/// Writes compact JSON into a byte array, in the order the caller writes it.
///
/// ```swift
/// var w = JSONWriter()
/// w.beginObject()
/// w.objectField("allowed", false)
/// w.objectField("rule", nil as String?)
/// w.endObject()
/// // w.bytes == Array(#"{"allowed":false,"rule":null}"#.utf8)
/// ```
///
/// Strings are written as UTF-8 with `"`, `\` and control characters escaped (`\n`, `\r`, `\t`,
/// `\b`, `\f`, else `\u00XX`). Doubles use Swift's shortest round-trip form (`1.0`, `1e+16`);
/// non-finite doubles, which JSON cannot represent, are written as `null`.
public struct JSONWriter: Sendable {
    public private(set) var bytes: [UInt8]
    @usableFromInline var needsComma = false

    public init(reservingCapacity capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Empties the buffer, keeping its capacity (for reuse in a loop).
    public mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        needsComma = false
    }

    @inline(__always)
    mutating func separate() {
        if needsComma { bytes.append(0x2C) }
    }

    public mutating func beginObject() {
        separate()
        bytes.append(0x7B)
        needsComma = false
    }

    public mutating func endObject() {
        bytes.append(0x7D)
        needsComma = true
    }

    public mutating func beginArray() {
        separate()
        bytes.append(0x5B)
        needsComma = false
    }

    public mutating func endArray() {
        bytes.append(0x5D)
        needsComma = true
    }

    /// Writes an object key and the colon; the next value written is its value.
    public mutating func key(_ key: String) {
        separate()
        writeString(key)
        bytes.append(0x3A)
        needsComma = false
    }

    public mutating func value(_ value: JSONValue) {
        separate()
        write(value)
        needsComma = true
    }

    public mutating func string(_ value: String) {
        separate()
        writeString(value)
        needsComma = true
    }

    public mutating func bool(_ value: Bool) {
        separate()
        appendASCII(value ? "true" : "false")
        needsComma = true
    }

    public mutating func int(_ value: Int64) {
        separate()
        writeInt(value)
        needsComma = true
    }

    public mutating func null() {
        separate()
        appendASCII("null")
        needsComma = true
    }

    public mutating func objectField(_ name: String, _ value: JSONValue) {
        key(name)
        self.value(value)
    }

    public mutating func objectField(_ name: String, _ value: String?) {
        key(name)
        if let value { string(value) } else { null() }
    }

    public mutating func objectField(_ name: String, _ value: Bool) {
        key(name)
        bool(value)
    }

    public mutating func objectField(_ name: String, _ value: Int) {
        key(name)
        int(Int64(value))
    }

    public mutating func objectField(_ name: String, _ value: Int64) {
        key(name)
        int(value)
    }

    /// Ends a JSON Lines record: appends `\n`; the next value starts a new top-level value.
    /// Appends bytes the caller guarantees are one valid JSON value (e.g. JSON text kept in a
    /// database), without parsing them again.
    public mutating func rawValue(_ json: some Sequence<UInt8>) {
        separate()
        bytes.append(contentsOf: json)
        needsComma = true
    }

    public mutating func endLine() {
        bytes.append(0x0A)
        needsComma = false
    }

    // MARK: Encoding

    @inline(__always)
    mutating func appendASCII(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func write(_ value: JSONValue) {
        switch value {
        case .null: appendASCII("null")
        case .bool(let b): appendASCII(b ? "true" : "false")
        case .int(let i): writeInt(i)
        case .double(let d): writeDouble(d)
        case .string(let s): writeString(s)
        case .array(let elements):
            bytes.append(0x5B)
            for (i, element) in elements.enumerated() {
                if i > 0 { bytes.append(0x2C) }
                write(element)
            }
            bytes.append(0x5D)
        case .object(let object):
            bytes.append(0x7B)
            for (i, member) in object.enumerated() {
                if i > 0 { bytes.append(0x2C) }
                writeString(member.key)
                bytes.append(0x3A)
                write(member.value)
            }
            bytes.append(0x7D)
        }
    }

    mutating func writeInt(_ value: Int64) {
        if value >= 0 && value < 10 {
            bytes.append(0x30 + UInt8(value))
            return
        }
        var magnitude = value.magnitude
        var digits:
            (
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8
            ) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[19 - n] = 0x30 + UInt8(magnitude % 10)
                magnitude /= 10
                n += 1
            } while magnitude > 0
        }
        if value < 0 { bytes.append(0x2D) }
        withUnsafeBytes(of: &digits) { buffer in
            bytes.append(contentsOf: buffer[(20 - n)...])
        }
    }

    mutating func writeDouble(_ value: Double) {
        guard value.isFinite else {
            appendASCII("null")
            return
        }
        bytes.append(contentsOf: value.description.utf8)
    }

    mutating func writeString(_ value: String) {
        bytes.append(0x22)
        var copy = value
        copy.withUTF8 { source in
            var runStart = 0
            for i in 0..<source.count {
                let b = source[i]
                guard b < 0x20 || b == 0x22 || b == 0x5C else { continue }
                if runStart < i { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: source[runStart..<i])) }
                runStart = i + 1
                bytes.append(0x5C)
                switch b {
                case 0x22: bytes.append(0x22)
                case 0x5C: bytes.append(0x5C)
                case 0x0A: bytes.append(UInt8(ascii: "n"))
                case 0x0D: bytes.append(UInt8(ascii: "r"))
                case 0x09: bytes.append(UInt8(ascii: "t"))
                case 0x08: bytes.append(UInt8(ascii: "b"))
                case 0x0C: bytes.append(UInt8(ascii: "f"))
                default:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: [UInt8(ascii: "u"), 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 0xF)]])
                }
            }
            if runStart < source.count {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: source[runStart..<source.count]))
            }
        }
        bytes.append(0x22)
    }
}

extension JSONValue {
    /// Compact JSON bytes; object members in their stored (insertion) order.
    public func serialized() -> [UInt8] {
        var writer = JSONWriter()
        writer.value(self)
        return writer.bytes
    }

    /// Compact JSON text; object members in their stored (insertion) order.
    public func serializedString() -> String {
        String(decoding: serialized(), as: UTF8.self)
    }
}
