import Foundation
import Logging
import Synchronization
import TollgateAMQP
import TollgateWorker

/// What the broker thread tells the bridge.
enum BridgeEvent: Sendable {
    /// Consuming on a new connection (its deliveries carry this generation).
    case connected(generation: Int)
    /// That connection is gone: whatever it delivered comes again.
    case disconnected(generation: Int)
    case received(generation: Int, target: Int, delivery: AMQPDelivery)
    case attempted(generation: Int, target: Int, tag: UInt64, outcome: AttemptOutcome, nanoseconds: Int64)
    case retryDue(generation: Int, target: Int, tag: UInt64)
    /// The dead letter of this notice is confirmed and the notice acked.
    case deadLettered(generation: Int, target: Int, tag: UInt64)
    case tick
    case stop
}

/// What the bridge asks the broker thread to do with a notice it holds.
enum BrokerCommand: Sendable {
    case ack(generation: Int, tag: UInt64)
    /// Publish this copy to the dead-letter exchange, and ack the notice once it is confirmed.
    case deadLetter(DeadLetter)
}

/// A notice given up on, as it goes to the dead-letter exchange.
struct DeadLetter: Sendable {
    var generation: Int
    var target: Int
    var tag: UInt64
    var routingKey: String
    var body: [UInt8]
    var headers: [(String, String)]
    /// The notice's own AMQP timestamp, kept so that --max-age counts from its publication if it
    /// is sent again.
    var timestamp: UInt64?
}

/// The bridge's broker connection, on a thread of its own (rabbitmq-c is blocking, one connection
/// per thread): declares one durable quorum queue per target (single active consumer, so a second
/// bridge with the same names waits as a standby), binds it to the notices it follows, consumes,
/// and carries out the acks and dead letters the bridge asks for. Reconnects with backoff, to the
/// next address each time.
final class BrokerThread: Sendable {
    let configuration: WebhookConfiguration
    let events: AsyncStream<BridgeEvent>.Continuation
    let status: WebhookStatus
    let logger: Logger
    private let commands = Mutex<[BrokerCommand]>([])
    private let stop = Atomic<Bool>(false)
    /// Set by the bridge when it will send no more commands: the thread carries out what is
    /// left, then closes and exits.
    private let finishing = Atomic<Bool>(false)
    private let exited = Atomic<Bool>(false)

    init(
        configuration: WebhookConfiguration,
        events: AsyncStream<BridgeEvent>.Continuation,
        status: WebhookStatus,
        logger: Logger
    ) {
        self.configuration = configuration
        self.events = events
        self.status = status
        self.logger = logger
    }

    func send(_ command: BrokerCommand) { commands.withLock { $0.append(command) } }
    func finish() { finishing.store(true, ordering: .sequentiallyConsistent) }
    /// Stops at once (commands not yet carried out are dropped: their notices come again).
    func requestStop() { stop.store(true, ordering: .sequentiallyConsistent) }
    var hasExited: Bool { exited.load(ordering: .sequentiallyConsistent) }

    /// Not connected and asked to stop or finish: nothing left can be done (what is held
    /// comes again to the next bridge).
    private var stopping: Bool { stop.load(ordering: .relaxed) || finishing.load(ordering: .relaxed) }

    func start() {
        let thread = Thread { [self] in
            run()
            exited.store(true, ordering: .sequentiallyConsistent)
        }
        thread.name = "tollgate-webhook-broker"
        thread.start()
    }

