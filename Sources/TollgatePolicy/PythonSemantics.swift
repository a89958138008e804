import TollgateJSON

/// Python's `TypeError`: an operation Python refuses (`"a" > 1`, `1 in 5`). The evaluator turns
/// it into a fail-closed deny, as agent-os does with any exception.
public struct PythonTypeError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

/// Python's operators on the values a policy sees, reproduced exactly (CPython 3.11).
enum Python {
    enum Number {
        case int(Int64)
        case float(Double)
    }

    /// bool, int and float are numbers in Python (`True == 1 == 1.0`).
    static func number(_ v: PolicyValue) -> Number? {
        switch v {
        case .bool(let b): return .int(b ? 1 : 0)
        case .int(let i): return .int(i)
        case .float(let d): return .float(d)
        default: return nil
        }
    }

    /// Exact comparison of numbers, as CPython does for int vs float (no rounding of the int).
    /// Returns nil when unordered (NaN).
    static func compare(_ a: Number, _ b: Number) -> Int? {
        switch (a, b) {
        case (.int(let x), .int(let y)): return x < y ? -1 : (x > y ? 1 : 0)
        case (.float(let x), .float(let y)):
            if x.isNaN || y.isNaN { return nil }
            return x < y ? -1 : (x > y ? 1 : 0)
        case (.int(let x), .float(let y)): return compare(int: x, double: y)
        case (.float(let x), .int(let y)): return compare(int: y, double: x).map { -$0 }
        }
    }

    static func compare(int i: Int64, double d: Double) -> Int? {
        if d.isNaN { return nil }
        if d >= 9_223_372_036_854_775_808.0 { return -1 }
        if d < -9_223_372_036_854_775_808.0 { return 1 }
        let truncated = d.rounded(.towardZero)
        let t = Int64(truncated)
        if i < t { return -1 }
        if i > t { return 1 }
        // Same integral part: the fraction decides.
        if d > truncated { return -1 }
        if d < truncated { return 1 }
        return 0
    }

    // MARK: ==

    static func equals(_ a: PolicyValue, _ b: PolicyValue) -> Bool {
        if let x = number(a), let y = number(b) { return compare(x, y) == 0 }
        switch (a, b) {
        case (.none, .none): return true
        case (.str(let x), .str(let y)): return exactEquals(x, y)
        case (.list(let x), .list(let y)):
            guard x.count == y.count else { return false }
            for i in x.indices where !equals(x[i], y[i]) { return false }
            return true
        case (.dict(let x), .dict(let y)):
            guard x.count == y.count else { return false }
            for (key, value) in x {
                guard let other = lookup(key, in: y), equals(value, other) else { return false }
            }
            return true
        case (.date(let x), .date(let y)): return x == y
        case (.datetime(let x), .datetime(let y)):
            // Naive and aware datetimes are never equal (and comparing them is not an error).
            if (x.utcOffset == nil) != (y.utcOffset == nil) { return false }
            return x.instant == y.instant
        default: return false
        }
    }

    /// `d[key]` with Python's key equality (`1`, `1.0` and `True` are one key).
    static func lookup(_ key: PolicyValue, in pairs: [(key: PolicyValue, value: PolicyValue)]) -> PolicyValue? {
        for pair in pairs where equals(pair.key, key) { return pair.value }
        return nil
    }

    // MARK: < <= > >=

    enum Ordering: Sendable {
        case lt, le, gt, ge

        var symbol: String {
            switch self {
            case .lt: return "<"
            case .le: return "<="
            case .gt: return ">"
            case .ge: return ">="
            }
        }

        func holds(_ c: Int) -> Bool {
            switch self {
            case .lt: return c < 0
            case .le: return c <= 0
            case .gt: return c > 0
            case .ge: return c >= 0
            }
        }
    }

    /// `a OP b`; raises where Python raises `TypeError`.
    static func order(_ a: PolicyValue, _ b: PolicyValue, _ op: Ordering) throws(PythonTypeError) -> Bool {
        if let x = number(a), let y = number(b) {
            guard let c = compare(x, y) else { return false }
            return op.holds(c)
        }
        switch (a, b) {
        case (.str(let x), .str(let y)):
            let c = exactLess(x, y) ? -1 : (exactEquals(x, y) ? 0 : 1)
            return op.holds(c)
        case (.list(let x), .list(let y)):
            // Lexicographic: the first position where the items differ decides, with the operator.
            var i = 0
            while i < x.count && i < y.count {
                if !equals(x[i], y[i]) { return try order(x[i], y[i], op) }
                i += 1
            }
            return op.holds(x.count < y.count ? -1 : (x.count > y.count ? 1 : 0))
        case (.date(let x), .date(let y)):
            return op.holds(x < y ? -1 : (x == y ? 0 : 1))
        case (.datetime(let x), .datetime(let y)):
            guard (x.utcOffset == nil) == (y.utcOffset == nil) else {
                throw PythonTypeError(description: "can't compare offset-naive and offset-aware datetimes")
            }
            return op.holds(x.instant < y.instant ? -1 : (x.instant == y.instant ? 0 : 1))
        default:
            throw PythonTypeError(
                description: "'\(op.symbol)' not supported between instances of '\(a.typeName)' and '\(b.typeName)'"
            )
        }
    }

    // MARK: in

    /// `item in container`; raises where Python raises `TypeError`.
    static func contains(_ container: PolicyValue, _ item: PolicyValue) throws(PythonTypeError) -> Bool {
        switch container {
        case .list(let elements):
            for element in elements where equals(element, item) { return true }
            return false
        case .str(let haystack):
            guard case .str(let needle) = item else {
                throw PythonTypeError(
                    description: "'in <string>' requires string as left operand, not \(item.typeName)"
                )
            }
            return substring(needle, of: haystack)
        case .dict(let pairs):
            guard item.isHashable else { throw PythonTypeError(description: "unhashable type: '\(item.typeName)'") }
            return lookup(item, in: pairs) != nil
        default:
            throw PythonTypeError(description: "argument of type '\(container.typeName)' is not iterable")
        }
    }

