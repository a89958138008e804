import Testing

@testable import TollgateWorker

@Suite("Settlement")
struct SettlementTests {
    @Test("an input is ready only when all its publishes are confirmed")
    func allPublishesConfirmed() {
        var s = Settlement()
        s.published(seq: 1, for: .init(deliveryTag: 10, outboxID: nil))
        s.published(seq: 2, for: .init(deliveryTag: 10, outboxID: 7))
        s.published(seq: 3, for: .init(deliveryTag: 11, outboxID: nil))
        s.confirm(seq: 1, multiple: false, accepted: true)
        #expect(s.take().ack.isEmpty)
        s.confirm(seq: 3, multiple: false, accepted: true)
        #expect(s.take().ack == [11])
        s.confirm(seq: 2, multiple: false, accepted: true)
        let ready = s.take()
        #expect(ready.ack == [10])
        #expect(ready.confirmedOutbox == [7])
        #expect(s.isIdle)
    }

    @Test("a multiple confirm settles every publish up to it")
    func multipleConfirm() {
        var s = Settlement()
        for seq in UInt64(1)...5 { s.published(seq: seq, for: .init(deliveryTag: seq + 100, outboxID: nil)) }
        s.confirm(seq: 4, multiple: true, accepted: true)
        #expect(s.take().ack == [101, 102, 103, 104])
        #expect(s.unconfirmedPublishes == 1)
        s.confirm(seq: 5, multiple: true, accepted: true)
        #expect(s.take().ack == [105])
        // A stale multiple confirm changes nothing.
        s.confirm(seq: 3, multiple: true, accepted: true)
        #expect(s.take().ack.isEmpty)
    }

    @Test("a rejected publish requeues its input and keeps its outbox row")
    func nack() {
        var s = Settlement()
        s.published(seq: 1, for: .init(deliveryTag: 1, outboxID: 3))
        s.published(seq: 2, for: .init(deliveryTag: 1, outboxID: nil))
        s.confirm(seq: 1, multiple: false, accepted: false)
        s.confirm(seq: 2, multiple: false, accepted: true)
        let ready = s.take()
        #expect(ready.ack.isEmpty)
        #expect(ready.requeue == [1])
        #expect(ready.rejectedOutbox == [3])
        #expect(ready.confirmedOutbox.isEmpty)
    }

    @Test("outbox-only publishes settle rows, not inputs")
    func outboxOnly() {
        var s = Settlement()
        s.published(seq: 1, for: .init(deliveryTag: nil, outboxID: 1))
        s.published(seq: 2, for: .init(deliveryTag: nil, outboxID: 2))
        s.confirm(seq: 2, multiple: true, accepted: true)
        let ready = s.take()
        #expect(ready.confirmedOutbox == [1, 2])
        #expect(ready.ack.isEmpty)
        #expect(s.isIdle)
    }

    @Test("an input that published nothing is ready at once")
    func nothingPublished() {
        var s = Settlement()
        s.settledWithoutPublishing(deliveryTag: 4)
        #expect(s.take().ack == [4])
    }
}

@Suite("Unacked deliveries")
struct UnackedDeliveriesTests {
    @Test("a run from the lowest tag is one multiple ack, the rest single")
    func plan() {
        var u = UnackedDeliveries()
        for tag in UInt64(1)...6 { u.received(tag) }
        let plan = u.plan(ready: [1, 2, 3, 5])
        #expect(plan.map(\.tag) == [3, 5])
        #expect(plan.map(\.multiple) == [true, false])
        #expect(u.lowest == 4)
        #expect(u.count == 2)
        let next = u.plan(ready: [4, 6])
        // 4 is the lowest and 5 is already acked, so one multiple ack up to 6 covers 4 and 6.
        #expect(next.map(\.tag) == [6])
        #expect(next.map(\.multiple) == [true])
        #expect(u.count == 0)
        u.received(7)
        #expect(u.lowest == 7)
        #expect(u.plan(ready: [7]).map(\.multiple) == [true])
    }

    @Test("a multiple ack never covers a tag still in flight")
    func neverCoversInFlight() {
        var u = UnackedDeliveries()
        for tag in UInt64(1)...4 { u.received(tag) }
        let plan = u.plan(ready: [2, 3, 4])
        #expect(plan.allSatisfy { !$0.multiple })
        #expect(u.lowest == 1)
        u.remove(1)
        #expect(u.count == 0)
    }
}
