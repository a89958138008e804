import Foundation

/// Why a `matches` pattern was rejected at load.
struct RegexError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// A Python `re` pattern, translated to ICU syntax and compiled once at load, searched the way
/// `re.search(pattern, text)` is (unanchored, first match anywhere).
///
/// The translation keeps Python's meaning where ICU's differs: `.` stops only at `\n`, `$` matches
/// at the end or before a final `\n`, `\Z` is the absolute end, `\s`, `\w`, `\b` use Python's
/// character sets, `{` that is not a repeat is a literal, `(?P<name>...)` and `(?P=name)` work, and
/// verbose mode is expanded here. Patterns Python rejects are rejected with Python's message.
final class PythonRegex: @unchecked Sendable {
    // @unchecked: NSRegularExpression is immutable after init and documented as safe to use
    // from several threads at once; nothing here mutates after init.
    let pattern: String
    let icuPattern: String
    private let regex: NSRegularExpression

    init(_ pattern: String) throws(RegexError) {
        self.pattern = pattern
        var translator = PythonRegexTranslator(pattern)
        icuPattern = try translator.translate()
        do {
            regex = try NSRegularExpression(pattern: icuPattern, options: [])
        } catch {
            throw RegexError("not supported by Tollgate's regular-expression engine (ICU)")
        }
    }

    /// `re.search(pattern, text) is not None`.
    func search(_ text: String) -> Bool {
        let ns = text as NSString
        return regex.firstMatch(in: text, options: [], range: NSRange(location: 0, length: ns.length)) != nil
    }
}

/// Widths saturate instead of overflowing (nested repeats of huge counts).
func saturating(_ a: Int, times b: Int) -> Int {
    let (result, overflow) = a.multipliedReportingOverflow(by: b)
    return overflow ? Int.max : result
}

func saturating(_ a: Int, plus b: Int) -> Int {
    let (result, overflow) = a.addingReportingOverflow(b)
    return overflow ? Int.max : result
}

/// Parses Python `re` syntax (3.11) and writes an equivalent ICU pattern.
struct PythonRegexTranslator {
    struct Flags {
        var ignoreCase = false, multiline = false, dotAll = false, verbose = false, ascii = false
    }

    /// Width of what a piece matches, in characters; `max == nil` means unbounded.
    struct Width {
        var min: Int
        var max: Int?
        static let zero = Width(min: 0, max: 0)
        static let one = Width(min: 1, max: 1)
    }

    enum AtomKind { case normal, anchor, lookaround }

    let chars: [Unicode.Scalar]
    var pos = 0
    var flags = Flags()
    var groupCount = 0
    var groupNames: [String: Int] = [:]
    var openGroups: Set<Int> = []
    var groupWidths: [Int: Width] = [:]

    init(_ pattern: String) {
        chars = Array(pattern.unicodeScalars)
    }

    var peek: Unicode.Scalar? { pos < chars.count ? chars[pos] : nil }

    func peek(_ offset: Int) -> Unicode.Scalar? {
        pos + offset < chars.count ? chars[pos + offset] : nil
    }

    func error(_ message: String, at position: Int? = nil) -> RegexError {
        RegexError("\(message) at position \(position ?? pos)")
    }

    mutating func translate() throws(RegexError) -> String {
        // Global flags are only allowed at the start (Python 3.11).
        while peek == "(" && peek(1) == "?", let end = flagGroupEnd(from: pos + 2), chars[end] == ")" {
            applyFlags(chars[(pos + 2)..<end])
            pos = end + 1
        }
        let (body, _) = try parseAlternation()
        if pos < chars.count {
            throw error("unbalanced parenthesis")
        }
        // ICU refuses an empty pattern; Python's matches everywhere.
        return (flags.ignoreCase ? "(?i)" : "") + (body.isEmpty ? "(?:)" : body)
    }

    /// The index after a run of flag letters starting at `from`, if there is at least one.
    func flagGroupEnd(from start: Int) -> Int? {
        var i = start
        while i < chars.count, "aiLmsux".unicodeScalars.contains(chars[i]) { i += 1 }
        return i > start && i < chars.count ? i : nil
    }

    mutating func applyFlags(_ letters: ArraySlice<Unicode.Scalar>, on: Bool = true) {
        for c in letters {
            switch c {
            case "i": flags.ignoreCase = on
            case "m": flags.multiline = on
            case "s": flags.dotAll = on
            case "x": flags.verbose = on
            case "a": flags.ascii = on
            default: break
            }
        }
    }

