/// PyYAML's YAML 1.1 scalar rules (`yaml.safe_load`, the `SafeLoader` resolvers and
/// constructors), which agent-os uses: plain `yes`/`on` are booleans, `1e3` is a string,
/// `1.0e+3` a float, `0x1F` and `017` are integers, `1:30` is 90, `2024-01-01` is a date.
enum YAMLScalars {
    static let strTag = "tag:yaml.org,2002:str"
    static let intTag = "tag:yaml.org,2002:int"
    static let floatTag = "tag:yaml.org,2002:float"
    static let boolTag = "tag:yaml.org,2002:bool"
    static let nullTag = "tag:yaml.org,2002:null"
    static let timestampTag = "tag:yaml.org,2002:timestamp"

    /// The resolver's regular expressions, built once per file.
    struct Patterns {
        let int = YAMLScalars.intPattern
        let float = YAMLScalars.floatPattern
        let timestamp = YAMLScalars.timestampPattern
    }

    /// The tag PyYAML's implicit resolvers give a plain (unquoted, untagged) scalar.
    static func implicitTag(of text: String, _ patterns: Patterns) -> String {
        if text.isEmpty || text == "~" || text == "null" || text == "Null" || text == "NULL" { return nullTag }
        if boolWords.contains(text) { return boolTag }
        guard let first = text.unicodeScalars.first, "-+0123456789.".unicodeScalars.contains(first) else {
            if text == "<<" { return "tag:yaml.org,2002:merge" }
            if text == "=" { return "tag:yaml.org,2002:value" }
            return strTag
        }
        if text.wholeMatch(of: patterns.float) != nil { return floatTag }
        if text.wholeMatch(of: patterns.int) != nil { return intTag }
        if text.wholeMatch(of: patterns.timestamp) != nil { return timestampTag }
        return strTag
    }

    static let boolWords: Set<String> = [
        "yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE",
        "on", "On", "ON", "off", "Off", "OFF",
    ]

    // The regular expressions of PyYAML's resolver.py, verbatim. `Regex` is not Sendable, so
    // they cannot be shared statics: `Patterns` builds them once per file being loaded.
    static var intPattern: Regex<Substring> {
        #/[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+/#
    }
    static var floatPattern: Regex<Substring> {
        #/[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)/#
    }
    static var timestampPattern: Regex<Substring> {
        #/[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?/#
    }

    /// Builds the value for a scalar with a (resolved or explicit) tag, as SafeConstructor does.
    /// Returns a message when PyYAML would fail or the value is outside what Tollgate holds.
    static func construct(tag: String, text: String) -> Result<PolicyValue, ScalarError> {
        switch tag {
        case strTag: return .success(.str(text))
        case nullTag: return .success(.none)
        case boolTag:
            switch text.lowercased() {
            case "yes", "true", "on": return .success(.bool(true))
            case "no", "false", "off": return .success(.bool(false))
            default: return .failure(ScalarError("'\(text)' is not a boolean"))
            }
        case intTag: return constructInt(text)
        case floatTag: return constructFloat(text)
        case timestampTag: return constructTimestamp(text)
        case "tag:yaml.org,2002:merge":
            return .failure(ScalarError("'<<' (a merge key) is not a value"))
        case "tag:yaml.org,2002:value":
            return .failure(ScalarError("'=' (a YAML value key) is not a value; quote it"))
        default:
            return .failure(ScalarError("unsupported YAML tag '\(tag)'"))
        }
    }

