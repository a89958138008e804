import CRabbitMQ

// Declaring, binding, deleting and purging exchanges and queues.
extension AMQPConnection {
    /// Declares an exchange (`direct`, `topic`, `fanout`, `headers`, `x-consistent-hash`, ...).
    public func exchangeDeclare(
        _ name: String,
        type: String,
        durable: Bool = true,
        autoDelete: Bool = false,
        internal isInternal: Bool = false,
        arguments: AMQPTable = AMQPTable()
    ) throws(AMQPError) {
        let context = "declaring exchange '\(name)' of type '\(type)'"
        let st = try usable(context).handle
        try validate(name, "exchange name", context)
        arena.recycle()
        _ = amqp_exchange_declare(
            st,
            Self.channel,
            arena.bytes(name),
            arena.bytes(type),
            0,
            durable ? 1 : 0,
            autoDelete ? 1 : 0,
            isInternal ? 1 : 0,
            arena.table(arguments)
        )
        try check(amqp_get_rpc_reply(st), context, exchangeType: type)
    }

    public func exchangeDelete(_ name: String, ifUnused: Bool = false) throws(AMQPError) {
        let context = "deleting exchange '\(name)'"
        let st = try usable(context).handle
        try validate(name, "exchange name", context)
        arena.recycle()
        _ = amqp_exchange_delete(st, Self.channel, arena.bytes(name), ifUnused ? 1 : 0)
        try check(amqp_get_rpc_reply(st), context)
    }

    /// Declares a queue; an empty name lets the broker choose one (returned in the result).
    /// `passive` only checks that the queue exists (404 closes the connection if not).
    /// For a quorum queue pass `arguments: ["x-queue-type": "quorum"]` (durable, not exclusive).
    @discardableResult
    public func queueDeclare(
        _ name: String,
        durable: Bool = true,
        exclusive: Bool = false,
        autoDelete: Bool = false,
        passive: Bool = false,
        arguments: AMQPTable = AMQPTable()
    ) throws(AMQPError) -> AMQPQueueInfo {
        let context = "declaring queue '\(name)'"
        let st = try usable(context).handle
        try validate(name, "queue name", context)
        arena.recycle()
        let ok = amqp_queue_declare(
            st,
            Self.channel,
            arena.bytes(name),
            passive ? 1 : 0,
            durable ? 1 : 0,
            exclusive ? 1 : 0,
            autoDelete ? 1 : 0,
            arena.table(arguments)
        )
        try check(amqp_get_rpc_reply(st), context)
        guard let ok else { throw fail(.protocolError, "no queue.declare-ok", context) }
        return AMQPQueueInfo(
            name: ok.pointee.queue.string,
            messageCount: ok.pointee.message_count,
            consumerCount: ok.pointee.consumer_count
        )
    }

    public func queueBind(
        queue: String,
        exchange: String,
        routingKey: String,
        arguments: AMQPTable = AMQPTable()
    ) throws(AMQPError) {
        let context = "binding queue '\(queue)' to exchange '\(exchange)' with routing key '\(routingKey)'"
        let st = try usable(context).handle
        try validate(queue, "queue name", context)
        try validate(exchange, "exchange name", context)
        try validate(routingKey, "routing key", context)
        arena.recycle()
        _ = amqp_queue_bind(
            st,
            Self.channel,
            arena.bytes(queue),
            arena.bytes(exchange),
            arena.bytes(routingKey),
            arena.table(arguments)
        )
        try check(amqp_get_rpc_reply(st), context)
    }

    public func queueUnbind(
        queue: String,
        exchange: String,
        routingKey: String,
        arguments: AMQPTable = AMQPTable()
    ) throws(AMQPError) {
        let context = "unbinding queue '\(queue)' from exchange '\(exchange)'"
        let st = try usable(context).handle
        arena.recycle()
        _ = amqp_queue_unbind(
            st,
            Self.channel,
            arena.bytes(queue),
            arena.bytes(exchange),
            arena.bytes(routingKey),
            arena.table(arguments)
        )
        try check(amqp_get_rpc_reply(st), context)
    }

    /// Deletes a queue and returns how many messages it held. Consumers on it get cancelled.
    @discardableResult
    public func queueDelete(_ name: String, ifUnused: Bool = false, ifEmpty: Bool = false) throws(AMQPError) -> UInt32 {
        let context = "deleting queue '\(name)'"
        let st = try usable(context).handle
        try validate(name, "queue name", context)
        arena.recycle()
        let ok = amqp_queue_delete(st, Self.channel, arena.bytes(name), ifUnused ? 1 : 0, ifEmpty ? 1 : 0)
        try check(amqp_get_rpc_reply(st), context)
        return ok?.pointee.message_count ?? 0
    }

    /// Removes the queue's ready messages and returns how many.
    @discardableResult
    public func queuePurge(_ name: String) throws(AMQPError) -> UInt32 {
        let context = "purging queue '\(name)'"
        let st = try usable(context).handle
        try validate(name, "queue name", context)
        arena.recycle()
        let ok = amqp_queue_purge(st, Self.channel, arena.bytes(name))
        try check(amqp_get_rpc_reply(st), context)
        return ok?.pointee.message_count ?? 0
    }

    func validate(_ name: String, _ what: String, _ context: String) throws(AMQPError) {
        if name.utf8.count > 255 {
            throw AMQPError(.invalidArgument, message: "the \(what) is longer than 255 bytes", context: context)
        }
    }
}
