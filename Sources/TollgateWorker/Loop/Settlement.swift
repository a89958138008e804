import TollgateStore

/// Decides when an input may be acked: only once every message published because of it has
/// been confirmed by the broker ("ack an input only after what it caused is committed and
/// confirmed").
///
/// Publishes carry the channel's publisher-confirm sequence numbers (1, 2, 3, ... in publish
/// order); a confirm may cover one number or, with `multiple`, every number up to it. A publish
/// may belong to an input (its delivery tag), to an outbox row, or both. Pure bookkeeping,
/// no I/O, so it is unit tested on its own.
///
/// A publish the broker rejects (`basic.nack`: a queue without a leader for a moment, a node
/// going down) is published again when it was recorded with its message (`Resend`): its owners
/// stay outstanding and their inputs unacked, so a broker that refuses for a while never uses up
/// an input's deliveries (the quorum queue's `x-delivery-limit` counts every return). Only a
/// publish recorded without its message falls back to requeueing its input.
struct Settlement {
    /// What a confirmed or rejected publish settles.
    struct Owner: Equatable {
        var deliveryTag: UInt64?
        var outboxID: Int64?
    }

    /// What it takes to publish a rejected message again.
    struct Resend {
        var message: OutboundMessage
        var contentType: String
        /// Publishes of this message so far (1 for the first).
        var attempts: Int = 1
    }

    /// A rejected publish to make again, with every owner it settles.
    struct Rejected {
        var owners: [Owner]
        var resend: Resend
    }

    private struct InputState {
        var outstanding: Int
        var rejected: Bool
    }

    /// Publishes not yet confirmed, by sequence number.
    private var unconfirmed: [UInt64: Owner] = [:]
    /// The other owners of publishes that settle several (a batch of the decision feed).
    private var sharers: [UInt64: [Owner]] = [:]
    /// The messages of unconfirmed publishes that are published again when rejected.
    private var resends: [UInt64: Resend] = [:]
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
    /// Rejected publishes to make again (their owners are still outstanding).
    private(set) var toPublishAgain: [Rejected] = []

    var inFlightInputs: Int { inputs.count }
    var unconfirmedPublishes: Int { unconfirmed.count }
    /// The messages of unconfirmed publishes (those recorded with their message).
    var unconfirmedMessages: [OutboundMessage] { resends.values.map(\.message) }

    /// Nothing in flight. (An input whose publish waits to be made again is still in flight.)
    var isIdle: Bool { inputs.isEmpty && unconfirmed.isEmpty }

    /// Records a publish made with confirm sequence number `seq`; with `resend`, a rejection
    /// publishes it again instead of requeueing its input.
    mutating func published(seq: UInt64, for owner: Owner, resend: Resend? = nil) {
        unconfirmed[seq] = owner
        if let resend { resends[seq] = resend }
        track(owner)
    }

    /// Records one publish that settles several owners (the decision feed's message for a batch
    /// and routing key carries decisions of several inputs and outbox rows).
    mutating func published(seq: UInt64, for owners: [Owner], resend: Resend? = nil) {
        guard let first = owners.first else { return }
        published(seq: seq, for: first, resend: resend)
        guard owners.count > 1 else { return }
        let others = owners.dropFirst()
        for owner in others { track(owner) }
        sharers[seq] = Array(others)
    }

    /// Records the new publish of a rejected one: the same owners, still outstanding from the
    /// first publish (not counted again).
    mutating func publishedAgain(seq: UInt64, _ rejected: Rejected) {
        guard let first = rejected.owners.first else { return }
        unconfirmed[seq] = first
        var resend = rejected.resend
        resend.attempts += 1
        resends[seq] = resend
        if rejected.owners.count > 1 { sharers[seq] = Array(rejected.owners.dropFirst()) }
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
        let resend = resends.isEmpty ? nil : resends.removeValue(forKey: seq)
        if !accepted, let resend {
            var owners = [owner]
            if !sharers.isEmpty, let others = sharers.removeValue(forKey: seq) { owners += others }
            toPublishAgain.append(Rejected(owners: owners, resend: resend))
            return
        }
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
    mutating func take() -> (
        ack: [UInt64], requeue: [UInt64], confirmedOutbox: [Int64], rejectedOutbox: [Int64], publishAgain: [Rejected]
    ) {
        defer {
            readyToAck.removeAll(keepingCapacity: true)
            readyToRequeue.removeAll(keepingCapacity: true)
            confirmedOutbox.removeAll(keepingCapacity: true)
            rejectedOutbox.removeAll(keepingCapacity: true)
            toPublishAgain.removeAll(keepingCapacity: true)
        }
        return (readyToAck.sorted(), readyToRequeue.sorted(), confirmedOutbox, rejectedOutbox, toPublishAgain)
    }

    /// The channel is gone: nothing in flight will be confirmed. The broker requeues the unacked
    /// inputs itself; outbox rows stay in the store and are published again.
    mutating func reset() {
        self = Settlement()
    }
}
