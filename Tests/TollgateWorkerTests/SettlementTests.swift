import Testing
import TollgateStore

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

    @Test("one publish that carries several inputs' decisions (the batched feed) settles them all")
    func sharedPublish() {
        var s = Settlement()
        s.published(seq: 1, for: .init(deliveryTag: 10, outboxID: nil))
        s.published(seq: 2, for: .init(deliveryTag: 11, outboxID: nil))
        s.published(
            seq: 3,
            for: [
                .init(deliveryTag: 10, outboxID: nil), .init(deliveryTag: 11, outboxID: nil),
                .init(deliveryTag: nil, outboxID: 5),
            ]
        )
        s.confirm(seq: 2, multiple: true, accepted: true)
        #expect(s.take().ack.isEmpty, "each input waits for the feed message too")
        s.confirm(seq: 3, multiple: false, accepted: true)
        let ready = s.take()
        #expect(ready.ack == [10, 11])
        #expect(ready.confirmedOutbox == [5])
        #expect(s.isIdle)

        // A rejected shared publish requeues every input it carried.
        s.published(seq: 4, for: [.init(deliveryTag: 20, outboxID: nil), .init(deliveryTag: 21, outboxID: 6)])
        s.confirm(seq: 4, multiple: false, accepted: false)
        let rejected = s.take()
        #expect(rejected.requeue == [20, 21])
        #expect(rejected.rejectedOutbox == [6])
        #expect(s.isIdle)
    }

    @Test("the batched feed groups a batch's decisions by routing key, as JSON Lines in decision order")
    func feedBatch() {
        var feed = FeedBatch()
        func decision(_ key: String, _ n: Int) -> OutboundMessage {
            OutboundMessage(exchange: "t.decisions", routingKey: key, body: Array(#"{"n":\#(n)}"#.utf8))
        }
        feed.add(decision("allow.search", 1), owner: .init(deliveryTag: 1, outboxID: nil))
        feed.add(decision("deny.delete", 2), owner: .init(deliveryTag: 2, outboxID: nil))
        feed.add(decision("allow.search", 3), owner: .init(deliveryTag: 3, outboxID: 9))
        let messages = feed.messages
        #expect(messages.map(\.message.routingKey) == ["allow.search", "deny.delete"])
        #expect(String(decoding: messages[0].message.body, as: UTF8.self) == "{\"n\":1}\n{\"n\":3}\n")
        #expect(String(decoding: messages[1].message.body, as: UTF8.self) == "{\"n\":2}\n")
        #expect(messages[0].owners == [.init(deliveryTag: 1, outboxID: nil), .init(deliveryTag: 3, outboxID: 9)])
        #expect(messages.allSatisfy { $0.message.exchange == "t.decisions" })
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

    @Test("a rejected publish recorded with its message is made again; its input waits for the new confirm")
    func nackPublishesAgain() {
        var s = Settlement()
        let reply = OutboundMessage(exchange: "", routingKey: "agent-replies", body: Array("{}".utf8))
        s.published(
            seq: 1,
            for: .init(deliveryTag: 1, outboxID: nil),
            resend: .init(message: reply, contentType: "a/j")
        )
        s.published(seq: 2, for: .init(deliveryTag: 1, outboxID: nil))
        s.confirm(seq: 2, multiple: false, accepted: true)
        s.confirm(seq: 1, multiple: false, accepted: false)
        var ready = s.take()
        #expect(
            ready.ack.isEmpty && ready.requeue.isEmpty,
            "neither acked nor requeued: its deliveries are not used up"
        )
        #expect(ready.publishAgain.count == 1)
        #expect(ready.publishAgain.first?.resend.message.routingKey == "agent-replies")
        #expect(!s.isIdle)
        // Rejected again, then confirmed: the input is acked once.
        s.publishedAgain(seq: 3, ready.publishAgain[0])
        s.confirm(seq: 3, multiple: false, accepted: false)
        ready = s.take()
        #expect(ready.publishAgain.first?.resend.attempts == 2)
        s.publishedAgain(seq: 4, ready.publishAgain[0])
        s.confirm(seq: 4, multiple: true, accepted: true)
        ready = s.take()
        #expect(ready.ack == [1])
        #expect(ready.publishAgain.isEmpty)
        #expect(s.isIdle)
    }

    @Test("a rejected feed message shared by inputs is made again for all of them")
    func sharedNackPublishesAgain() {
        var s = Settlement()
        let feed = OutboundMessage(exchange: "tollgate.decisions", routingKey: "allow.x", body: Array("{}\n".utf8))
        let owners: [Settlement.Owner] = [.init(deliveryTag: 5, outboxID: nil), .init(deliveryTag: 6, outboxID: 9)]
        s.published(seq: 1, for: owners, resend: .init(message: feed, contentType: "application/x-ndjson"))
        s.confirm(seq: 1, multiple: false, accepted: false)
        var ready = s.take()
        #expect(ready.publishAgain.first?.owners == owners)
        #expect(ready.rejectedOutbox.isEmpty, "the row stays in flight: it is published again, not later")
        s.publishedAgain(seq: 2, ready.publishAgain[0])
        s.confirm(seq: 2, multiple: false, accepted: true)
        ready = s.take()
        #expect(ready.ack == [5, 6])
        #expect(ready.confirmedOutbox == [9])
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
