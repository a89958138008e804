/// Exponential backoff with jitter and a cap, for reconnecting after a retryable `AMQPError`.
///
///     var backoff = Backoff()
///     while true {
///         do { let c = try AMQPConnection(...); backoff.reset(); ... }
///         catch where error.isRetryable { try await Task.sleep(for: backoff.next()) }
///     }
///
/// Delay n (from 0) is `min(maximum, initial * multiplier^n)`, then scaled by a random factor
/// in `1 - jitter ... 1` so that many workers restarting together do not reconnect in step.
public struct Backoff: Sendable, Hashable {
    public var initial: Duration
    public var maximum: Duration
    public var multiplier: Double
    /// Fraction (0...1) of each delay that is random.
    public var jitter: Double
    /// Delays handed out since the last `reset()`.
    public private(set) var attempts: Int = 0

    public init(
        initial: Duration = .milliseconds(100),
        maximum: Duration = .seconds(30),
        multiplier: Double = 2,
        jitter: Double = 0.5
    ) {
        precondition(initial > .zero && maximum >= initial && multiplier >= 1 && (0...1).contains(jitter))
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
        self.jitter = jitter
    }

    /// The delay before the next attempt.
    public mutating func next() -> Duration {
        var rng = SystemRandomNumberGenerator()
        return next(using: &rng)
    }

    public mutating func next(using rng: inout some RandomNumberGenerator) -> Duration {
        let base = Backoff.seconds(initial) * pow(multiplier, Double(min(attempts, 64)))
        let capped = min(base, Backoff.seconds(maximum))
        attempts += 1
        let factor = jitter == 0 ? 1 : Double.random(in: (1 - jitter)...1, using: &rng)
        return .nanoseconds(Int64((capped * factor * 1e9).rounded()))
    }

    /// Call after a successful connection.
    public mutating func reset() { attempts = 0 }

    private static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    private func pow(_ x: Double, _ n: Double) -> Double {
        var result = 1.0
        for _ in 0..<Int(n) {
            result *= x
            if result > 1e12 { break }
        }
        return result
    }
}
