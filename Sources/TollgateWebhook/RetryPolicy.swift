import Foundation

/// What one POST of a notice came to.
public enum AttemptOutcome: Sendable, Equatable {
    /// The target answered with this status (and, for 429 and 503, maybe `Retry-After`).
    case answered(status: Int, retryAfterMillis: Int64?, body: String)
    /// No answer: connection refused, reset, TLS failure, timeout. The words say which.
    case unreachable(String)

    public var delivered: Bool {
        if case .answered(let status, _, _) = self { return (200..<300).contains(status) }
        return false
    }

    /// Worth trying again: no answer, 408, 429 or 5xx. Any other 4xx (and 3xx: webhooks are not
    /// redirected) is the target refusing this notice, and a retry would be refused the same way.
    public var retryable: Bool {
        switch self {
        case .unreachable: return true
        case .answered(let status, _, _): return status == 408 || status == 429 || (500..<600).contains(status)
        }
    }

    /// In words, for logs and the dead-letter reason.
    public var description: String {
        switch self {
        case .unreachable(let why): return why
        case .answered(let status, _, let body):
            let snippet = body.isEmpty ? "" : ": " + String(body.prefix(200))
            return "the target answered \(status)\(snippet)"
        }
    }

    /// A failed attempt's kind, for the failures metric.
    public var failureKind: String {
        switch self {
        case .unreachable: return "unreachable"
        case .answered(let status, _, _): return status == 429 ? "429" : "\(status / 100)xx"
        }
    }
}

/// When to try a notice again and when to give up: exponential backoff with jitter, `Retry-After`
/// honoured, bounded by a number of attempts and by the notice's age.
public struct RetryPolicy: Sendable, Equatable {
    /// Attempts before giving up (the first included).
    public var maxAttempts: Int
    /// Give up on a notice older than this (from its publication by the worker).
    public var maxAgeMillis: Int64
    /// The wait after the first failed attempt; it doubles after each further one...
    public var initialBackoffMillis: Int64
    /// ...up to this.
    public var maxBackoffMillis: Int64

    public init(
        maxAttempts: Int = 300,
        maxAgeMillis: Int64 = 86_400_000,
        initialBackoffMillis: Int64 = 1_000,
        maxBackoffMillis: Int64 = 300_000
    ) {
        self.maxAttempts = maxAttempts
        self.maxAgeMillis = maxAgeMillis
        self.initialBackoffMillis = initialBackoffMillis
        self.maxBackoffMillis = maxBackoffMillis
    }

    public enum Verdict: Sendable, Equatable {
        case delivered
        case retry(afterMillis: Int64)
        case giveUp(reason: String)
    }

    /// The wait after `failedAttempts` failures: `initial * 2^(n-1)`, at most the maximum, times
    /// a random factor in [0.5, 1) (`jitter` in [0, 1)), so that notices held back by one outage
    /// are not all sent again in the same instant.
    public func backoffMillis(afterFailures failedAttempts: Int, jitter: Double) -> Int64 {
        var base = max(initialBackoffMillis, 1)
        for _ in 1..<max(failedAttempts, 1) where base < maxBackoffMillis { base *= 2 }
        base = min(base, maxBackoffMillis)
        return Int64(Double(base) * (0.5 + 0.5 * min(max(jitter, 0), 1)))
    }

    /// What to do after attempt number `attempts` (1 for the first) came to `outcome`, for a
    /// notice `ageMillis` old.
    public func next(attempts: Int, outcome: AttemptOutcome, ageMillis: Int64, jitter: Double) -> Verdict {
        if outcome.delivered { return .delivered }
        guard outcome.retryable else { return .giveUp(reason: "\(outcome.description) (not retried)") }
        if attempts >= maxAttempts {
            return .giveUp(reason: "gave up after \(attempts) attempts; the last: \(outcome.description)")
        }
        var wait = backoffMillis(afterFailures: attempts, jitter: jitter)
        // Retry-After is waited when it asks for longer than the backoff, up to the longest
        // backoff: a target that asks for 0 s does not get a burst, one that asks for a day is
        // asked again within --max-backoff.
        if case .answered(_, let retryAfter?, _) = outcome {
            wait = max(wait, min(retryAfter, maxBackoffMillis))
        }
        if ageMillis + wait > maxAgeMillis {
            return .giveUp(
                reason:
                    "gave up after \(attempts) attempts: the notice would be older than --max-age (\(maxAgeMillis / 1000) s) at the next; the last: \(outcome.description)"
            )
        }
        return .retry(afterMillis: wait)
    }

    /// `Retry-After` as milliseconds from `nowMillis`: delay-seconds (`120`) or an HTTP date
    /// (`Wed, 21 Oct 2026 07:28:00 GMT`). Nil when it is neither; a date in the past is 0.
    public static func retryAfterMillis(_ value: String, nowMillis: Int64) -> Int64? {
        let text = value.trimmingCharacters(in: .whitespaces)
        if !text.isEmpty, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) {
            guard let seconds = Int64(text.prefix(12)) else { return nil }
            return seconds * 1000
        }
        guard let date = httpDate(text) else { return nil }
        return max(Int64(date * 1000) - nowMillis, 0)
    }

    /// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 5.6.7), as seconds since 1970.
    static func httpDate(_ text: String) -> Double? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[5] == "GMT", let day = Int(parts[1]), let year = Int(parts[3]) else {
            return nil
        }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard let month = months.firstIndex(of: String(parts[2])) else { return nil }
        let clock = parts[4].split(separator: ":").compactMap { Int($0) }
        guard clock.count == 3, (1...31).contains(day), (0...23).contains(clock[0]), (0...59).contains(clock[1]),
            (0...60).contains(clock[2])
        else { return nil }
        return Double(epochSeconds(year: year, month: month + 1, day: day, clock[0], clock[1], clock[2]))
    }

    /// Seconds since 1970 of a UTC time (proleptic Gregorian; Howard Hinnant's days_from_civil).
    static func epochSeconds(year: Int, month: Int, day: Int, _ h: Int, _ m: Int, _ s: Int) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return Int64(days * 86_400 + h * 3600 + m * 60 + s)
    }
}