    mutating func parseAlternation() throws(RegexError) -> (String, Width) {
        var (text, width) = try parseSequence()
        while peek == "|" {
            pos += 1
            let (t, w) = try parseSequence()
            text += "|" + t
            width = Width(
                min: Swift.min(width.min, w.min),
                max: width.max.flatMap { a in w.max.map { Swift.max(a, $0) } }
            )
        }
        return (text, width)
    }

    mutating func skipVerbose() {
        guard flags.verbose else { return }
        while let c = peek {
            if c == " " || c == "\t" || c == "\n" || c == "\r" || c == "\u{0B}" || c == "\u{0C}" {
                pos += 1
            } else if c == "#" {
                while let d = peek, d != "\n" { pos += 1 }
            } else {
                return
            }
        }
    }

    mutating func parseSequence() throws(RegexError) -> (String, Width) {
        var text = ""
        var width = Width.zero
        var last: (text: String, width: Width, kind: AtomKind, quantified: Bool)?

        func flush() {
            guard let atom = last else { return }
            text += atom.text
            width.min = saturating(width.min, plus: atom.width.min)
            width.max = width.max.flatMap { a in atom.width.max.map { saturating(a, plus: $0) } }
            last = nil
        }

        while true {
            skipVerbose()
            guard let c = peek, c != "|", c != ")" else { break }
            let start = pos
            if let (minimum, maximum) = try quantifierHere() {
                // Python also repeats lookarounds, with its own zero-width rules; Tollgate refuses.
                guard let atom = last, atom.kind == .normal else {
                    throw error("nothing to repeat", at: start)
                }
                if atom.quantified { throw error("multiple repeat", at: start) }
                var suffix = ""
                if peek == "?" {
                    pos += 1
                    suffix = "?"
                } else if peek == "+" {
                    pos += 1
                    suffix = "+"
                }
                let q: String
                switch (minimum, maximum) {
                case (0, nil): q = "*"
                case (1, nil): q = "+"
                case (0, 1?): q = "?"
                case (let m, nil): q = "{\(m),}"
                case (let m, let n?): q = m == n ? "{\(m)}" : "{\(m),\(n)}"
                }
                let w = Width(
                    min: saturating(atom.width.min, times: minimum),
                    max: repeatedMax(atom.width.max, maximum)
                )
                last = (atom.text + q + suffix, w, .normal, true)
                continue
            }
            flush()
            if let atom = try parseAtom() {
                last = (atom.0, atom.1, atom.2, false)
            }
        }
        flush()
        return (text, width)
    }

    /// The widest a repeated piece can be: unbounded unless both are bounded (zero stays zero).
    func repeatedMax(_ width: Int?, _ count: Int?) -> Int? {
        if width == 0 { return 0 }
        guard let width, let count else { return nil }
        return saturating(width, times: count)
    }

    /// A repeat at `pos` (`*`, `+`, `?`, `{m,n}`), consumed; nil when there is none (a `{` that
    /// does not form a repeat is a literal, as in Python).
    mutating func quantifierHere() throws(RegexError) -> (Int, Int?)? {
        guard let c = peek else { return nil }
        switch c {
        case "*":
            pos += 1
            return (0, nil)
        case "+":
            pos += 1
            return (1, nil)
        case "?":
            pos += 1
            return (0, 1)
        case "{":
            let start = pos
            var i = pos + 1
            if i < chars.count && chars[i] == "}" { return nil }
            var lo = ""
            var hi = ""
            while i < chars.count, chars[i].properties.numericType == .decimal, chars[i].isASCII {
                lo.unicodeScalars.append(chars[i])
                i += 1
            }
            var hasComma = false
            if i < chars.count && chars[i] == "," {
                hasComma = true
                i += 1
                while i < chars.count, chars[i].properties.numericType == .decimal, chars[i].isASCII {
                    hi.unicodeScalars.append(chars[i])
                    i += 1
                }
            } else {
                hi = lo
            }
            guard i < chars.count && chars[i] == "}" else { return nil }
            pos = i + 1
            let minimum = lo.isEmpty ? 0 : Int(lo)
            let maximum: Int? = hi.isEmpty ? nil : Int(hi)
            guard let minimum, minimum < 4_294_967_295, hasComma || maximum != nil else {
                throw error("the repetition number is too large", at: start)
            }
            if let maximum {
                guard maximum < 4_294_967_295 else { throw error("the repetition number is too large", at: start) }
                if maximum < minimum { throw error("min repeat greater than max repeat", at: start) }
            }
            return (minimum, maximum)
        default:
            return nil
        }
    }

    // MARK: Atoms

