/// The delivery tags of one channel that are not yet acked or rejected, so that acks can be
/// sent as few `basic.ack` frames as possible: one with `multiple: true` for a run of ready
/// tags that starts at the lowest unacked tag, one per tag after that.
struct UnackedDeliveries {
    private var unacked: Set<UInt64> = []
    private(set) var lowest: UInt64 = 1
    private var highest: UInt64 = 0

    var count: Int { unacked.count }

    mutating func received(_ tag: UInt64) {
        unacked.insert(tag)
        highest = max(highest, tag)
        if unacked.count == 1 { lowest = tag }
    }

    /// Plans the acks for `ready` (sorted) and forgets those tags.
    mutating func plan(ready: [UInt64]) -> [(tag: UInt64, multiple: Bool)] {
        var plan: [(tag: UInt64, multiple: Bool)] = []
        var index = 0
        var runEnd: UInt64?
        while index < ready.count, ready[index] == lowest, unacked.contains(lowest) {
            unacked.remove(lowest)
            runEnd = lowest
            advance()
            index += 1
        }
        if let runEnd {
            // `multiple` covers every unacked tag up to runEnd: all of them were in the run.
            plan.append((runEnd, true))
        }
        while index < ready.count {
            let tag = ready[index]
            if unacked.remove(tag) != nil { plan.append((tag, false)) }
            index += 1
        }
        if !unacked.contains(lowest) { advance() }
        return plan
    }

    /// Forgets tags settled one by one (rejected or requeued).
    mutating func remove(_ tag: UInt64) {
        unacked.remove(tag)
        if tag == lowest { advance() }
    }

    private mutating func advance() {
        guard !unacked.isEmpty else {
            lowest = highest + 1
            return
        }
        while !unacked.contains(lowest) { lowest += 1 }
    }

    /// A new channel starts its tags at 1 again.
    mutating func reset() { self = UnackedDeliveries() }
}
