import Logging
import TollgateAMQP
import TollgateWorker

/// A queue bound to a worker's decision feed (`<prefix>.decisions`, `#`), as an audit pipeline
/// would bind one: the broker stores every feed message in it during the load, and afterwards
/// `drain` reads them all and counts the decisions they carry (one per message with
/// `--decision-feed each`, one per line with `batch`), so the benchmark checks that the feed
/// lost none.
struct FeedObserver {
    let queue: String
    let exchange: String
    let connection: AMQPConfiguration
    let logger: Logger

    init(topology: Topology, connection: AMQPConfiguration, logger: Logger) {
        queue = "\(topology.prefix).bench-feed"
        exchange = topology.decisionsExchange
        self.connection = connection
        self.logger = logger
    }

    /// What the feed held.
    struct Count: Sendable {
        var messages = 0
        var decisions = 0
        /// Messages whose body was neither one decision (JSON) nor JSON Lines of decisions.
        var malformed = 0
    }

    func bind() async throws {
        let (queue, exchange, connection, logger) = (queue, exchange, connection, logger)
        try await onThread("feed-observer") {
            let c = try AMQPConnection(configuration: connection, logger: logger)
            defer { c.close() }
            try c.queueDeclare(queue, arguments: ["x-queue-type": "quorum"])
            try c.queueBind(queue: queue, exchange: exchange, routingKey: "#")
        }
    }

    /// Reads (and deletes) everything in the queue, then deletes the queue.
    func drain() async throws -> Count {
        let (queue, connection, logger) = (queue, connection, logger)
        return try await onThread("feed-observer") {
            let c = try AMQPConnection(configuration: connection, logger: logger)
            defer { c.close() }
            var count = Count()
            while let message = try c.basicGet(queue: queue, noAck: true) {
                count.messages += 1
                let lines =
                    message.properties.contentType == DecisionFeedForm.jsonLines
                    ? message.body.split(separator: 0x0A) : [message.body[...]]
                let decisions = lines.filter { $0.first == UInt8(ascii: "{") && $0.last == UInt8(ascii: "}") }
                count.decisions += decisions.count
                if decisions.isEmpty || decisions.count != lines.count { count.malformed += 1 }
            }
            _ = try c.queueDelete(queue)
            return count
        }
    }
}
