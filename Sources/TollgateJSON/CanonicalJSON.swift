/// RFC 8785 (JSON Canonicalization Scheme): the one byte string a JSON value has, whatever its
/// key order, spacing or number spelling, so that a digest of it is the same in every language
/// with a JCS library. Objects are sorted by their keys' UTF-16 code units (a key given twice
/// keeps its last value, as the parser reads it); strings are escaped as ECMAScript's
/// `JSON.stringify` does; numbers are printed as ECMAScript's `Number.prototype.toString` prints
/// the IEEE double nearest to them (so `5000`, `5000.0` and `5e3` are all `5000`).
public func canonicalJSON(_ value: JSONValue) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(128)
    Canonical.write(value, to: &out)
    return out
}

/// Appends the RFC 8785 form of one string (quotes included): for writers that emit canonical
/// objects whose keys they already know in order.
public func appendCanonicalJSON(string: String, to out: inout [UInt8]) {
    Canonical.string(string, to: &out)
}

/// Appends the RFC 8785 form of a value.
public func appendCanonicalJSON(_ value: JSONValue, to out: inout [UInt8]) {
    Canonical.write(value, to: &out)
}

enum Canonical {
    static func write(_ value: JSONValue, to out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i):
            // Exactly representable integers print as themselves (the common case, no Double).
            if i.magnitude <= 1 << 53 {
                out.append(contentsOf: String(i).utf8)
            } else {
                out.append(contentsOf: number(Double(i)).utf8)
            }
        case .double(let d): out.append(contentsOf: number(d).utf8)
        case .string(let s): string(s, to: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (n, item) in items.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                write(item, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            var latest: [String: JSONValue] = [:]
            for (key, member) in object { latest[key] = member }
            let keys = latest.keys.sorted { $0.utf16.lexicographicallyPrecedes($1.utf16) }
            out.append(UInt8(ascii: "{"))
            for (n, key) in keys.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                string(key, to: &out)
                out.append(UInt8(ascii: ":"))
                write(latest[key]!, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    static func string(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += [0x5C, 0x22]
            case UInt8(ascii: "\\"): out += [0x5C, 0x5C]
            case 0x08: out += [0x5C, UInt8(ascii: "b")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0C: out += [0x5C, UInt8(ascii: "f")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0..<0x20:
                let hex: StaticString = "0123456789abcdef"
                out.append(contentsOf: [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                out.append(hex.utf8Start[Int(byte >> 4)])
                out.append(hex.utf8Start[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// ECMAScript's Number::toString for a finite double.
    static func number(_ d: Double) -> String {
        if d == 0 { return "0" }
        let (digits, n) = shortestDigits(abs(d))
        let k = digits.count
        let sign = d < 0 ? "-" : ""
        let body: String
        if k <= n && n <= 21 {
            body = digits + String(repeating: "0", count: n - k)
        } else if 0 < n && n <= 21 {
            body = String(digits.prefix(n)) + "." + String(digits.dropFirst(n))
        } else if -6 < n && n <= 0 {
            body = "0." + String(repeating: "0", count: -n) + digits
        } else {
            let exponent = n - 1
            let mantissa = k == 1 ? digits : String(digits.prefix(1)) + "." + String(digits.dropFirst(1))
            body = mantissa + "e" + (exponent < 0 ? "-" : "+") + String(abs(exponent))
        }
        return sign + body
    }

    /// The shortest decimal digits that round-trip to `d` (> 0), and the exponent `n` with
    /// d = 0.d1d2...dk × 10^n. From Swift's own shortest round-trip printing.
    static func shortestDigits(_ d: Double) -> (String, Int) {
        let text = d.description  // "5000.0", "1.5e-07", "1.2345678901234568e+20"
        let parts = text.split(separator: "e", maxSplits: 1)
        let exponent = parts.count == 2 ? Int(parts[1])! : 0
        let mantissa = parts[0]
        let dot = mantissa.firstIndex(of: ".")
        let integerPart = dot.map { mantissa[..<$0] } ?? mantissa[...]
        let fractionPart = dot.map { mantissa[mantissa.index(after: $0)...] } ?? ""
        var digits = Array(integerPart + fractionPart)
        var n = integerPart.count + exponent
        while digits.first == "0" {
            digits.removeFirst()
            n -= 1
        }
        while digits.last == "0" { digits.removeLast() }
        return (String(digits), n)
    }
}
