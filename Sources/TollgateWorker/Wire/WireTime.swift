#if canImport(Glibc)
import Glibc
#endif
import TollgateStore

/// `2026-11-25T08:15:00Z` (UTC, whole seconds) for a time in milliseconds: the one format of
/// times on the wire and in the command line's output.
public func isoTime(_ millis: Millis) -> String { utcText(millis, fraction: false) }

/// `2026-11-25T08:15:00.123Z` (UTC, milliseconds), for the audit export.
public func isoTime(withMilliseconds millis: Millis) -> String { utcText(millis, fraction: true) }

private func utcText(_ millis: Millis, fraction: Bool) -> String {
    var seconds = time_t(millis.floorDivided(by: 1000))
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func pad(_ n: Int, _ width: Int = 2) -> String {
        let text = String(n)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
    var text = "\(parts.tm_year + 1900)-\(pad(Int(parts.tm_mon) + 1))-\(pad(Int(parts.tm_mday)))T"
    text += "\(pad(Int(parts.tm_hour))):\(pad(Int(parts.tm_min))):\(pad(Int(parts.tm_sec)))"
    if fraction { text += ".\(pad(Int(millis - millis.floorDivided(by: 1000) * 1000), 3))" }
    return text + "Z"
}

extension Millis {
    /// Division rounding towards minus infinity (a time before 1970 keeps its second).
    fileprivate func floorDivided(by d: Millis) -> Millis {
        let q = self / d
        return (self % d != 0 && (self < 0) != (d < 0)) ? q - 1 : q
    }
}

/// The time of `2026-11-25T08:15:00Z` in milliseconds (UTC, whole seconds), nil when it is not that form.
public func parseISOTime(_ text: String) -> Millis? {
    let parts = text.split(whereSeparator: { "-T:Z".contains($0) }).compactMap { Int32($0) }
    guard parts.count == 6, text.hasSuffix("Z") else { return nil }
    var t = tm()
    t.tm_year = parts[0] - 1900
    t.tm_mon = parts[1] - 1
    t.tm_mday = parts[2]
    t.tm_hour = parts[3]
    t.tm_min = parts[4]
    t.tm_sec = parts[5]
    return Millis(timegm(&t)) * 1000
}

/// The wall clock, in milliseconds since the epoch.
public func wallClockMillis() -> Millis {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Millis(spec.tv_sec) * 1000 + Millis(spec.tv_nsec / 1_000_000)
}