    struct ScalarError: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }

    static func constructInt(_ text: String) -> Result<PolicyValue, ScalarError> {
        var value = Substring(text.replacingOccurrences(of: "_", with: ""))
        var negative = false
        if value.first == "-" || value.first == "+" {
            negative = value.first == "-"
            value = value.dropFirst()
        }
        let magnitude: UInt64?
        if value == "0" {
            magnitude = 0
        } else if value.hasPrefix("0b") {
            magnitude = UInt64(value.dropFirst(2), radix: 2)
        } else if value.hasPrefix("0x") {
            magnitude = UInt64(value.dropFirst(2), radix: 16)
        } else if value.hasPrefix("0") {
            // Python's int(s, 8) also takes a "0o" prefix (reachable through an explicit !!int).
            let digits = value.hasPrefix("0o") || value.hasPrefix("0O") ? value.dropFirst(2) : value
            magnitude = UInt64(digits, radix: 8)
        } else if value.contains(":") {
            var total: UInt64? = 0
            for part in value.split(separator: ":", omittingEmptySubsequences: false) {
                guard let t = total, let digit = UInt64(part) else {
                    total = nil
                    break
                }
                let (m, o1) = t.multipliedReportingOverflow(by: 60)
                let (s, o2) = m.addingReportingOverflow(digit)
                total = o1 || o2 ? nil : s
            }
            magnitude = total
        } else {
            magnitude = UInt64(value)
        }
        guard let magnitude else {
            // Text that has the syntax of an integer and still fails can only be too large.
            if text.wholeMatch(of: intPattern) != nil {
                return .failure(ScalarError("integer \(text) is out of range (Tollgate holds 64-bit integers)"))
            }
            return .failure(ScalarError("'\(text)' is not an integer"))
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else {
                return .failure(ScalarError("integer \(text) is out of range (Tollgate holds 64-bit integers)"))
            }
            return .success(.int(magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)))
        }
        guard magnitude <= UInt64(Int64.max) else {
            return .failure(ScalarError("integer \(text) is out of range (Tollgate holds 64-bit integers)"))
        }
        return .success(.int(Int64(magnitude)))
    }

    static func constructFloat(_ text: String) -> Result<PolicyValue, ScalarError> {
        var value = Substring(text.replacingOccurrences(of: "_", with: "").lowercased())
        var sign = 1.0
        if value.first == "-" || value.first == "+" {
            if value.first == "-" { sign = -1 }
            value = value.dropFirst()
        }
        if value == ".inf" { return .success(.float(sign * .infinity)) }
        if value == ".nan" { return .success(.float(.nan)) }
        if value.contains(":") {
            var total = 0.0
            for part in value.split(separator: ":", omittingEmptySubsequences: false) {
                guard let digit = Double(part) else { return .failure(ScalarError("'\(text)' is not a float")) }
                total = total * 60 + digit
            }
            return .success(.float(sign * total))
        }
        guard let d = Double(value) else { return .failure(ScalarError("'\(text)' is not a float")) }
        return .success(.float(sign * d))
    }

    static func constructTimestamp(_ text: String) -> Result<PolicyValue, ScalarError> {
        let pattern =
            #/(?<year>[0-9]{4})-(?<month>[0-9][0-9]?)-(?<day>[0-9][0-9]?)(?:(?:[Tt]|[ \t]+)(?<hour>[0-9][0-9]?):(?<minute>[0-9][0-9]):(?<second>[0-9][0-9])(?:\.(?<fraction>[0-9]*))?(?:[ \t]*(?<tz>Z|(?<sign>[-+])(?<tzhour>[0-9][0-9]?)(?::(?<tzminute>[0-9][0-9]))?))?)?/#
        guard let m = text.wholeMatch(of: pattern),
            let year = Int(m.year), let month = Int(m.month), let day = Int(m.day)
        else { return .failure(ScalarError("'\(text)' is not a timestamp")) }
        guard let date = PyDate(year: year, month: month, day: day) else {
            return .failure(ScalarError("invalid date '\(text)'"))
        }
        guard let hourText = m.hour, let hour = Int(hourText), let minute = m.minute.flatMap({ Int($0) }),
            let second = m.second.flatMap({ Int($0) })
        else { return .success(.date(date)) }
        var microsecond = 0
        if let fraction = m.fraction {
            let digits = String(fraction.prefix(6))
            microsecond = Int(digits + String(repeating: "0", count: 6 - digits.count)) ?? 0
        }
        var offset: Int?
        if let sign = m.sign, let tzHour = m.tzhour.flatMap({ Int($0) }) {
            let minutes = m.tzminute.flatMap { Int($0) } ?? 0
            offset = (tzHour * 3600 + minutes * 60) * (sign == "-" ? -1 : 1)
        } else if m.tz != nil {
            offset = 0
        }
        guard
            let dt = PyDateTime(
                date: date,
                hour: hour,
                minute: minute,
                second: second,
                microsecond: microsecond,
                utcOffset: offset
            )
        else { return .failure(ScalarError("invalid timestamp '\(text)'")) }
        return .success(.datetime(dt))
    }
}
