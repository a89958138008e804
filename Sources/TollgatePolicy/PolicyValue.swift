import TollgateJSON

/// A value as Python holds it after `yaml.safe_load` (YAML 1.1): the `value` of a condition.
///
/// It is a superset of JSON: mapping keys may be any hashable value (`{1: a}`), and YAML
/// timestamps become `date` / `datetime`. Integers are limited to 64 bits (larger ones are a
/// load error; Python would keep them exact).
public indirect enum PolicyValue: Sendable {
    case none
    case bool(Bool)
    case int(Int64)
    case float(Double)
    case str(String)
    case list([PolicyValue])
    case dict([(key: PolicyValue, value: PolicyValue)])
    case date(PyDate)
    case datetime(PyDateTime)
}

/// Python's `datetime.date`.
public struct PyDate: Sendable, Hashable, Comparable {
    public let year: Int, month: Int, day: Int

    public init?(year: Int, month: Int, day: Int) {
        guard (1...9999).contains(year), (1...12).contains(month),
            (1...PyDate.daysIn(month: month, year: year)).contains(day)
        else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 0001-01-01 (Python's `toordinal() - 1`).
    var ordinal: Int {
        let y = year - 1
        var days = y * 365 + y / 4 - y / 100 + y / 400
        for m in 1..<month { days += PyDate.daysIn(month: m, year: year) }
        return days + day - 1
    }

    public static func < (a: PyDate, b: PyDate) -> Bool {
        (a.year, a.month, a.day) < (b.year, b.month, b.day)
    }

    /// `str(date)`: `2024-01-01`.
    public var isoFormat: String {
        pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2)
    }
}

/// Python's `datetime.datetime`, naive or with a fixed UTC offset (all YAML can express).
public struct PyDateTime: Sendable, Hashable {
    public let date: PyDate
    public let hour: Int, minute: Int, second: Int, microsecond: Int
    /// Offset from UTC in seconds; nil for a naive datetime.
    public let utcOffset: Int?

    public init?(date: PyDate, hour: Int, minute: Int, second: Int, microsecond: Int, utcOffset: Int?) {
        guard (0...23).contains(hour), (0...59).contains(minute), (0...59).contains(second),
            (0...999_999).contains(microsecond)
        else { return nil }
        if let utcOffset, abs(utcOffset) >= 86_400 { return nil }
        self.date = date
        self.hour = hour
        self.minute = minute
        self.second = second
        self.microsecond = microsecond
        self.utcOffset = utcOffset
    }

    /// Microseconds since 0001-01-01 00:00 (in UTC when aware).
    var instant: Int {
        let seconds = date.ordinal * 86_400 + hour * 3600 + minute * 60 + second - (utcOffset ?? 0)
        return seconds * 1_000_000 + microsecond
    }

    /// `str(datetime)`: `2024-01-01 10:00:00`, `.ffffff` when microseconds, `+HH:MM` when aware.
    public var isoFormat: String {
        var s = date.isoFormat + " " + pad(hour, 2) + ":" + pad(minute, 2) + ":" + pad(second, 2)
        if microsecond != 0 { s += "." + pad(microsecond, 6) }
        if let utcOffset { s += PyDateTime.formatOffset(utcOffset) }
        return s
    }

    static func formatOffset(_ offset: Int) -> String {
        let sign = offset < 0 ? "-" : "+"
        let magnitude = abs(offset)
        var s = sign + pad(magnitude / 3600, 2) + ":" + pad(magnitude % 3600 / 60, 2)
        if magnitude % 60 != 0 { s += ":" + pad(magnitude % 60, 2) }
        return s
    }

    /// `repr(datetime)`, e.g. `datetime.datetime(2024, 1, 1, 10, 0, tzinfo=datetime.timezone.utc)`.
    var pythonRepr: String {
        var parts = [date.year, date.month, date.day, hour, minute].map(String.init)
        if second != 0 || microsecond != 0 { parts.append(String(second)) }
        if microsecond != 0 { parts.append(String(microsecond)) }
        var s = "datetime.datetime(" + parts.joined(separator: ", ")
        if let utcOffset {
            if utcOffset == 0 {
                s += ", tzinfo=datetime.timezone.utc"
            } else {
                // timedelta normalises to days (possibly negative) and non-negative seconds.
                let days = utcOffset >= 0 ? 0 : -1
                let seconds = utcOffset - days * 86_400
                let delta = days == 0 ? "seconds=\(seconds)" : "days=-1, seconds=\(seconds)"
                s += ", tzinfo=datetime.timezone(datetime.timedelta(\(delta)))"
            }
        }
        return s + ")"
    }
}

func pad(_ value: Int, _ width: Int) -> String {
    let digits = String(value)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}

extension PolicyValue {
    /// The value a JSON context value has in Python after `json.loads`.
    public init(_ json: JSONValue) {
        switch json {
        case .null: self = .none
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(i)
        case .double(let d): self = .float(d)
        case .string(let s): self = .str(s)
        case .array(let a): self = .list(a.map(PolicyValue.init))
        case .object(let o): self = .dict(o.map { (key: .str($0.key), value: PolicyValue($0.value)) })
        }
    }

    /// The Python type name, as `TypeError` messages show it.
    var typeName: String {
        switch self {
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .float: return "float"
        case .str: return "str"
        case .list: return "list"
        case .dict: return "dict"
        case .date: return "datetime.date"
        case .datetime: return "datetime.datetime"
        }
    }

    var isHashable: Bool {
        switch self {
        case .list, .dict: return false
        default: return true
        }
    }
}
