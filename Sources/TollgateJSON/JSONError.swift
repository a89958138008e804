/// Why a JSON text was rejected, and the byte offset (0-based) where the problem was found.
public struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case unexpectedEnd
        case unexpectedByte(UInt8)
        case invalidUTF8
        /// EF BB BF where a value starts: valid UTF-8, but not JSON (RFC 8259 section 8.1).
        case byteOrderMark
        case controlCharacterInString(UInt8)
        case invalidEscape
        case invalidUnicodeEscape
        case loneSurrogate(UInt16)
        case invalidNumber
        case expectedColon
        case expectedCommaOrEnd(container: String)
        case expectedKey
        case trailingComma
        case trailingData
        case tooDeep(limit: Int)
    }

    public let kind: Kind
    /// 0-based byte offset in the input.
    public let offset: Int

    public init(_ kind: Kind, at offset: Int) {
        self.kind = kind
        self.offset = offset
    }

    public var description: String {
        let what: String
        switch kind {
        case .unexpectedEnd: what = "unexpected end of input"
        case .unexpectedByte(let b): what = "unexpected \(Self.show(b))"
        case .invalidUTF8: what = "invalid UTF-8"
        case .byteOrderMark: what = "a byte order mark (U+FEFF), which a JSON message must not start with,"
        case .controlCharacterInString(let b): what = "unescaped control character \(Self.hex(b)) in string"
        case .invalidEscape: what = "invalid escape sequence in string"
        case .invalidUnicodeEscape: what = "invalid \\u escape (expected 4 hex digits)"
        case .loneSurrogate(let u):
            what = "unpaired surrogate \\u\(String(u, radix: 16)) (not representable; rejected)"
        case .invalidNumber: what = "invalid number"
        case .expectedColon: what = "expected ':' after object key"
        case .expectedCommaOrEnd(let container):
            what = container == "object" ? "expected ',' or '}' in object" : "expected ',' or ']' in array"
        case .expectedKey: what = "expected a string key in object"
        case .trailingComma: what = "trailing comma"
        case .trailingData: what = "unexpected data after the JSON value"
        case .tooDeep(let limit): what = "nesting deeper than \(limit) levels"
        }
        return "\(what) at byte \(offset)"
    }

    static func hex(_ b: UInt8) -> String {
        let digits = String(b, radix: 16, uppercase: true)
        return "0x" + (digits.count == 1 ? "0" + digits : digits)
    }

    static func show(_ b: UInt8) -> String {
        if b >= 0x21 && b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
        return "byte \(hex(b))"
    }
}
