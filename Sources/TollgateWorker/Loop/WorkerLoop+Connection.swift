import Foundation
import Logging
import TollgateAMQP
import TollgateJSON
import TollgateStore

// Connecting: the worker id is claimed (a lock the broker enforces, and a check that the
// queues belong to this database) before the topology is declared and anything is consumed.
extension WorkerLoop {
    func connect(to address: String) throws -> AMQPConnection {
        let url = try AMQPURL(parsing: address)
        var amqp = AMQPConfiguration(url: url, tls: configuration.tls)
        amqp.heartbeatSeconds = configuration.heartbeatSeconds
        amqp.connectionName = "tollgate worker \(configuration.workerID)"
        let connection = try AMQPConnection(configuration: amqp, logger: logger)
        do {
            try claimWorkerID(connection)
            try declareTopology(connection)
            try connection.basicQos(prefetchCount: configuration.prefetch)
        } catch {
            connection.close()
            throw error
        }
        // Batches of the last connection still waiting for their sync: their inputs come back
        // from the broker (answered from their records), their outbox rows are published by
        // `catchUp` once synced.
        if let failure = store.syncer?.failure {
            logger.error(
                "the database's write-ahead log could not be synced before the connection was lost: nothing unsynced was published; syncing again before taking work",
                metadata: [LogKey.error: "\(failure)", "batches": "\(awaitingSync.count)"]
            )
        }
        _ = settleAwaitingSync(nil)
        settlement.reset()
        publishAgain.removeAll()
        unacked.reset()
        held.removeAll()
        outageHeld.removeAll()
        inFlightOutbox.removeAll()
        consuming = false
        controlConsumer = ""
        loginUser = url.user
        if control.status.connections > 0 { metrics.reconnected() }
        control.update {
            $0.connected = true
            $0.connections += 1
            $0.broker = "\(url)"
        }
        logger.info(
            "connected to RabbitMQ",
            metadata: [
                "broker": "\(url)", "queue": "\(topology.toolCallsQueue)", "approvals": "\(topology.approvalsQueue)",
                "prefetch": "\(configuration.prefetch)",
            ]
        )
        return connection
    }

    /// One worker per id, enforced by the broker: the worker declares an exclusive queue named
    /// after its id, which only one connection can hold (a second gets 405 RESOURCE_LOCKED) and
    /// which goes away with the connection. Then it checks that the id's queues belong to its
    /// database (see `checkOwner`).
    private func claimWorkerID(_ c: AMQPConnection) throws {
        do {
            _ = try c.queueDeclare(topology.lockQueue, durable: false, exclusive: true, autoDelete: true)
        } catch {
            if case .channelClosed(405, _) = error.kind {
                throw WorkerIDTaken(workerID: configuration.workerID, lockQueue: topology.lockQueue)
            }
            throw error
        }
        try c.confirmSelect()
        try checkOwner(c)
    }

    /// The queues of a worker id belong to one database: its escalations are voted on through
    /// them, and its idempotency records answer their redeliveries. A database's id is left on
    /// the broker as the one message of `<prefix>.owner.<worker-id>`; a worker whose database has
    /// another id stops with an error instead of taking over (a pod rescheduled without its
    /// volume, a copy started by mistake), unless told to with `--take-over-queues`.
    private func checkOwner(_ c: AMQPConnection) throws {
        let ours = try store.databaseID()
        _ = try c.queueDeclare(topology.ownerQueue, durable: true, arguments: ["x-queue-type": "quorum"])
        if let marker = try c.basicGet(queue: topology.ownerQueue) {
            try c.reject(deliveryTag: marker.deliveryTag, requeue: true)
            let owner = OwnerMarker(marker.body)
            if owner?.databaseID == ours { return }
            guard configuration.takeOverQueues else {
                throw WorkerError.identity(OwnerMarker.refusal(owner, ours: ours, store: store, topology: topology))
            }
            logger.warning(
                "taking over the queues of another database (--take-over-queues)",
                metadata: ["previous": "\(owner?.describe ?? "unreadable marker")", "database_id": "\(ours)"]
            )
            try c.queuePurge(topology.ownerQueue)
        }
        let marker = OwnerMarker(workerID: configuration.workerID, databaseID: ours, databasePath: store.path)
        var properties = AMQPProperties()
        properties.contentType = "application/json"
        properties.deliveryMode = AMQPProperties.persistent
        let seq = try c.publish(routingKey: topology.ownerQueue, body: marker.encoded(), properties: properties)
        try waitForConfirm(c, seq: seq)
    }