    mutating func parseAtom() throws(RegexError) -> (String, Width, AtomKind)? {
        guard let c = peek else { return nil }
        let start = pos
        pos += 1
        switch c {
        case "(": return try parseGroup(start: start)
        case "[": return (try parseClass(start: start), .one, .normal)
        case ".":
            return (flags.dotAll ? "[\\x{0}-\\x{10ffff}]" : "[^\\x{0a}]", .one, .normal)
        case "^":
            return (flags.multiline ? "(?:\\A|(?<=\\x{0a}))" : "\\A", .zero, .anchor)
        case "$":
            return (flags.multiline ? "(?=\\x{0a}|\\z)" : "(?=\\x{0a}?\\z)", .zero, .anchor)
        case "\\":
            return try parseEscape(start: start)
        default:
            return (literal(c), .one, .normal)
        }
    }

    func literal(_ c: Unicode.Scalar) -> String {
        // Case-insensitively, ICU folds literal strings fully ("ß" matches "SS") but sets simply,
        // as Python does: a one-character set keeps Python's meaning.
        if flags.ignoreCase { return "[\\x{" + String(c.value, radix: 16) + "}]" }
        if c.isASCII && (c.properties.isAlphabetic || c.properties.numericType == .decimal) {
            return String(Character(c))
        }
        return "\\x{" + String(c.value, radix: 16) + "}"
    }

    static let wordSet = "\\p{L}\\p{N}_"
    static let spaceSet =
        "\\x{09}-\\x{0d}\\x{1c}-\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}"

    /// The ICU set for `\d \D \s \S \w \W` under the current flags.
    func classEscape(_ c: Unicode.Scalar) -> String? {
        let ascii = flags.ascii
        switch c {
        case "d": return ascii ? "[0-9]" : "[\\p{Nd}]"
        case "D": return ascii ? "[^0-9]" : "[^\\p{Nd}]"
        case "s": return ascii ? "[\\x{09}-\\x{0d}\\x{20}]" : "[" + Self.spaceSet + "]"
        case "S": return ascii ? "[^\\x{09}-\\x{0d}\\x{20}]" : "[^" + Self.spaceSet + "]"
        case "w": return ascii ? "[A-Za-z0-9_]" : "[" + Self.wordSet + "]"
        case "W": return ascii ? "[^A-Za-z0-9_]" : "[^" + Self.wordSet + "]"
        default: return nil
        }
    }

    var wordClass: String { flags.ascii ? "[A-Za-z0-9_]" : "[" + Self.wordSet + "]" }

    mutating func parseEscape(start: Int) throws(RegexError) -> (String, Width, AtomKind) {
        guard let c = peek else { throw error("bad escape (end of pattern)", at: start) }
        pos += 1
        if let set = classEscape(c) { return (set, .one, .normal) }
        switch c {
        case "A": return ("\\A", .zero, .anchor)
        case "Z": return ("\\z", .zero, .anchor)
        case "b":
            let w = wordClass
            return ("(?:(?<=\(w))(?!\(w))|(?<!\(w))(?=\(w)))", .zero, .anchor)
        case "B":
            let w = wordClass
            // Python's \B never matches in an empty string.
            return ("(?!\\A\\z)(?:(?<=\(w))(?=\(w))|(?<!\(w))(?!\(w)))", .zero, .anchor)
        case "1"..."9":
            // Three octal digits are a character; otherwise one or two digits are a group reference.
            if let d1 = peek, let d2 = peek(1), "01234567".unicodeScalars.contains(c),
                "01234567".unicodeScalars.contains(d1), "01234567".unicodeScalars.contains(d2)
            {
                pos += 2
                let value = Int(String([Character(c), Character(d1), Character(d2)]), radix: 8) ?? 0
                guard value <= 0o377 else {
                    throw error("octal escape value \\\(c)\(d1)\(d2) outside of range 0-0o377", at: start)
                }
                return (literal(Unicode.Scalar(UInt8(value))), .one, .normal)
            }
            var digits = String(Character(c))
            if let d = peek, d.isASCII, d.properties.numericType == .decimal {
                digits.unicodeScalars.append(d)
                pos += 1
            }
            return try groupReference(Int(digits) ?? 0, start: start)
        default:
            return (literal(try escapedCharacter(c, start: start, inClass: false)), .one, .normal)
        }
    }

    mutating func groupReference(_ group: Int, start: Int) throws(RegexError) -> (String, Width, AtomKind) {
        guard group >= 1, group <= groupCount else { throw error("invalid group reference \(group)", at: start + 1) }
        guard !openGroups.contains(group) else { throw error("cannot refer to an open group", at: start) }
        return ("(?:\\\(group))", groupWidths[group] ?? Width(min: 0, max: nil), .normal)
    }

