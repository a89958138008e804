import CRabbitMQ

// Consumers, acks and basic.get.
extension AMQPConnection {
    /// At most `prefetchCount` unacked deliveries per consumer on this channel (0 = unlimited).
    public func basicQos(prefetchCount: UInt16) throws(AMQPError) {
        let context = "setting prefetch to \(prefetchCount)"
        let st = try usable(context).handle
        _ = amqp_basic_qos(st, Self.channel, 0, prefetchCount, 0)
        try check(amqp_get_rpc_reply(st), context)
    }

    /// Starts a consumer; deliveries arrive through `nextEvent`. Returns the consumer tag
    /// (the broker's choice when `consumerTag` is empty).
    @discardableResult
    public func basicConsume(
        queue: String,
        consumerTag: String = "",
        noAck: Bool = false,
        exclusive: Bool = false,
        arguments: AMQPTable = AMQPTable()
    ) throws(AMQPError) -> String {
        let context = "starting a consumer on queue '\(queue)'"
        let st = try usable(context).handle
        try validate(queue, "queue name", context)
        arena.recycle()
        let ok = amqp_basic_consume(
            st,
            Self.channel,
            arena.bytes(queue),
            arena.bytes(consumerTag),
            0,
            noAck ? 1 : 0,
            exclusive ? 1 : 0,
            arena.table(arguments)
        )
        try check(amqp_get_rpc_reply(st), context)
        guard let ok else { throw fail(.protocolError, "no basic.consume-ok", context) }
        return ok.pointee.consumer_tag.string
    }

    /// Stops a consumer. Deliveries already on their way still come out of `nextEvent`: ack or nack them.
    public func basicCancel(consumerTag: String) throws(AMQPError) {
        let context = "cancelling consumer '\(consumerTag)'"
        let st = try usable(context).handle
        arena.recycle()
        _ = amqp_basic_cancel(st, Self.channel, arena.bytes(consumerTag))
        try check(amqp_get_rpc_reply(st), context)
    }

    public func ack(deliveryTag: UInt64, multiple: Bool = false) throws(AMQPError) {
        let st = try usable("acking").handle
        let status = amqp_basic_ack(st, Self.channel, deliveryTag, multiple ? 1 : 0)
        if status != AMQP_STATUS_OK.rawValue { throw fail(status, "acking delivery \(deliveryTag)") }
    }

    /// Negative ack; `requeue: false` dead-letters (or drops) the message.
    public func nack(deliveryTag: UInt64, multiple: Bool = false, requeue: Bool) throws(AMQPError) {
        let st = try usable("nacking").handle
        let status = amqp_basic_nack(st, Self.channel, deliveryTag, multiple ? 1 : 0, requeue ? 1 : 0)
        if status != AMQP_STATUS_OK.rawValue { throw fail(status, "nacking delivery \(deliveryTag)") }
    }

    public func reject(deliveryTag: UInt64, requeue: Bool) throws(AMQPError) {
        let st = try usable("rejecting").handle
        let status = amqp_basic_reject(st, Self.channel, deliveryTag, requeue ? 1 : 0)
        if status != AMQP_STATUS_OK.rawValue { throw fail(status, "rejecting delivery \(deliveryTag)") }
    }
}

/// A message taken with `basicGet`.
public struct AMQPGetResult: Sendable {
    public var deliveryTag: UInt64
    public var redelivered: Bool
    /// Messages left in the queue after this one.
    public var messageCount: UInt32
    public var properties: AMQPProperties
    public var body: [UInt8]
}

extension AMQPConnection {
    /// Takes one message from `queue` (basic.get), or nil when it is empty. Unless `noAck`, ack,
    /// nack or reject it by its `deliveryTag`.
    public func basicGet(queue: String, noAck: Bool = false) throws(AMQPError) -> AMQPGetResult? {
        let context = "getting a message from queue '\(queue)'"
        let st = try usable(context).handle
        try validate(queue, "queue name", context)
        arena.recycle()
        let reply = amqp_basic_get(st, Self.channel, arena.bytes(queue), noAck ? 1 : 0)
        try check(reply, context)
        guard reply.reply.id == AMQPMethod.basicGetOk else { return nil }
        let ok = reply.reply.decoded.assumingMemoryBound(to: amqp_basic_get_ok_t.self).pointee
        let (properties, body) = try readContent(st, context)
        amqp_maybe_release_buffers(st)
        return AMQPGetResult(
            deliveryTag: ok.delivery_tag,
            redelivered: ok.redelivered != 0,
            messageCount: ok.message_count,
            properties: properties,
            body: body
        )
    }
}
