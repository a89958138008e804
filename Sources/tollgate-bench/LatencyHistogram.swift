/// A log-linear latency histogram (HdrHistogram-style, about 1.6% precision): constant memory,
/// O(1) recording, mergeable. Values are nanoseconds.
struct LatencyHistogram: Sendable {
    /// 64 linear sub-buckets per power of two: values below 64 ns are exact, above that the
    /// bucket width is 1/32 to 1/64 of the value.
    private static let subBits = 6
    private static let subCount = 1 << subBits
    private var counts = [UInt64](repeating: 0, count: (64 - subBits + 1) * subCount)
    private(set) var count: UInt64 = 0
    private(set) var min: UInt64 = .max
    private(set) var max: UInt64 = 0
    private var sum: Double = 0

    mutating func record(_ nanoseconds: UInt64) {
        counts[Self.index(nanoseconds)] += 1
        count += 1
        sum += Double(nanoseconds)
        if nanoseconds < min { min = nanoseconds }
        if nanoseconds > max { max = nanoseconds }
    }

    mutating func merge(_ other: LatencyHistogram) {
        for i in counts.indices { counts[i] += other.counts[i] }
        count += other.count
        sum += other.sum
        min = Swift.min(min, other.min)
        max = Swift.max(max, other.max)
    }

    var mean: Double { count == 0 ? 0 : sum / Double(count) }

    /// The value at or below which `p` percent (0...100) of the recorded values fall
    /// (the upper edge of its bucket, clamped to the largest value seen).
    func percentile(_ p: Double) -> UInt64 {
        guard count > 0 else { return 0 }
        let rank = Swift.max(1, UInt64((p / 100 * Double(count)).rounded(.up)))
        var seen: UInt64 = 0
        for (i, c) in counts.enumerated() where c > 0 {
            seen += c
            if seen >= rank { return Swift.min(Self.upperEdge(i), max) }
        }
        return max
    }

    private static func index(_ v: UInt64) -> Int {
        if v < UInt64(subCount) { return Int(v) }
        let shift = 63 - v.leadingZeroBitCount - subBits  // >= 0: keep the top 1 + subBits bits
        let sub = Int(v >> UInt64(shift)) & (subCount - 1)
        return (shift + 1) * subCount + sub
    }

    private static func upperEdge(_ i: Int) -> UInt64 {
        let exponent = i / subCount
        let sub = UInt64(i % subCount)
        if exponent == 0 { return sub }
        // Values in this bucket: (subCount + sub) << (exponent - 1) ... with width 1 << (exponent - 1)
        return ((UInt64(subCount) | sub) << UInt64(exponent - 1)) + (1 << UInt64(exponent - 1)) - 1
    }
}