    /// Substring by code points (UTF-8 bytes), not by grapheme clusters.
    static func substring(_ needle: String, of haystack: String) -> Bool {
        let n = Array(needle.utf8)
        if n.isEmpty { return true }
        let h = Array(haystack.utf8)
        guard h.count >= n.count else { return false }
        var i = 0
        let last = h.count - n.count
        while i <= last {
            if h[i] == n[0] {
                var j = 1
                while j < n.count && h[i + j] == n[j] { j += 1 }
                if j == n.count { return true }
            }
            i += 1
        }
        return false
    }

    // MARK: str() and repr()

    static func str(_ v: PolicyValue) -> String {
        switch v {
        case .str(let s): return s
        case .date(let d): return d.isoFormat
        case .datetime(let d): return d.isoFormat
        default: return repr(v)
        }
    }

    static func repr(_ v: PolicyValue) -> String {
        switch v {
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .float(let d): return floatRepr(d)
        case .str(let s): return stringRepr(s)
        case .list(let elements): return "[" + elements.map(repr).joined(separator: ", ") + "]"
        case .dict(let pairs):
            return "{" + pairs.map { repr($0.key) + ": " + repr($0.value) }.joined(separator: ", ") + "}"
        case .date(let d): return "datetime.date(\(d.year), \(d.month), \(d.day))"
        case .datetime(let d): return d.pythonRepr
        }
    }

    /// `repr(float)`: shortest round-trip digits, fixed notation for 1e-4 <= |x| < 1e16.
    static func floatRepr(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        // Swift's description also gives the shortest round-trip digits; re-lay them out.
        var text = Substring(d.description)
        var sign = ""
        if text.hasPrefix("-") {
            sign = "-"
            text = text.dropFirst()
        }
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...]) ?? 0
            text = text[..<e]
        }
        var digits: [Character]
        var pointPosition: Int
        if let dot = text.firstIndex(of: ".") {
            let intPart = text[..<dot]
            digits = Array(intPart) + Array(text[text.index(after: dot)...])
            pointPosition = intPart.count + exponent
        } else {
            digits = Array(text)
            pointPosition = digits.count + exponent
        }
        while digits.count > 1 && digits.first == "0" {
            digits.removeFirst()
            pointPosition -= 1
        }
        while digits.count > 1 && digits.last == "0" { digits.removeLast() }
        if digits == ["0"] { return sign + "0.0" }
        let decpt = pointPosition
        if decpt > 16 || decpt < -3 {
            var mantissa = String(digits[0])
            if digits.count > 1 { mantissa += "." + String(digits[1...]) }
            let exp = decpt - 1
            let expDigits = String(abs(exp))
            return sign + mantissa + "e" + (exp < 0 ? "-" : "+") + (expDigits.count < 2 ? "0" + expDigits : expDigits)
        }
        if decpt <= 0 {
            return sign + "0." + String(repeating: "0", count: -decpt) + String(digits)
        }
        if decpt >= digits.count {
            return sign + String(digits) + String(repeating: "0", count: decpt - digits.count) + ".0"
        }
        return sign + String(digits[..<decpt]) + "." + String(digits[decpt...])
    }

    /// `repr(str)`: single quotes unless the text has `'` and no `"`; escapes as CPython does.
    static func stringRepr(_ s: String) -> String {
        let hasSingle = s.unicodeScalars.contains("'")
        let hasDouble = s.unicodeScalars.contains("\"")
        let quote: Unicode.Scalar = hasSingle && !hasDouble ? "\"" : "'"
        var out = String.UnicodeScalarView()
        out.append(quote)
        for c in s.unicodeScalars {
            switch c {
            case quote, "\\":
                out.append("\\")
                out.append(c)
            case "\t": out.append(contentsOf: "\\t".unicodeScalars)
            case "\n": out.append(contentsOf: "\\n".unicodeScalars)
            case "\r": out.append(contentsOf: "\\r".unicodeScalars)
            default:
                if c.value < 0x20 || c.value == 0x7F {
                    out.append(contentsOf: hexEscape(c.value, "x", 2).unicodeScalars)
                } else if c.value < 0x7F || isPrintable(c) {
                    out.append(c)
                } else if c.value <= 0xFF {
                    out.append(contentsOf: hexEscape(c.value, "x", 2).unicodeScalars)
                } else if c.value <= 0xFFFF {
                    out.append(contentsOf: hexEscape(c.value, "u", 4).unicodeScalars)
                } else {
                    out.append(contentsOf: hexEscape(c.value, "U", 8).unicodeScalars)
                }
            }
        }
        out.append(quote)
        return String(out)
    }

    static func hexEscape(_ value: UInt32, _ letter: String, _ width: Int) -> String {
        let hex = String(value, radix: 16)
        return "\\" + letter + String(repeating: "0", count: max(0, width - hex.count)) + hex
    }

    /// `str.isprintable()` for one character: not in categories Cc, Cf, Cs, Co, Cn, Zl, Zp, Zs
    /// (space excepted). Uses Swift's Unicode tables, which may be newer than Python 3.11's.
    static func isPrintable(_ c: Unicode.Scalar) -> Bool {
        if c == " " { return true }
        switch c.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned,
            .lineSeparator, .paragraphSeparator, .spaceSeparator:
            return false
        default:
            return true
        }
    }
}