    /// Waits (at most 10 s) for the broker to confirm publish `seq`, before anything is consumed.
    private func waitForConfirm(_ c: AMQPConnection, seq: UInt64) throws {
        let end = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < end {
            switch try c.nextEvent(timeout: .milliseconds(200)) {
            case .publishAck(let acked, let multiple) where acked == seq || (multiple && acked > seq):
                return
            case .publishNack:
                throw AMQPError(
                    .closed,
                    message: "the broker refused the owner marker",
                    context: "claiming the worker id"
                )
            default:
                continue
            }
        }
        throw AMQPError(.timeout, message: "no confirm within 10 s", context: "claiming the worker id")
    }

    /// Declares the wire protocol's topology (idempotent; every worker does it at start).
    private func declareTopology(_ c: AMQPConnection) throws {
        let t = topology
        try c.exchangeDeclare(t.deadExchange, type: "fanout", durable: true)
        _ = try c.queueDeclare(t.deadQueue, durable: true, arguments: ["x-queue-type": "quorum"])
        try c.queueBind(queue: t.deadQueue, exchange: t.deadExchange, routingKey: "")
        try c.exchangeDeclare(t.toolCallsExchange, type: "x-consistent-hash", durable: true)
        try c.exchangeDeclare(t.approvalsExchange, type: "direct", durable: true)
        try c.exchangeDeclare(t.escalationsExchange, type: "topic", durable: true)
        try c.exchangeDeclare(t.decisionsExchange, type: "topic", durable: true)
        let shardArguments: AMQPTable = [
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": .string(t.deadExchange),
            "x-delivery-limit": .int64(Int64(configuration.deliveryLimit)),
        ]
        let calls = try c.queueDeclare(t.toolCallsQueue, durable: true, arguments: shardArguments)
        // The binding key of a consistent-hash exchange is the queue's weight. A draining worker
        // that reconnects stays unbound.
        if drainPhase == .serving {
            try c.queueBind(
                queue: t.toolCallsQueue,
                exchange: t.toolCallsExchange,
                routingKey: "\(configuration.shardWeight)"
            )
        }
        let votes = try c.queueDeclare(t.approvalsQueue, durable: true, arguments: shardArguments)
        try c.queueBind(queue: t.approvalsQueue, exchange: t.approvalsExchange, routingKey: configuration.workerID)
        // Fleet queries: a queue of this connection's own, gone with it.
        try c.exchangeDeclare(t.controlExchange, type: "fanout", durable: true)
        controlQueue = try c.queueDeclare("", durable: false, exclusive: true, autoDelete: true).name
        try c.queueBind(queue: controlQueue, exchange: t.controlExchange, routingKey: "")
        // The lock keeps other workers with this id out; a consumer here is some other client
        // reading this worker's queues, which would take its agents' calls.
        for queue in [calls, votes] where queue.consumerCount > 0 {
            throw AMQPError(
                .closed,
                message:
                    "queue '\(queue.name)' already has \(queue.consumerCount) consumer(s) that are not this worker; waiting for them to go away",
                context: "checking that this worker's queues are free"
            )
        }
    }
}

/// The message of `<prefix>.owner.<worker-id>`: which database that id's queues belong to.
struct OwnerMarker {
    var workerID: String
    var databaseID: String
    var databasePath: String
    var host: String = ProcessInfo.processInfo.hostName

    init(workerID: String, databaseID: String, databasePath: String) {
        self.workerID = workerID
        self.databaseID = databaseID
        self.databasePath = databasePath
    }

    init?(_ body: [UInt8]) {
        guard case .success(let object) = parseObject(body), let id = object["database_id"]?.stringValue else {
            return nil
        }
        workerID = object["worker_id"]?.stringValue ?? "?"
        databaseID = id
        databasePath = object["database_path"]?.stringValue ?? "?"
        host = object["host"]?.stringValue ?? "?"
    }

    func encoded() -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.objectField("worker_id", workerID)
        w.objectField("database_id", databaseID)
        w.objectField("database_path", databasePath)
        w.objectField("host", host)
        w.endObject()
        return w.bytes
    }

    var describe: String { "database \(databaseID) (\(databasePath) on \(host))" }

    static func refusal(_ owner: OwnerMarker?, ours: String, store: Store, topology: Topology) -> String {
        let theirs = owner?.describe ?? "a database this worker cannot identify (the marker is unreadable)"
        return """
            the queues of worker '\(topology.workerID)' belong to \(theirs), but this worker's database \
            \(store.path) is \(ours). Two databases for one worker id would answer its calls without their \
            history (calls decided twice, escalations that cannot be voted on). Start the worker with the \
            database it had; if that database is lost for good, start it once with --take-over-queues \
            (the escalations and idempotency records of the old database are then lost), or delete the \
            queue '\(topology.ownerQueue)'.
            """
    }
}