    private func run() {
        var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(10))
        var index = 0
        var generation = 0
        let addresses = configuration.amqpURLs
        while !stopping {
            var connected = false
            do {
                let url = try AMQPURL(parsing: addresses[index % addresses.count])
                var amqp = AMQPConfiguration(url: url, tls: configuration.amqpTLS)
                amqp.connectionName = "tollgate webhook (\(configuration.targets.map(\.name).joined(separator: ", ")))"
                let connection = try AMQPConnection(configuration: amqp, logger: logger)
                defer { connection.close() }
                try setUp(connection)
                generation += 1
                connected = true
                backoff.reset()
                status.set(connected: true, problem: nil)
                logger.info(
                    "webhook: consuming",
                    metadata: [
                        "broker": "\(url)",
                        "queues": "\(configuration.targets.map(configuration.queueName).joined(separator: ", "))",
                    ]
                )
                events.yield(.connected(generation: generation))
                try serve(connection, generation: generation)
            } catch let error as NoWorkerYet {
                status.set(connected: false, problem: error.description)
                logger.notice("webhook: waiting for a worker", metadata: ["reason": "\(error)"])
                pause(backoff.next())
            } catch {
                index += 1
                status.set(connected: false, problem: "cannot reach the broker: \(error)")
                logger.warning("webhook: broker connection lost; reconnecting", metadata: ["error": "\(error)"])
                pause(backoff.next())
            }
            if connected { events.yield(.disconnected(generation: generation)) }
        }
        status.set(connected: false, problem: "stopped")
    }

    private func pause(_ delay: Duration) {
        let end = ContinuousClock.now + delay
        while ContinuousClock.now < end, !stopping {
            status.markTurn(monotonicClockMillis())
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    private func setUp(_ c: AMQPConnection) throws {
        let topology = configuration.topology
        for target in configuration.targets {
            let queue = configuration.queueName(of: target)
            try c.queueDeclare(
                queue,
                durable: true,
                arguments: [
                    "x-queue-type": .string("quorum"),
                    "x-single-active-consumer": .bool(true),
                    "x-dead-letter-exchange": .string(topology.deadExchange),
                ]
            )
            for event in WebhookConfiguration.knownEvents {
                do {
                    // Binds the kinds asked for and unbinds the others (an earlier run may have
                    // bound them: the queue outlives the bridge).
                    if configuration.events.contains(event) {
                        try c.queueBind(queue: queue, exchange: topology.escalationsExchange, routingKey: "\(event).#")
                    } else {
                        try c.queueUnbind(
                            queue: queue,
                            exchange: topology.escalationsExchange,
                            routingKey: "\(event).#"
                        )
                    }
                } catch {
                    guard error.replyCode == 404 else { throw error }
                    throw NoWorkerYet(exchange: topology.escalationsExchange, prefix: topology.prefix)
                }
            }
        }
        try c.basicQos(prefetchCount: configuration.prefetch)
        try c.confirmSelect()
        for (i, target) in configuration.targets.enumerated() {
            _ = try c.basicConsume(queue: configuration.queueName(of: target), consumerTag: "\(i)", noAck: false)
        }
    }

    private func serve(_ c: AMQPConnection, generation: Int) throws {
        let dead = configuration.topology.deadExchange
        // Dead letters waiting for their confirm: publish sequence -> the notice's tag.
        var unconfirmed: [UInt64: DeadLetter] = [:]
        // Dead letters the broker refused, to publish again (the notice stays unacked meanwhile).
        var refused: [(due: ContinuousClock.Instant, letter: DeadLetter)] = []
        var finishBy: ContinuousClock.Instant?
        while !stop.load(ordering: .relaxed) {
            if finishing.load(ordering: .relaxed), commands.withLock({ $0.isEmpty }) {
                // The last dead letters get 5 s for their confirms.
                if unconfirmed.isEmpty { return }
                if finishBy == nil { finishBy = .now + .seconds(5) }
                if let finishBy, ContinuousClock.now > finishBy { return }
            }
            var batch = commands.withLock { list -> [BrokerCommand] in
                defer { list.removeAll() }
                return list
            }
            let now = ContinuousClock.now
            while let first = refused.first, first.due <= now {
                refused.removeFirst()
                batch.append(.deadLetter(first.letter))
            }
            for command in batch {
                switch command {
                case .ack(let g, let tag):
                    if g == generation { try c.ack(deliveryTag: tag) }
                case .deadLetter(let letter):
                    guard letter.generation == generation else { continue }
                    var properties = AMQPProperties()
                    properties.contentType = "application/json"
                    properties.deliveryMode = AMQPProperties.persistent
                    properties.timestamp = letter.timestamp
                    properties.headers = AMQPTable(
                        letter.headers.map { AMQPTable.Entry(key: $0.0, value: .string($0.1)) }
                    )
                    let seq = try c.publish(
                        exchange: dead,
                        routingKey: letter.routingKey,
                        body: letter.body,
                        properties: properties
                    )
                    unconfirmed[seq] = letter
                }
            }
            status.markTurn(monotonicClockMillis())
            guard let event = try c.nextEvent(timeout: .milliseconds(20)) else { continue }
            switch event {
            case .delivery(let delivery):
                guard let target = Int(delivery.consumerTag), configuration.targets.indices.contains(target) else {
                    continue
                }
                events.yield(.received(generation: generation, target: target, delivery: delivery))
            case .publishAck(let seq, let multiple):
                for (s, letter) in unconfirmed where s == seq || (multiple && s < seq) {
                    try c.ack(deliveryTag: letter.tag)
                    unconfirmed[s] = nil
                    events.yield(.deadLettered(generation: generation, target: letter.target, tag: letter.tag))
                }
            case .publishNack(let seq, let multiple):
                // The dead-letter queue did not take it (full, a policy that rejects): the notice
                // stays held, unacked, and its dead letter is published again in 5 s.
                for (s, letter) in unconfirmed where s == seq || (multiple && s < seq) {
                    logger.error(
                        "webhook: the dead-letter exchange refused a notice; trying again in 5 s (the notice is kept)",
                        metadata: ["exchange": "\(dead)", "event": "\(letter.routingKey)"]
                    )
                    unconfirmed[s] = nil
                    refused.append((.now + .seconds(5), letter))
                }
            case .consumerCancelled(let tag):
                throw ConsumerCancelled(queue: configuration.targets[Int(tag) ?? 0].name)
            case .returned, .blocked, .unblocked:
                continue
            }
        }
    }
}

/// The broker cancelled a consumer (its queue was deleted): declare and consume again.
struct ConsumerCancelled: Error, CustomStringConvertible {
    var queue: String
    var description: String { "the broker cancelled the consumer of target \(queue) (queue deleted?)" }
}
