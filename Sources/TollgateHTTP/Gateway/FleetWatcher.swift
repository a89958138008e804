import Foundation
import Logging
import Synchronization
import TollgateAMQP
import TollgateJSON
import TollgateWorker

/// Keeps a `FleetView` current, on a thread of its own (rabbitmq-c is blocking, one connection per
/// thread): a queue of its own bound to `tollgate.escalations` (`pending.#`, `voted.#`,
/// `resolved.#`, `revoked.#`), and `pending` and `grants` queries to the fleet at every
/// (re)connection and every 30 s, whose answers replace what was known of each worker that answers.
final class FleetWatcher: Sendable {
    let addresses: [String]
    let tls: AMQPConfiguration.TLSOptions
    let topology: Topology
    let view: FleetView
    let logger: Logger
    private let stop = Atomic<Bool>(false)

    /// How often the fleet is asked again, and how long a worker has to answer.
    static let askEvery: Duration = .seconds(30)
    static let answerWindow: Duration = .seconds(2)

    init(addresses: [String], tls: AMQPConfiguration.TLSOptions, topology: Topology, view: FleetView, logger: Logger) {
        self.addresses = addresses
        self.tls = tls
        self.topology = topology
        self.view = view
        self.logger = logger
    }

    func requestStop() { stop.store(true, ordering: .relaxed) }
    private var stopping: Bool { stop.load(ordering: .relaxed) }

    /// Runs until `requestStop()`; reconnects with backoff.
    func run() {
        var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(10))
        var index = 0
        while !stopping {
            do {
                let url = try AMQPURL(parsing: addresses[index % addresses.count])
                var configuration = AMQPConfiguration(url: url, tls: tls)
                configuration.connectionName = "tollgate gateway (fleet watcher)"
                let connection = try AMQPConnection(configuration: configuration, logger: logger)
                defer { connection.close() }
                backoff.reset()
                try watch(connection)
            } catch let error as NoWorkerYet {
                // The broker answers; the workers have never declared their exchanges.
                view.setConnection(false, problem: error.description)
                logger.notice("fleet watcher: waiting for a worker", metadata: ["reason": "\(error)"])
                let end = ContinuousClock.now + backoff.next()
                while ContinuousClock.now < end, !stopping { Thread.sleep(forTimeInterval: 0.05) }
            } catch {
                index += 1
                let delay = backoff.next()
                view.setConnection(false, problem: "the gateway cannot reach the broker: \(error)")
                logger.warning("fleet watcher: broker connection lost; reconnecting", metadata: ["error": "\(error)"])
                let end = ContinuousClock.now + delay
                while ContinuousClock.now < end, !stopping { Thread.sleep(forTimeInterval: 0.05) }
            }
        }
    }

    private func watch(_ c: AMQPConnection) throws {
        // The workers declare the exchanges; the gateway's user needs no configure right on them
        // (deploy/rabbitmq/definitions.json gives it none).
        let queue = try c.queueDeclare("", durable: false, exclusive: true, autoDelete: true).name
        try bindNotices(c, queue: queue)
        _ = try c.basicConsume(queue: queue, noAck: true)
        view.setConnection(true, problem: nil)
        logger.info(
            "fleet watcher: following the escalations",
            metadata: ["exchange": "\(topology.escalationsExchange)"]
        )
        var asking = try ask(c, replyTo: queue)
        while !stopping {
            if let event = try c.nextEvent(timeout: .milliseconds(200)), case .delivery(let delivery) = event {
                take(delivery, asking: &asking)
            }
            let now = ContinuousClock.now
            if let open = asking.until, now >= open {
                asking.until = nil
                view.setProblem(
                    asking.answered.isEmpty
                        ? "no worker answers: is a Tollgate worker running with prefix \(topology.prefix)?" : nil
                )
            }
            if now - asking.sentAt >= Self.askEvery { asking = try ask(c, replyTo: queue) }
        }
    }

    private func bindNotices(_ c: AMQPConnection, queue: String) throws {
        for key in ["pending.#", "voted.#", "resolved.#", "revoked.#"] {
            do {
                try c.queueBind(queue: queue, exchange: topology.escalationsExchange, routingKey: key)
            } catch {
                // queueBind throws AMQPError only.
                guard error.replyCode == 404 else { throw error }
                throw NoWorkerYet(exchange: topology.escalationsExchange, prefix: topology.prefix)
            }
        }
    }

    /// One `pending` query and one `grants` query in flight: their correlation ids, the pages
    /// collected per worker.
    struct Asking {
        var id: String
        var sentAt: ContinuousClock.Instant
        var until: ContinuousClock.Instant?
        var pages: [String: [JSONObject]] = [:]
        var grantPages: [String: [JSONObject]] = [:]
        var answered: Set<String> = []
        var grantsID: String { id + "-grants" }
    }

    private func ask(_ c: AMQPConnection, replyTo: String) throws -> Asking {
        let id = UUID().uuidString.lowercased()
        var properties = AMQPProperties()
        properties.replyTo = replyTo
        properties.correlationId = id
        properties.contentType = "application/json"
        _ = try c.publish(
            exchange: topology.controlExchange,
            routingKey: "",
            body: Array(#"{"query":"pending"}"#.utf8),
            properties: properties
        )
        let asking = Asking(id: id, sentAt: .now, until: .now + Self.answerWindow)
        properties.correlationId = asking.grantsID
        _ = try c.publish(
            exchange: topology.controlExchange,
            routingKey: "",
            body: Array(#"{"query":"grants"}"#.utf8),
            properties: properties
        )
        return asking
    }

    private func take(_ delivery: AMQPDelivery, asking: inout Asking) {
        guard let object = parseJSONObject(delivery.body) else { return }
        if delivery.exchange == topology.escalationsExchange {
            let kind = delivery.routingKey.split(separator: ".", maxSplits: 1).first.map(String.init) ?? ""
            switch kind {
            case "pending", "voted": view.upsert(notice: object)
            case "resolved": view.resolve(decision: object, at: wallClockMillis())
            case "revoked":
                if let id = object["grant"]?["grant_id"]?.stringValue { view.revoke(grantID: id) }
            default: break
            }
            return
        }
        // An answer page to our grants query (a worker that does not know the query answers
        // with an error: it has no grants).
        if delivery.properties.correlationId == asking.grantsID, let worker = object["worker_id"]?.stringValue {
            if object["error"] != nil { return }
            asking.grantPages[worker, default: []] += (object["grants"]?.arrayValue ?? []).compactMap(\.objectValue)
            if object["last"]?.boolValue == true {
                view.replace(worker: worker, withGrants: asking.grantPages[worker] ?? [])
                asking.grantPages[worker] = nil
            }
            return
        }
        // An answer page to our query.
        guard delivery.properties.correlationId == asking.id, let worker = object["worker_id"]?.stringValue else {
            return
        }
        asking.answered.insert(worker)
        if object["error"] != nil { return }
        asking.pages[worker, default: []] += (object["pending"]?.arrayValue ?? []).compactMap(\.objectValue)
        if object["last"]?.boolValue == true {
            view.replace(worker: worker, with: asking.pages[worker] ?? [])
            asking.pages[worker] = nil
        }
    }
}

/// A body that is one JSON object, or nil.
func parseJSONObject(_ body: [UInt8]) -> JSONObject? {
    guard case .object(let object)? = try? JSONValue.parse(body) else { return nil }
    return object
}
