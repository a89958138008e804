/// Decides when an input may be acked: only once every message published because of it has
/// been confirmed by the broker ("ack an input only after what it caused is committed and
/// confirmed").
///
/// Publishes carry the channel's publisher-confirm sequence numbers (1, 2, 3, ... in publish
/// order); a confirm may cover one number or, with `multiple`, every number up to it. A publish
/// may belong to an input (its delivery tag), to an outbox row, or both. Pure bookkeeping,
/// no I/O, so it is unit tested on its own.
struct Settlement {
    /// What a confirmed or rejected publish settles.
    struct Owner: Equatable {
        var deliveryTag: UInt64?
        var outboxID: Int64?
    }

    private struct InputState {
        var outstanding: Int
        var rejected: Bool
    }

    /// Publishes not yet confirmed, by sequence number.
    private var unconfirmed: [UInt64: Owner] = [:]
    /// The other owners of publishes that settle several (a batch of the decision feed).
    private var sharers: [UInt64: [Owner]] = [:]
    /// The lowest sequence number that may still be unconfirmed.
    private var lowest: UInt64 = 1
    /// Inputs with publishes in flight.
    private var inputs: [UInt64: InputState] = [:]

    /// Inputs whose publishes are all confirmed: ack them.
    private(set) var readyToAck: [UInt64] = []
    /// Inputs one of whose publishes the broker rejected: requeue them, so the redelivery
    /// publishes again (redelivery is harmless: the store answers it from its record).
    private(set) var readyToRequeue: [UInt64] = []
    /// Outbox rows the broker confirmed: delete them.
    private(set) var confirmedOutbox: [Int64] = []
    /// Outbox rows the broker rejected: publish them again later.
    private(set) var rejectedOutbox: [Int64] = []

    var inFlightInputs: Int { inputs.count }
    var unconfirmedPublishes: Int { unconfirmed.count }
    var isIdle: Bool { inputs.isEmpty && unconfirmed.isEmpty }

    /// Records a publish made with confirm sequence number `seq`.
    mutating func published(seq: UInt64, for owner: Owner) {
        unconfirmed[seq] = owner
        track(owner)
    }

    /// Records one publish that settles several owners (the decision feed's message for a batch
    /// and routing key carries decisions of several inputs and outbox rows).
    mutating func published(seq: UInt64, for owners: [Owner]) {
        guard let first = owners.first else { return }
        published(seq: seq, for: first)
        guard owners.count > 1 else { return }
        let others = owners.dropFirst()
        for owner in others { track(owner) }
        sharers[seq] = Array(others)
    }

    /// One more publish in flight for the owner's input.
    private mutating func track(_ owner: Owner) {
        if let tag = owner.deliveryTag {
            inputs[tag, default: InputState(outstanding: 0, rejected: false)].outstanding += 1
        }
    }

    /// Records an input whose handling published nothing (say, a duplicate without `reply_to`):
    /// it is ready at once.
    mutating func settledWithoutPublishing(deliveryTag: UInt64) {
        if inputs[deliveryTag] == nil { readyToAck.append(deliveryTag) }
    }

    /// Applies a `basic.ack` (`accepted`) or `basic.nack` from the broker.
    mutating func confirm(seq: UInt64, multiple: Bool, accepted: Bool) {
        if multiple {
            guard seq >= lowest else { return }
            var next = lowest
            while next <= seq {
                if let owner = unconfirmed.removeValue(forKey: next) { settle(owner, seq: next, accepted: accepted) }
                next += 1
            }
            lowest = seq + 1
        } else if let owner = unconfirmed.removeValue(forKey: seq) {
            settle(owner, seq: seq, accepted: accepted)
            if seq == lowest { advanceLowest() }
        }
    }

    private mutating func advanceLowest() {
        guard !unconfirmed.isEmpty else {
            // Everything confirmed: the next publish will be above anything seen.
            return
        }
        while unconfirmed[lowest] == nil { lowest += 1 }
    }

    private mutating func settle(_ owner: Owner, seq: UInt64, accepted: Bool) {
        settle(owner, accepted: accepted)
        if !sharers.isEmpty, let others = sharers.removeValue(forKey: seq) {
            for other in others { settle(other, accepted: accepted) }
        }
    }

    private mutating func settle(_ owner: Owner, accepted: Bool) {
        if let id = owner.outboxID {
            if accepted { confirmedOutbox.append(id) } else { rejectedOutbox.append(id) }
        }
        guard let tag = owner.deliveryTag, var state = inputs[tag] else { return }
        state.outstanding -= 1
        state.rejected = state.rejected || !accepted
        if state.outstanding == 0 {
            inputs[tag] = nil
            if state.rejected { readyToRequeue.append(tag) } else { readyToAck.append(tag) }
        } else {
            inputs[tag] = state
        }
    }

    /// Hands out (and forgets) what became ready since the last call.
    mutating func take() -> (ack: [UInt64], requeue: [UInt64], confirmedOutbox: [Int64], rejectedOutbox: [Int64]) {
        defer {
            readyToAck.removeAll(keepingCapacity: true)
            readyToRequeue.removeAll(keepingCapacity: true)
            confirmedOutbox.removeAll(keepingCapacity: true)
            rejectedOutbox.removeAll(keepingCapacity: true)
        }
        return (readyToAck.sorted(), readyToRequeue.sorted(), confirmedOutbox, rejectedOutbox)
    }

    /// The channel is gone: nothing in flight will be confirmed. The broker requeues the unacked
    /// inputs itself; outbox rows stay in the store and are published again.
    mutating func reset() {
        self = Settlement()
    }
}
