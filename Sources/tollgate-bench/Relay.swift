import Logging
import TollgateAMQP

/// The relay baseline: the least a Tollgate worker must do per message, over the same library
/// and broker settings. Consumes `queue` with `prefetch`, publishes each body (persistent) to the
/// delivery's `reply_to` through the default exchange with publisher confirms (pipelined), and
/// acks each input only after its reply is confirmed, with `multiple` acks over contiguous
/// confirmed runs. Runs on the calling thread until `stop` is set and nothing is in flight.
struct Relay: Sendable {
    struct Stats: Sendable {
        var relayed = 0
        var ackFrames = 0
        var rejectedWithoutReplyTo = 0
        var replyNacks = 0
    }

    var connection: AMQPConfiguration
    var queue: String
    var prefetch: UInt16
    var logger: Logger

    func run(stop: StopFlag, ready: OneShot<Void>? = nil) throws -> Stats {
        var config = connection
        config.connectionName = config.connectionName ?? "tollgate-bench relay"
        let c: AMQPConnection
        do {
            c = try AMQPConnection(configuration: config, logger: logger)
            try c.basicQos(prefetchCount: prefetch)
            try c.confirmSelect()
            try c.basicConsume(queue: queue)
            ready?.fulfill(.success(()))
        } catch {
            ready?.fulfill(.failure(error))
            throw error
        }
        defer { c.close() }

        var stats = Stats()
        // Input delivery tags by reply sequence number: replies are published in delivery order,
        // so sequence s answers inputTags[s - firstSequence].
        var inputTags: [UInt64] = []
        inputTags.reserveCapacity(Int(prefetch) * 2)
        var firstSequence: UInt64 = 1
        var confirmedThrough: UInt64 = 0  // every reply up to here is confirmed
        var ackedThrough: UInt64 = 0  // every input whose reply is <= this is acked
        var confirmedSingles = Set<UInt64>()
        var properties = AMQPProperties(deliveryMode: AMQPProperties.persistent)

        func handle(_ event: AMQPEvent) throws(AMQPError) {
            switch event {
            case .delivery(let d):
                guard let replyTo = d.properties.replyTo else {
                    try c.reject(deliveryTag: d.deliveryTag, requeue: false)
                    stats.rejectedWithoutReplyTo += 1
                    return
                }
                properties.correlationId = d.properties.correlationId
                let sequence = try c.publish(routingKey: replyTo, body: d.body, properties: properties)
                if inputTags.isEmpty { firstSequence = sequence }
                inputTags.append(d.deliveryTag)
            case .publishAck(let n, let multiple):
                if multiple { confirmedThrough = max(confirmedThrough, n) } else { confirmedSingles.insert(n) }
                while confirmedSingles.remove(confirmedThrough + 1) != nil { confirmedThrough += 1 }
            case .publishNack(let n, _):
                // A benchmark has no recovery story: count it and treat the reply as lost.
                stats.replyNacks += 1
                logger.warning("relay: reply \(n) nacked by the broker")
            case .consumerCancelled(let tag):
                throw AMQPError(.closed, message: "consumer \(tag) cancelled by the broker", context: "relaying")
            default:
                break
            }
        }

        func flushAcks() throws(AMQPError) {
            guard confirmedThrough > ackedThrough, !inputTags.isEmpty else { return }
            let upTo = Int(confirmedThrough - firstSequence)
            try c.ack(deliveryTag: inputTags[upTo], multiple: true)
            stats.ackFrames += 1
            stats.relayed += upTo + 1
            inputTags.removeFirst(upTo + 1)
            firstSequence = confirmedThrough + 1
            ackedThrough = confirmedThrough
        }

        while !(stop.isSet && inputTags.isEmpty) {
            guard let event = try c.nextEvent(timeout: .milliseconds(50)) else { continue }
            try handle(event)
            // Take everything already received before acking, so one ack covers many inputs.
            while let more = try c.nextEvent(timeout: .zero) { try handle(more) }
            try flushAcks()
        }
        return stats
    }
}
