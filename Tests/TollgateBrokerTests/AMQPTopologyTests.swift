import Testing
import TollgateAMQP

@Suite("AMQP topology")
struct AMQPTopologyTests {
    @Test func declaresAConsistentHashExchangeAndBindsAQuorumQueue() throws {
        let c = try Broker.connect()
        defer { c.close() }
        let exchange = Broker.uniqueName("chash")
        try c.exchangeDeclare(exchange, type: "x-consistent-hash", durable: false, autoDelete: true)
        let queue = try Broker.declareQuorumQueue(
            on: c,
            "shard",
            arguments: ["x-dead-letter-exchange": "", "x-delivery-limit": 5]
        )
        defer { _ = try? c.queueDelete(queue) }
        try c.queueBind(queue: queue, exchange: exchange, routingKey: "1")
        try c.confirmSelect()
        let seq = try c.publish(exchange: exchange, routingKey: "finance-agent", body: Array("x".utf8))
        try Broker.waitForConfirms(on: c, through: seq)
        let info = try c.queueDeclare(queue, passive: true)
        #expect(info.messageCount == 1)
        #expect(try c.queuePurge(queue) == 1)
    }

    @Test func exchangeTypeOfADisabledPluginSaysHowToEnableIt() throws {
        // rabbitmq_random_exchange ships with RabbitMQ but is not enabled: the same broker answer
        // (503 "unknown exchange type") a broker without rabbitmq_consistent_hash_exchange gives.
        let c = try Broker.connect()
        defer { c.close() }
        do {
            try c.exchangeDeclare(Broker.uniqueName("random"), type: "x-random", durable: false, autoDelete: true)
            Issue.record("x-random declared: is rabbitmq_random_exchange enabled on the test broker?")
        } catch {
            #expect(error.kind == .pluginNotEnabled(plugin: "rabbitmq_random_exchange"), "\(error.debugDescription)")
            #expect(error.description.contains("run `rabbitmq-plugins enable rabbitmq_random_exchange`"))
            #expect(!error.isRetryable)
        }
        #expect(!c.isOpen)
        #expect(
            AMQPError(.pluginNotEnabled(plugin: "rabbitmq_consistent_hash_exchange"), message: "", context: "x")
                .description.hasPrefix(
                    "the RabbitMQ plugin rabbitmq_consistent_hash_exchange is not enabled: run "
                        + "`rabbitmq-plugins enable rabbitmq_consistent_hash_exchange`"
                )
        )
    }

    @Test func redeclaringAQueueWithOtherArgumentsNamesTheQueue() throws {
        let c = try Broker.connect()
        let queue = try Broker.declareQuorumQueue(on: c, "mismatch")
        do {
            try c.queueDeclare(queue, durable: true)  // classic this time
            Issue.record("redeclaring a quorum queue as classic succeeded")
        } catch {
            guard case .channelClosed(406, let text) = error.kind else {
                Issue.record("expected channelClosed 406, got \(error.debugDescription)")
                return
            }
            #expect(text.contains("PRECONDITION_FAILED"))
            #expect(
                error.description.contains(
                    "declaring queue '\(queue)' failed: it already exists with different arguments"
                )
            )
            #expect(!error.isRetryable)
        }
        let cleanup = try Broker.connect()
        defer { cleanup.close() }
        try cleanup.queueDelete(queue)
    }

    @Test func queueDeleteReportsMessagesAndPassiveDeclareOfAMissingQueueIs404() throws {
        let c = try Broker.connect()
        defer { c.close() }
        let queue = Broker.uniqueName("delete")
        try c.queueDeclare(queue, durable: false, autoDelete: false)
        try c.confirmSelect()
        var last: UInt64 = 0
        for _ in 0..<3 { last = try c.publish(routingKey: queue, body: [1, 2, 3]) }
        try Broker.waitForConfirms(on: c, through: last)
        #expect(try c.queueDelete(queue) == 3)
        do {
            try c.queueDeclare(queue, passive: true)
            Issue.record("passive declare of a deleted queue succeeded")
        } catch {
            #expect(error.kind == .channelClosed(code: 404, text: error.message))
            #expect(error.isRetryable)
        }
    }
}