    /// The character an escape stands for (`\n`, `\x41`, `\u00e9`, `\0`, `\.`); throws for an
    /// unknown ASCII-letter escape, as Python does.
    mutating func escapedCharacter(_ c: Unicode.Scalar, start: Int, inClass: Bool) throws(RegexError) -> Unicode.Scalar
    {
        switch c {
        case "n": return "\n"
        case "t": return "\t"
        case "r": return "\r"
        case "f": return "\u{0C}"
        case "v": return "\u{0B}"
        case "a": return "\u{07}"
        case "b" where inClass: return "\u{08}"
        case "x", "u", "U":
            let count = c == "x" ? 2 : (c == "u" ? 4 : 8)
            var hex = ""
            for _ in 0..<count {
                guard let h = peek, h.isASCII, h.properties.isASCIIHexDigit else {
                    throw error("incomplete escape \\\(c)\(hex)", at: start)
                }
                hex.unicodeScalars.append(h)
                pos += 1
            }
            guard let value = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(value) else {
                throw error("bad escape \\\(c)\(hex)", at: start)
            }
            return scalar
        case "0"..."7":
            // Octal: \0 takes up to two more digits; in a class any octal digit starts one.
            guard c == "0" || inClass else { break }
            var digits = String(Character(c))
            while digits.count < 3, let d = peek, "01234567".unicodeScalars.contains(d) {
                digits.unicodeScalars.append(d)
                pos += 1
            }
            let value = Int(digits, radix: 8) ?? 0
            guard value <= 0o377 else {
                throw error("octal escape value \\\(digits) outside of range 0-0o377", at: start)
            }
            return Unicode.Scalar(UInt8(value))
        case "N":
            throw error("\\N{...} named characters are not supported by Tollgate", at: start)
        default:
            break
        }
        if c.isASCII && (c.properties.isAlphabetic || c.properties.numericType == .decimal) {
            throw error("bad escape \\\(c)", at: start)
        }
        return c
    }

    // MARK: Groups

    mutating func parseGroup(start: Int) throws(RegexError) -> (String, Width, AtomKind)? {
        guard peek == "?" else {
            groupCount += 1
            let group = groupCount
            openGroups.insert(group)
            let (body, width) = try closeGroup(start: start)
            openGroups.remove(group)
            groupWidths[group] = width
            return ("(" + body + ")", width, .normal)
        }
        pos += 1
        guard let c = peek else { throw error("unexpected end of pattern", at: pos) }
        switch c {
        case ":":
            pos += 1
            let (body, width) = try closeGroup(start: start)
            return ("(?:" + body + ")", width, .normal)
        case ">":
            pos += 1
            let (body, width) = try closeGroup(start: start)
            return ("(?>" + body + ")", width, .normal)
        case "=", "!":
            pos += 1
            let (body, _) = try closeGroup(start: start)
            return ("(?" + String(Character(c)) + body + ")", .zero, .lookaround)
        case "<":
            guard let d = peek(1), d == "=" || d == "!" else {
                throw error("unknown extension ?<\(peek(1).map { String(Character($0)) } ?? "")", at: start + 1)
            }
            pos += 2
            let (body, width) = try closeGroup(start: start)
            guard width.max == width.min else {
                throw error("look-behind requires fixed-width pattern", at: start)
            }
            return ("(?<" + String(Character(d)) + body + ")", .zero, .lookaround)
        case "#":
            while let d = peek, d != ")" { pos += 1 }
            guard peek == ")" else { throw error("missing ), unterminated comment", at: start) }
            pos += 1
            return nil
        case "P":
            pos += 1
            if peek == "<" {
                pos += 1
                let name = try groupName(terminator: ">")
                guard groupNames[name] == nil else {
                    throw error(
                        "redefinition of group name '\(name)' as group \(groupCount + 1); was group \(groupNames[name] ?? 0)",
                        at: start
                    )
                }
                groupCount += 1
                let group = groupCount
                groupNames[name] = group
                openGroups.insert(group)
                let (body, width) = try closeGroup(start: start)
                openGroups.remove(group)
                groupWidths[group] = width
                return ("(" + body + ")", width, .normal)
            }
            if peek == "=" {
                pos += 1
                let name = try groupName(terminator: ")")
                guard let group = groupNames[name] else { throw error("unknown group name '\(name)'", at: start) }
                return try groupReference(group, start: start)
            }
            throw error("unknown extension ?P\(peek.map { String(Character($0)) } ?? "")", at: start + 1)
        case "(":
            throw error("conditional groups (?(...)...) are not supported by Tollgate", at: start)
        default:
            // Scoped flags (?i:...) / (?-i:...); global flags here are an error in Python 3.11.
            var on: [Unicode.Scalar] = []
            var off: [Unicode.Scalar] = []
            var negative = false
            while let d = peek {
                if "aiLmsux".unicodeScalars.contains(d) {
                    if negative { off.append(d) } else { on.append(d) }
                    pos += 1
                } else if d == "-" && !negative {
                    negative = true
                    pos += 1
                } else {
                    break
                }
            }
            if peek == ")" && !negative && !on.isEmpty {
                throw error("global flags not at the start of the expression", at: start)
            }
            guard peek == ":", !(on.isEmpty && off.isEmpty) else {
                throw error(
                    "unknown extension ?\(String(String.UnicodeScalarView(chars[(start + 2)..<Swift.min(pos + 1, chars.count)])))",
                    at: start + 1
                )
            }
            if on.contains("L") || off.contains("L") || off.contains("a") || off.contains("u") {
                throw error("bad inline flags: cannot use 'L' flag with a str pattern or turn off 'a'/'u'", at: start)
            }
            pos += 1
            let saved = flags
            applyFlags(on[...])
            applyFlags(off[...], on: false)
            let caseChanged = flags.ignoreCase != saved.ignoreCase
            let (body, width) = try closeGroup(start: start)
            let prefix = caseChanged ? (flags.ignoreCase ? "(?i:" : "(?-i:") : "(?:"
            flags = saved
            return (prefix + body + ")", width, .normal)
        }
    }

