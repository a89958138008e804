extension JSONValue {
    /// How deeply arrays and objects may nest before parsing stops with `.tooDeep`.
    public static let defaultDepthLimit = 128

    /// Parses one JSON text (RFC 8259, strict): no NaN/Infinity, comments, trailing commas,
    /// invalid UTF-8, raw control characters in strings or unpaired surrogate escapes.
    /// Surrounding whitespace is allowed; anything else after the value is an error.
    public static func parse(
        _ bytes: UnsafeRawBufferPointer,
        depthLimit: Int = defaultDepthLimit
    ) throws(JSONError) -> JSONValue {
        guard let base = bytes.baseAddress, bytes.count > 0 else {
            throw JSONError(.unexpectedEnd, at: 0)
        }
        var parser = JSONParser(
            base: base.assumingMemoryBound(to: UInt8.self),
            count: bytes.count,
            depthLimit: depthLimit
        )
        return try parser.parseDocument()
    }

    /// Parses JSON from any collection of bytes (contiguous ones are not copied).
    public static func parse<C: Collection>(
        _ bytes: C,
        depthLimit: Int = defaultDepthLimit
    ) throws(JSONError) -> JSONValue where C.Element == UInt8 {
        let direct = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(JSONError) -> JSONValue in
                try parse(UnsafeRawBufferPointer(buffer), depthLimit: depthLimit)
            }
        }
        if let direct { return try direct.get() }
        let copy = Array(bytes)
        let result = copy.withUnsafeBytes { buffer in
            Result { () throws(JSONError) -> JSONValue in try parse(buffer, depthLimit: depthLimit) }
        }
        return try result.get()
    }

    /// Parses JSON text held in a string or substring.
    public static func parse(
        _ text: some StringProtocol,
        depthLimit: Int = defaultDepthLimit
    ) throws(JSONError) -> JSONValue {
        try parse(Array(text.utf8), depthLimit: depthLimit)
    }
}

private enum ASCII {
    static let quote: UInt8 = 0x22
    static let backslash: UInt8 = 0x5C
    static let slash: UInt8 = 0x2F
    static let comma: UInt8 = 0x2C
    static let colon: UInt8 = 0x3A
    static let openBrace: UInt8 = 0x7B
    static let closeBrace: UInt8 = 0x7D
    static let openBracket: UInt8 = 0x5B
    static let closeBracket: UInt8 = 0x5D
    static let minus: UInt8 = 0x2D
    static let plus: UInt8 = 0x2B
    static let dot: UInt8 = 0x2E
    static let zero: UInt8 = 0x30
    static let nine: UInt8 = 0x39
}

/// A recursive-descent parser over a byte buffer; recursion depth is bounded by `depthLimit`.
struct JSONParser {
    let base: UnsafePointer<UInt8>
    let count: Int
    let depthLimit: Int
    var pos = 0
    var depth = 0

    init(base: UnsafePointer<UInt8>, count: Int, depthLimit: Int) {
        self.base = base
        self.count = count
        self.depthLimit = depthLimit
    }

    mutating func parseDocument() throws(JSONError) -> JSONValue {
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        if pos < count { throw JSONError(.trailingData, at: pos) }
        return value
    }

    @inline(__always)
    mutating func skipWhitespace() {
        while pos < count {
            let b = base[pos]
            guard b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 else { return }
            pos &+= 1
        }
    }

