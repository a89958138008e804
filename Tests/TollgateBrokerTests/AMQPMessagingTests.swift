import Foundation
import Testing
import TollgateAMQP

@Suite("AMQP publish, confirm, consume")
struct AMQPMessagingTests {
    @Test func manyPipelinedPublishesAreAllConfirmed() throws {
        let c = try Broker.connect()
        defer { c.close() }
        let queue = try Broker.declareQuorumQueue(on: c, "confirms")
        defer { _ = try? c.queueDelete(queue) }
        try c.confirmSelect()
        let body = [UInt8](repeating: 0x61, count: 256)
        let props = AMQPProperties(deliveryMode: AMQPProperties.persistent)
        var sequences: [UInt64] = []
        for _ in 0..<5000 { sequences.append(try c.publish(routingKey: queue, body: body, properties: props)) }
        #expect(sequences == Array(1...5000))
        let others = try Broker.waitForConfirms(on: c, through: 5000, timeout: .seconds(20))
        #expect(others.isEmpty)
        #expect(try c.queueDeclare(queue, passive: true).messageCount == 5000)
    }

    @Test func prefetchLimitsUnackedDeliveriesAndAcksReleaseMore() throws {
        let c = try Broker.connect()
        defer { c.close() }
        let queue = try Broker.declareQuorumQueue(on: c, "prefetch")
        defer { _ = try? c.queueDelete(queue) }
        try c.confirmSelect()
        var last: UInt64 = 0
        for i in 0..<30 { last = try Broker.publishJSON(on: c, routingKey: queue, json: #"{"i":\#(i)}"#) }
        try Broker.waitForConfirms(on: c, through: last)
        try c.basicQos(prefetchCount: 10)
        let tag = try c.basicConsume(queue: queue)
        let first = try Broker.collect(on: c, count: 30, timeout: .milliseconds(700), ack: false)
        #expect(first.count == 10)
        #expect(first.allSatisfy { $0.consumerTag == tag && !$0.redelivered && $0.routingKey == queue })
        #expect(first.map { String(decoding: $0.body, as: UTF8.self) } == (0..<10).map { #"{"i":\#($0)}"# })
        try c.ack(deliveryTag: first.last!.deliveryTag, multiple: true)
        let rest = try Broker.collect(on: c, count: 20, timeout: .seconds(5))
        #expect(rest.count == 20)
        try c.basicCancel(consumerTag: tag)
        #expect(try c.queueDeclare(queue, passive: true).messageCount == 0)
    }

    @Test func nackAndCloseRedeliverWithDeliveryCount() throws {
        let c = try Broker.connect()
        let queue = try Broker.declareQuorumQueue(on: c, "redeliver")
        try c.confirmSelect()
        try Broker.waitForConfirms(on: c, through: Broker.publishJSON(on: c, routingKey: queue, json: "{}"))
        try c.basicQos(prefetchCount: 1)
        try c.basicConsume(queue: queue)
        let first = try #require(try Broker.collect(on: c, count: 1, ack: false).first)
        #expect(!first.redelivered)
        #expect(first.deliveryCount == nil)
        try c.nack(deliveryTag: first.deliveryTag, requeue: true)
        let second = try #require(try Broker.collect(on: c, count: 1, ack: false).first)
        #expect(second.redelivered)
        #expect(second.deliveryCount == 1)
        c.close()  // unacked: back to the queue

        let d = try Broker.connect()
        defer { d.close() }
        defer { _ = try? d.queueDelete(queue) }
        try d.basicConsume(queue: queue)
        let third = try #require(try Broker.collect(on: d, count: 1).first)
        #expect(third.redelivered)
        #expect(third.deliveryCount == 2)
        #expect(third.body == Array("{}".utf8))
    }

    @Test func rejectWithoutRequeueDeadLetters() throws {
        let c = try Broker.connect()
        defer { c.close() }
        let dead = try Broker.declareQuorumQueue(on: c, "dead")
        let queue = try Broker.declareQuorumQueue(
            on: c,
            "rejecting",
            arguments: ["x-dead-letter-exchange": "", "x-dead-letter-routing-key": .string(dead)]
        )
        defer {
            _ = try? c.queueDelete(queue)
            _ = try? c.queueDelete(dead)
        }
        try c.confirmSelect()
        try Broker.waitForConfirms(on: c, through: Broker.publishJSON(on: c, routingKey: queue, json: #"{"bad":1}"#))
        let tag = try c.basicConsume(queue: queue)
        let d = try #require(try Broker.collect(on: c, count: 1, ack: false).first)
        try c.reject(deliveryTag: d.deliveryTag, requeue: false)
        try c.basicCancel(consumerTag: tag)
        try c.basicConsume(queue: dead)
        let deadLettered = try #require(try Broker.collect(on: c, count: 1).first)
        #expect(deadLettered.body == d.body)
        #expect(deadLettered.properties.headers?["x-death"]?.arrayValue?.isEmpty == false)
    }

    @Test func mandatoryUnroutablePublishIsReturnedThenAcked() throws {
        let c = try Broker.connect()
        defer { c.close() }
        try c.confirmSelect()
        let key = Broker.uniqueName("nowhere")
        let seq = try c.publish(
            exchange: "amq.direct",
            routingKey: key,
            body: Array("lost".utf8),
            properties: AMQPProperties(correlationId: "c-1"),
            mandatory: true
        )
        var events: [AMQPEvent] = []
        while events.count < 2, let e = try c.nextEvent(timeout: .seconds(5)) { events.append(e) }
        #expect(events.count == 2)
        guard events.count == 2, case .returned(let r) = events[0], case .publishAck(let n, _) = events[1] else {
            Issue.record("expected .returned then .publishAck, got \(events)")
            return
        }
        #expect(r.replyCode == 312)
        #expect(r.replyText == "NO_ROUTE")
        #expect(r.exchange == "amq.direct")
        #expect(r.routingKey == key)
        #expect(r.body == Array("lost".utf8))
        #expect(r.properties.correlationId == "c-1")
        #expect(n == seq)
    }

    @Test(arguments: [true, false])
    func propertiesAndHeadersRoundTrip(coalesced: Bool) throws {
        let c = try Broker.connect(coalescePublishFrames: coalesced)
        defer { c.close() }
        let q = try Broker.declareReplyQueue(on: c)
        let headers: AMQPTable = [
            "string": "text", "long": 42, "negative": .int32(-7), "bool": true, "double": 2.5,
            "bytes": .bytes([0, 1, 255]), "nested": .table(["a": [1, "two", .void]]), "empty": .array([]),
            "when": .timestamp(1_764_000_000), "price": .decimal(scale: 2, value: 1999), "short": .int16(-3),
            "byte": .int8(-1), "float": .float(1.5),
        ]
        let sent = AMQPProperties(
            contentType: "application/json",
            contentEncoding: "utf-8",
            headers: headers,
            deliveryMode: AMQPProperties.persistent,
            priority: 3,
            correlationId: "corr-1",
            replyTo: "somewhere",
            expiration: "60000",
            messageId: "m-1",
            timestamp: 1_764_000_123,
            type: "tool_call",
            userId: "guest",
            appId: "tollgate-tests"
        )
        try c.publish(routingKey: q, body: Array(#"{"ok":true}"#.utf8), properties: sent)
        let got = try #require(try Broker.collect(on: c, count: 1).first)
        #expect(got.properties == sent)
        #expect(got.exchange == "")
        #expect(got.routingKey == q)
    }

    @Test func mismatchingUserIdClosesTheChannelWith406() throws {
        let c = try Broker.connect()
        defer { c.close() }
        let q = try Broker.declareReplyQueue(on: c)
        try c.confirmSelect()
        try c.publish(routingKey: q, body: [1], properties: AMQPProperties(userId: "cfo@corp.com"))
        do {
            while try c.nextEvent(timeout: .seconds(5)) != nil {}
            Issue.record("a publish with someone else's user_id was accepted")
        } catch {
            guard case .channelClosed(406, let text) = error.kind else {
                Issue.record("expected channelClosed 406, got \(error.debugDescription)")
                return
            }
            #expect(text.contains("user_id"))
            #expect(!error.isRetryable)
        }
        #expect(!c.isOpen)
    }

    @Test(arguments: [true, false])
    func largeAndEmptyBodies(coalesced: Bool) throws {
        let c = try Broker.connect(coalescePublishFrames: coalesced)
        defer { c.close() }
        let q = try Broker.declareReplyQueue(on: c)
        let big = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let exactlyOneFrame = [UInt8](repeating: 7, count: c.frameMax - 8)
        try c.publish(routingKey: q, body: big)  // many body frames
        try c.publish(routingKey: q, body: [UInt8]())  // no body frame
        try c.publish(routingKey: q, body: exactlyOneFrame)
        try c.publish(routingKey: q, body: exactlyOneFrame + [8])  // two body frames
        // A no-ack consumer: acking would close the channel (406).
        let got = try Broker.collect(on: c, count: 4, ack: false)
        #expect(got.map(\.body.count) == [big.count, 0, exactlyOneFrame.count, exactlyOneFrame.count + 1])
        #expect(got.first?.body == big)
        #expect(got.last?.body == exactlyOneFrame + [8])
    }

    @Test func heldPublishesArriveInOrderWithTheirSequenceNumbers() throws {
        let publisher = try Broker.connect()
        defer { publisher.close() }
        let consumer = try Broker.connect()
        defer { consumer.close() }
        let q = try Broker.declareReplyQueue(on: consumer)
        try publisher.confirmSelect()
        var bodies = (0..<600).map { Array("message \($0)".utf8) }
        let oneFrame = [UInt8](repeating: 7, count: publisher.frameMax - 8)
        bodies.insert([], at: 10)  // no body frame
        // Three one-frame bodies overflow the 256 KiB held: written when full.
        bodies.insert(contentsOf: [oneFrame, oneFrame, oneFrame], at: 20)
        // Several frames: not held; what is held goes first.
        bodies.insert((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }, at: 300)
        publisher.holdPublishes()
        for (i, body) in bodies.enumerated() {
            #expect(try publisher.publish(routingKey: q, body: body) == UInt64(i + 1))
        }
        try publisher.flushPublishes()
        try Broker.waitForConfirms(on: publisher, through: UInt64(bodies.count))
        let got = try Broker.collect(on: consumer, count: bodies.count, ack: false)
        #expect(got.count == bodies.count)
        #expect(got.map(\.body) == bodies)
    }

    @Test func heldPublishesAreWrittenBeforeTheNextCall() throws {
        let c = try Broker.connect()
        defer { c.close() }
        let q = try Broker.declareReplyQueue(on: c)
        c.holdPublishes()
        try c.publish(routingKey: q, body: Array("held".utf8))
        // No flushPublishes(): waiting for events writes what is held first.
        let got = try Broker.collect(on: c, count: 1, ack: false)
        #expect(got.map(\.body) == [Array("held".utf8)])
    }

    @Test func deletingTheQueueCancelsTheConsumer() throws {
        let c = try Broker.connect()
        defer { c.close() }
        let queue = try Broker.declareQuorumQueue(on: c, "cancelled")
        let tag = try c.basicConsume(queue: queue)
        let other = try Broker.connect()
        try other.queueDelete(queue)
        other.close()
        let cancelled = try Broker.waitFor(on: c) { event -> String? in
            if case .consumerCancelled(let t) = event { return t }
            return nil
        }
        #expect(cancelled == tag)
        #expect(c.isOpen)  // the connection stays usable
        try c.queueDeclare(Broker.uniqueName("still-open"), durable: false, exclusive: true)
    }

    @Test func nextEventTimesOutWithoutEvents() throws {
        let c = try Broker.connect()
        defer { c.close() }
        #expect(try c.nextEvent(timeout: .zero) == nil)
        let start = ContinuousClock.now
        #expect(try c.nextEvent(timeout: .milliseconds(300)) == nil)
        let waited = ContinuousClock.now - start
        #expect(waited >= .milliseconds(290) && waited < .seconds(2))
    }
}