    mutating func closeGroup(start: Int) throws(RegexError) -> (String, Width) {
        let result = try parseAlternation()
        guard peek == ")" else { throw error("missing ), unterminated subpattern", at: start) }
        pos += 1
        return result
    }

    mutating func groupName(terminator: Unicode.Scalar) throws(RegexError) -> String {
        var name = ""
        while let c = peek, c != terminator {
            name.unicodeScalars.append(c)
            pos += 1
        }
        guard peek == terminator else { throw error("missing \(Character(terminator)), unterminated name", at: pos) }
        pos += 1
        guard let first = name.unicodeScalars.first,
            first == "_" || first.properties.isXIDStart,
            name.unicodeScalars.allSatisfy({ $0 == "_" || $0.properties.isXIDContinue })
        else { throw error("bad character in group name '\(name)'", at: pos - name.unicodeScalars.count - 1) }
        return name
    }

    // MARK: Classes

    mutating func parseClass(start: Int) throws(RegexError) -> String {
        var out = "["
        if peek == "^" {
            out += "^"
            pos += 1
        }
        var first = true
        while true {
            guard let c = peek else { throw error("unterminated character set", at: start) }
            if c == "]" && !first {
                pos += 1
                break
            }
            first = false
            let itemStart = pos
            pos += 1
            var low: Unicode.Scalar
            if c == "\\" {
                guard let e = peek else { throw error("bad escape (end of pattern)", at: itemStart) }
                pos += 1
                if let set = classEscape(e) {
                    if peek == "-", let next = peek(1), next != "]" {
                        throw error("bad character range \\\(e)-\(Character(next))", at: itemStart)
                    }
                    out += set
                    continue
                }
                if e.isASCII, e.properties.numericType == .decimal, !"01234567".unicodeScalars.contains(e) {
                    throw error("bad escape \\\(e)", at: itemStart)
                }
                low = try escapedCharacter(e, start: itemStart, inClass: true)
            } else {
                low = c
            }
            if peek == "-", let next = peek(1), next != "]" {
                pos += 1
                let highStart = pos
                pos += 1
                var high = next
                if next == "\\" {
                    guard let e = peek else { throw error("bad escape (end of pattern)", at: highStart) }
                    pos += 1
                    if classEscape(e) != nil {
                        throw error("bad character range \(Character(low))-\\\(e)", at: itemStart)
                    }
                    high = try escapedCharacter(e, start: highStart, inClass: true)
                }
                guard high.value >= low.value else {
                    throw error("bad character range \(Character(low))-\(Character(high))", at: itemStart)
                }
                out += "\\x{" + String(low.value, radix: 16) + "}-\\x{" + String(high.value, radix: 16) + "}"
            } else {
                out += "\\x{" + String(low.value, radix: 16) + "}"
            }
        }
        return out + "]"
    }
}