    mutating func parseValue() throws(JSONError) -> JSONValue {
        guard pos < count else { throw JSONError(.unexpectedEnd, at: pos) }
        switch base[pos] {
        case ASCII.quote: return .string(try parseString())
        case ASCII.openBrace: return try parseObject()
        case ASCII.openBracket: return try parseArray()
        case ASCII.minus, ASCII.zero...ASCII.nine: return try parseNumber()
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        case 0xEF where count - pos >= 3 && base[pos + 1] == 0xBB && base[pos + 2] == 0xBF:
            throw JSONError(.byteOrderMark, at: pos)
        case let b: throw JSONError(b >= 0x80 ? .invalidUTF8 : .unexpectedByte(b), at: pos)
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JSONError) {
        let n = literal.utf8CodeUnitCount
        let bytes = literal.utf8Start
        for i in 0..<n {
            guard pos + i < count else { throw JSONError(.unexpectedEnd, at: pos + i) }
            guard base[pos + i] == bytes[i] else { throw JSONError(.unexpectedByte(base[pos + i]), at: pos + i) }
        }
        pos += n
    }

    mutating func enter() throws(JSONError) {
        depth += 1
        if depth > depthLimit { throw JSONError(.tooDeep(limit: depthLimit), at: pos) }
    }

    mutating func parseArray() throws(JSONError) -> JSONValue {
        var elements: [JSONValue] = []
        guard try openContainer(closing: ASCII.closeBracket) else { return .array(elements) }
        repeat {
            elements.append(try parseValue())
        } while try nextElement(closing: ASCII.closeBracket, container: "array")
        return .array(elements)
    }

    mutating func parseObject() throws(JSONError) -> JSONValue {
        var object = JSONObject(minimumCapacity: 8)
        guard try openContainer(closing: ASCII.closeBrace) else { return .object(object) }
        repeat {
            guard pos < count else { throw JSONError(.unexpectedEnd, at: pos) }
            guard base[pos] == ASCII.quote else { throw JSONError(.expectedKey, at: pos) }
            let key = try parseString()
            skipWhitespace()
            guard pos < count else { throw JSONError(.unexpectedEnd, at: pos) }
            guard base[pos] == ASCII.colon else { throw JSONError(.expectedColon, at: pos) }
            pos += 1
            skipWhitespace()
            object[key] = try parseValue()
        } while try nextElement(closing: ASCII.closeBrace, container: "object")
        return .object(object)
    }

    /// Enters a container at its opening bracket; false when it is empty (and already closed).
    mutating func openContainer(closing: UInt8) throws(JSONError) -> Bool {
        try enter()
        pos += 1
        skipWhitespace()
        if pos < count && base[pos] == closing {
            pos += 1
            depth -= 1
            return false
        }
        return true
    }

    /// After an element: true at a comma (another element follows), false at the closing
    /// bracket (consumed); a trailing comma or anything else is an error.
    mutating func nextElement(closing: UInt8, container: String) throws(JSONError) -> Bool {
        skipWhitespace()
        guard pos < count else { throw JSONError(.unexpectedEnd, at: pos) }
        let b = base[pos]
        if b == ASCII.comma {
            pos += 1
            skipWhitespace()
            if pos < count && base[pos] == closing { throw JSONError(.trailingComma, at: pos) }
            return true
        }
        guard b == closing else { throw JSONError(.expectedCommaOrEnd(container: container), at: pos) }
        pos += 1
        depth -= 1
        return false
    }

    // MARK: Strings

    /// Parses a string starting at its opening quote.
    mutating func parseString() throws(JSONError) -> String {
        pos += 1
        let start = pos
        while pos < count {
            let b = base[pos]
            if b == ASCII.quote {
                let s = String(decoding: UnsafeBufferPointer(start: base + start, count: pos - start), as: UTF8.self)
                pos += 1
                return s
            }
            if b == ASCII.backslash { return try parseEscapedString(from: start) }
            if b < 0x20 { throw JSONError(.controlCharacterInString(b), at: pos) }
            if b < 0x80 {
                pos &+= 1
            } else {
                try skipUTF8Sequence()
            }
        }
        throw JSONError(.unexpectedEnd, at: pos)
    }

    /// Validates the multi-byte UTF-8 sequence at `pos` and moves past it.
    @inline(__always)
    mutating func skipUTF8Sequence() throws(JSONError) {
        switch utf8SequenceLength(base, at: pos, count: count) {
        case .valid(let length): pos += length
        case .invalid: throw JSONError(.invalidUTF8, at: pos)
        case .truncated: throw JSONError(.unexpectedEnd, at: count)
        }
    }

    mutating func parseEscapedString(from start: Int) throws(JSONError) -> String {
        var bytes = [UInt8](UnsafeBufferPointer(start: base + start, count: pos - start))
        bytes.reserveCapacity(bytes.count + 16)
        while pos < count {
            let b = base[pos]
            if b == ASCII.quote {
                pos += 1
                return String(decoding: bytes, as: UTF8.self)
            }
            if b < 0x20 { throw JSONError(.controlCharacterInString(b), at: pos) }
            if b >= 0x80 {
                let from = pos
                try skipUTF8Sequence()
                bytes.append(contentsOf: UnsafeBufferPointer(start: base + from, count: pos - from))
                continue
            }
            guard b == ASCII.backslash else {
                bytes.append(b)
                pos += 1
                continue
            }
            let escapeStart = pos
            pos += 1
            guard pos < count else { throw JSONError(.unexpectedEnd, at: pos) }
            switch base[pos] {
            case ASCII.quote: bytes.append(ASCII.quote)
            case ASCII.backslash: bytes.append(ASCII.backslash)
            case ASCII.slash: bytes.append(ASCII.slash)
            case UInt8(ascii: "b"): bytes.append(0x08)
            case UInt8(ascii: "f"): bytes.append(0x0C)
            case UInt8(ascii: "n"): bytes.append(0x0A)
            case UInt8(ascii: "r"): bytes.append(0x0D)
            case UInt8(ascii: "t"): bytes.append(0x09)
            case UInt8(ascii: "u"):
                pos += 1
                var scalar = UInt32(try readHex4())
                if scalar >= 0xD800 && scalar <= 0xDBFF {
                    // A high surrogate must be followed by an escaped low surrogate.
                    guard pos + 1 < count, base[pos] == ASCII.backslash, base[pos + 1] == UInt8(ascii: "u") else {
                        throw JSONError(.loneSurrogate(UInt16(scalar)), at: escapeStart)
                    }
                    pos += 2
                    let low = UInt32(try readHex4())
                    guard low >= 0xDC00 && low <= 0xDFFF else {
                        throw JSONError(.loneSurrogate(UInt16(scalar)), at: escapeStart)
                    }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar <= 0xDFFF {
                    throw JSONError(.loneSurrogate(UInt16(scalar)), at: escapeStart)
                }
                guard let unicode = Unicode.Scalar(scalar) else {
                    throw JSONError(.invalidUnicodeEscape, at: escapeStart)
                }
                appendUTF8(unicode, to: &bytes)
                continue
            default:
                throw JSONError(.invalidEscape, at: escapeStart)
            }
            pos += 1
        }
        throw JSONError(.unexpectedEnd, at: pos)
    }

    mutating func readHex4() throws(JSONError) -> UInt16 {
        var value: UInt16 = 0
        for _ in 0..<4 {
            guard pos < count else { throw JSONError(.unexpectedEnd, at: pos) }
            let b = base[pos]
            let digit: UInt8
            switch b {
            case ASCII.zero...ASCII.nine: digit = b - ASCII.zero
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b - UInt8(ascii: "A") + 10
            default: throw JSONError(.invalidUnicodeEscape, at: pos)
            }
            value = value << 4 | UInt16(digit)
            pos += 1
        }
        return value
    }

    // MARK: Numbers

    mutating func parseNumber() throws(JSONError) -> JSONValue {
        let start = pos
        var negative = false
        if base[pos] == ASCII.minus {
            negative = true
            pos += 1
        }
        guard pos < count else { throw JSONError(.unexpectedEnd, at: pos) }
        let first = base[pos]
        guard first >= ASCII.zero && first <= ASCII.nine else { throw JSONError(.invalidNumber, at: pos) }
        // Accumulate negatively so that Int64.min fits.
        var value: Int64 = 0
        var overflow = false
        if first == ASCII.zero {
            pos += 1
            if pos < count, base[pos] >= ASCII.zero && base[pos] <= ASCII.nine {
                throw JSONError(.invalidNumber, at: pos)
            }
        } else {
            while pos < count {
                let b = base[pos]
                guard b >= ASCII.zero && b <= ASCII.nine else { break }
                if !overflow {
                    let (m, o1) = value.multipliedReportingOverflow(by: 10)
                    let (s, o2) = m.subtractingReportingOverflow(Int64(b - ASCII.zero))
                    if o1 || o2 { overflow = true } else { value = s }
                }
                pos += 1
            }
        }
        var integral = true
        if pos < count && base[pos] == ASCII.dot {
            integral = false
            pos += 1
            try readDigits()
        }
        if pos < count && (base[pos] == UInt8(ascii: "e") || base[pos] == UInt8(ascii: "E")) {
            integral = false
            pos += 1
            if pos < count && (base[pos] == ASCII.plus || base[pos] == ASCII.minus) { pos += 1 }
            try readDigits()
        }
        if integral && !overflow {
            if negative { return .int(value) }
            if value != Int64.min { return .int(-value) }
        }
        let text = String(decoding: UnsafeBufferPointer(start: base + start, count: pos - start), as: UTF8.self)
        guard let double = Double(text) else { throw JSONError(.invalidNumber, at: start) }
        return .double(double)
    }

    mutating func readDigits() throws(JSONError) {
        guard pos < count else { throw JSONError(.unexpectedEnd, at: pos) }
        guard base[pos] >= ASCII.zero && base[pos] <= ASCII.nine else { throw JSONError(.invalidNumber, at: pos) }
        while pos < count && base[pos] >= ASCII.zero && base[pos] <= ASCII.nine { pos += 1 }
    }
}

/// Appends the UTF-8 encoding of a scalar.
@inline(__always)
func appendUTF8(_ scalar: Unicode.Scalar, to bytes: inout [UInt8]) {
    let v = scalar.value
    switch v {
    case 0..<0x80:
        bytes.append(UInt8(v))
    case 0x80..<0x800:
        bytes.append(UInt8(0xC0 | (v >> 6)))
        bytes.append(UInt8(0x80 | (v & 0x3F)))
    case 0x800..<0x10000:
        bytes.append(UInt8(0xE0 | (v >> 12)))
        bytes.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
        bytes.append(UInt8(0x80 | (v & 0x3F)))
    default:
        bytes.append(UInt8(0xF0 | (v >> 18)))
        bytes.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
        bytes.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
        bytes.append(UInt8(0x80 | (v & 0x3F)))
    }
}

enum UTF8Sequence {
    case valid(Int)
    case invalid
    /// A valid start cut short by the end of the input.
    case truncated
}

/// The multi-byte UTF-8 sequence whose lead byte is at `pos` (RFC 3629: no overlongs, no
/// surrogates, nothing above U+10FFFF).
@inline(__always)
func utf8SequenceLength(_ base: UnsafePointer<UInt8>, at pos: Int, count: Int) -> UTF8Sequence {
    let lead = base[pos]
    let length: Int
    var low: UInt8 = 0x80
    var high: UInt8 = 0xBF
    switch lead {
    case 0x00..<0x80: return .valid(1)
    case 0xC2...0xDF: length = 2
    case 0xE0:
        length = 3
        low = 0xA0
    case 0xE1...0xEC, 0xEE...0xEF: length = 3
    case 0xED:
        length = 3
        high = 0x9F
    case 0xF0:
        length = 4
        low = 0x90
    case 0xF1...0xF3: length = 4
    case 0xF4:
        length = 4
        high = 0x8F
    default: return .invalid
    }
    for i in 1..<length {
        guard pos + i < count else { return .truncated }
        let b = base[pos + i]
        if i == 1 ? (b < low || b > high) : (b & 0xC0 != 0x80) { return .invalid }
    }
    return .valid(length)
}

/// The offset of the first byte that does not start or continue valid UTF-8 (a sequence cut
/// short by the end counts as invalid at its start); nil when all of `bytes` is valid UTF-8.
public func firstInvalidUTF8Offset(_ bytes: [UInt8]) -> Int? {
    bytes.withUnsafeBufferPointer { buffer -> Int? in
        guard let base = buffer.baseAddress else { return nil }
        var pos = 0
        while pos < buffer.count {
            guard case .valid(let length) = utf8SequenceLength(base, at: pos, count: buffer.count) else { return pos }
            pos += length
        }
        return nil
    }
}
