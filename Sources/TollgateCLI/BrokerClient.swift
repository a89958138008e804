import Foundation
import Logging
import TollgateAMQP
import TollgateJSON

/// A short-lived broker connection for the commands that publish a message and wait for the
/// answers on a private reply queue (`tollgate call`, `approve`, `deny`).
final class BrokerClient {
    let connection: AMQPConnection
    let replyQueue: String
    /// The RabbitMQ user this client logged in as (the `user_id` of what it publishes).
    let user: String
    private var consumerTag = ""

    convenience init(_ options: BrokerOptions, logger: Logger) throws {
        try self.init(url: try AMQPURL(parsing: options.resolvedURL), tls: options.tls, logger: logger)
    }

    /// A client logged in as the user of `url`.
    init(url: AMQPURL, tls: AMQPConfiguration.TLSOptions, name: String = "tollgate cli", logger: Logger) throws {
        user = url.user
        var configuration = AMQPConfiguration(url: url, tls: tls)
        configuration.connectionName = name
        connection = try AMQPConnection(configuration: configuration, logger: logger)
        replyQueue = "tollgate.cli.\(UUID().uuidString.lowercased())"
        _ = try connection.queueDeclare(replyQueue, durable: false, exclusive: true, autoDelete: true)
        try connection.confirmSelect()
        consumerTag = try connection.basicConsume(queue: replyQueue, consumerTag: "", exclusive: true)
    }

    deinit { connection.close() }

    /// Publishes `body` with `reply_to` set to this client's queue, and waits for the broker's
    /// confirm. Throws when the message could not be routed.
    func publish(
        exchange: String,
        routingKey: String,
        body: [UInt8],
        correlationID: String,
        messageID: String,
        userID: String? = nil
    ) throws {
        var properties = AMQPProperties()
        properties.contentType = "application/json"
        properties.deliveryMode = 2
        properties.replyTo = replyQueue
        properties.correlationId = correlationID
        properties.messageId = messageID
        properties.userId = userID
        properties.appId = "tollgate-cli"
        let seq = try connection.publish(
            exchange: exchange,
            routingKey: routingKey,
            body: body,
            properties: properties,
            mandatory: true
        )
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            guard let event = try connection.nextEvent(timeout: .milliseconds(200)) else { continue }
            switch event {
            case .returned(let returned):
                throw CLIError(
                    "the broker could not route the message (\(returned.replyText)) to exchange '\(exchange)' with key '\(routingKey)': "
                        + "is a worker running and is the name right?"
                )
            case .publishAck(let acked, let multiple) where acked == seq || (multiple && acked >= seq):
                return
            case .publishNack:
                throw CLIError("the broker refused the message")
            case .delivery(let delivery):
                pending.append(delivery)
            default:
                continue
            }
        }
        throw CLIError("the broker did not confirm the message within 10 s")
    }

    /// Deliveries that arrived while waiting for a confirm.
    private var pending: [AMQPDelivery] = []

    /// The next message on the reply queue, or nil after `timeout`.
    func nextReply(timeout: Duration) throws -> AMQPDelivery? {
        if !pending.isEmpty {
            let delivery = pending.removeFirst()
            try connection.ack(deliveryTag: delivery.deliveryTag, multiple: false)
            return delivery
        }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let left = deadline - ContinuousClock.now
            guard let event = try connection.nextEvent(timeout: min(left, .milliseconds(250))) else { continue }
            if case .delivery(let delivery) = event {
                try connection.ack(deliveryTag: delivery.deliveryTag, multiple: false)
                return delivery
            }
        }
        return nil
    }
}

/// An error a command reports in one sentence.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Publishes `{"query": query}` on the fleet's control exchange and collects the answer pages
/// that arrive within `wait` seconds, with the workers that answered (docs/wire-protocol.md,
/// "Asking the fleet"). A page with an error is reported on stderr.
func askTheFleet(
    _ query: String,
    broker: BrokerOptions,
    wait: Double
) throws
    -> (pages: [(worker: String, page: JSONValue)], workers: [String])
{
    var logger = Logger(label: "tollgate.cli") { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = .warning
    let client = try BrokerClient(broker, logger: logger)
    let id = UUID().uuidString.lowercased()
    var w = JSONWriter()
    w.beginObject()
    w.objectField("query", query)
    w.endObject()
    try client.publish(
        exchange: broker.topology().controlExchange,
        routingKey: "",
        body: w.bytes,
        correlationID: id,
        messageID: id
    )
    var pages: [(worker: String, page: JSONValue)] = []
    var workers = Set<String>()
    let end = ContinuousClock.now + .milliseconds(Int(wait * 1000))
    while ContinuousClock.now < end, let reply = try client.nextReply(timeout: end - ContinuousClock.now) {
        guard reply.properties.correlationId == id, let page = try? JSONValue.parse(reply.body) else { continue }
        let worker = page["worker_id"]?.stringValue ?? "?"
        workers.insert(worker)
        if let error = page["error"]?.stringValue {
            FileHandle.standardError.write(Data("worker \(worker): \(error)\n".utf8))
        }
        pages.append((worker, page))
    }
    return (pages, workers.sorted())
}
