import Foundation
import Logging
import Synchronization
import TollgateAMQP
import TollgateJSON
import TollgateWorker

/// One broker connection that publishes votes and waits for the workers' answers, on a thread
/// of its own (rabbitmq-c: one connection per thread, heartbeats serviced only while it waits on
/// the socket). A person signed in with their broker user has one (the broker then vouches for
/// their `user_id`); the gateway has one as its own user for trusted-gateway votes (proxy
/// sign-in, bots).
final class VoterConnection: Sendable {
    struct Ballot: Sendable {
        var requestID: String
        var worker: String
        var decision: String
        var comment: String?
        /// The person, when the gateway votes for them as a trusted gateway.
        var approver: String?
        /// How the person reached the gateway, for the worker's audit entry ("bot slack", "proxy").
        var via: String?
        /// Approve with edits: the corrected arguments.
        var arguments: JSONObject? = nil
        /// A standing grant with the approval (`{scope, ttl_seconds}`, checked by the worker).
        var grant: JSONObject? = nil
        /// Not a vote but the revocation of this standing grant (`requestID` and `decision` unused).
        var revokes: String? = nil
    }

    enum Answer: Sendable {
        /// The worker's answer body.
        case answered(JSONObject)
        case noAnswer
        case failed(String)
    }

    private struct Job: @unchecked Sendable {
        // A Job crosses from an HTTP handler to the connection's thread once and is completed
        // there once; the continuation is resumed exactly once (by `finish`).
        var ballot: Ballot
        var continuation: CheckedContinuation<Answer, Never>
    }

    let user: String
    private let topology: Topology
    private let logger: Logger
    private let jobs = Mutex<[Job]>([])
    private let closing = Atomic<Bool>(false)
    private let alive = Atomic<Bool>(true)

    /// Logs in as `url`'s user (throws when the broker refuses the credentials) and starts the
    /// connection's thread.
    init(url: AMQPURL, tls: AMQPConfiguration.TLSOptions, topology: Topology, logger: Logger) throws {
        self.user = url.user
        self.topology = topology
        self.logger = logger
        let ready = DispatchSemaphore(value: 0)
        let failure = Mutex<(any Error)?>(nil)
        let thread = Thread { [self] in
            let connection: AMQPConnection
            let replyQueue: String
            do {
                var configuration = AMQPConfiguration(url: url, tls: tls)
                configuration.connectionName = "tollgate gateway for \(url.user)"
                connection = try AMQPConnection(configuration: configuration, logger: logger)
                try connection.confirmSelect()
                replyQueue = try connection.queueDeclare("", durable: false, exclusive: true, autoDelete: true).name
                _ = try connection.basicConsume(queue: replyQueue, noAck: true)
            } catch {
                failure.withLock { $0 = error }
                alive.store(false, ordering: .relaxed)
                ready.signal()
                return
            }
            ready.signal()
            serve(connection, replyQueue: replyQueue)
        }
        thread.name = "tollgate-voter"
        thread.start()
        ready.wait()
        if let error = failure.withLock({ $0 }) { throw error }
    }

    /// Logs in at the first of `urls` (the nodes of a cluster) that answers, off the caller's
    /// thread (a TCP handshake and the AMQP login block). A refused login is final: the same
    /// user and password would be refused by every node.
    static func open(
        trying urls: [AMQPURL],
        tls: AMQPConfiguration.TLSOptions,
        topology: Topology,
        logger: Logger
    ) async throws -> VoterConnection {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                var lastError: any Error = AMQPError(
                    .invalidArgument,
                    message: "no broker address",
                    context: "signing in"
                )
                for url in urls {
                    do {
                        let made = try VoterConnection(url: url, tls: tls, topology: topology, logger: logger)
                        continuation.resume(returning: made)
                        return
                    } catch let error as AMQPError
                        where error.kind == .authenticationFailed || error.kind == .accessRefused
                    {
                        continuation.resume(throwing: error)
                        return
                    } catch {
                        logger.notice(
                            "gateway: a broker node did not answer; trying the next",
                            metadata: ["node": "\(url.host):\(url.port)", "error": "\(error)"]
                        )
                        lastError = error
                    }
                }
                continuation.resume(throwing: lastError)
            }
        }
    }

    /// Whether the connection still works (false after a broker error or `close()`).
    var isAlive: Bool { alive.load(ordering: .relaxed) }

    /// Closes the connection (sign-out, idle expiry); pending votes are answered `failed`.
    func close() { closing.store(true, ordering: .relaxed) }

    /// Publishes a vote and waits (at most 10 s) for the worker's answer.
    func vote(_ ballot: Ballot) async -> Answer {
        guard isAlive else { return .failed("the broker connection of this session is closed; sign in again") }
        return await withCheckedContinuation { continuation in
            jobs.withLock { $0.append(Job(ballot: ballot, continuation: continuation)) }
        }
    }

    private func serve(_ connection: AMQPConnection, replyQueue: String) {
        var waiting: [String: (job: Job, until: ContinuousClock.Instant)] = [:]
        defer {
            alive.store(false, ordering: .relaxed)
            connection.close()
            for (_, entry) in waiting {
                entry.job.continuation.resume(returning: .failed("the broker connection closed"))
            }
            for job in jobs.withLock({ jobs in
                defer { jobs.removeAll() }
                return jobs
            }) {
                job.continuation.resume(returning: .failed("the broker connection closed"))
            }
        }
        while !closing.load(ordering: .relaxed) {
            for job in jobs.withLock({ jobs in
                defer { jobs.removeAll() }
                return jobs
            }) {
                let id = UUID().uuidString.lowercased()
                do {
                    try publish(job.ballot, id: id, replyTo: replyQueue, connection)
                    waiting[id] = (job, .now + .seconds(10))
                } catch {
                    job.continuation.resume(returning: .failed("the vote could not be published: \(error)"))
                    return
                }
            }
            do {
                switch try connection.nextEvent(timeout: .milliseconds(100)) {
                case .delivery(let delivery)?:
                    if let id = delivery.properties.correlationId, let entry = waiting.removeValue(forKey: id) {
                        entry.job.continuation.resume(
                            returning: parseJSONObject(delivery.body).map(Answer.answered)
                                ?? .failed("unreadable answer")
                        )
                    }
                case .returned(let returned)?:
                    // No votes queue for that worker id: no such worker.
                    if let id = returned.properties.correlationId, let entry = waiting.removeValue(forKey: id) {
                        entry.job.continuation.resume(
                            returning: .failed("no worker '\(entry.job.ballot.worker)' takes votes: is it running?")
                        )
                    }
                default:
                    break
                }
            } catch {
                logger.warning(
                    "gateway: a voter connection failed",
                    metadata: ["user": "\(user)", "error": "\(error)"]
                )
                return
            }
            let now = ContinuousClock.now
            for (id, entry) in waiting where entry.until <= now {
                waiting[id] = nil
                entry.job.continuation.resume(returning: .noAnswer)
            }
        }
    }

    private func publish(_ ballot: Ballot, id: String, replyTo: String, _ connection: AMQPConnection) throws {
        var w = JSONWriter()
        w.beginObject()
        if let grantID = ballot.revokes {
            w.objectField("grant_id", grantID)
        } else {
            w.objectField("request_id", ballot.requestID)
            w.objectField("decision", ballot.decision)
        }
        if let comment = ballot.comment { w.objectField("comment", comment) }
        if let approver = ballot.approver { w.objectField("approver", approver) }
        if let via = ballot.via { w.objectField("via", via) }
        if let arguments = ballot.arguments { w.objectField("arguments", .object(arguments)) }
        if let grant = ballot.grant { w.objectField("grant", .object(grant)) }
        w.endObject()
        var properties = AMQPProperties()
        properties.contentType = "application/json"
        properties.deliveryMode = AMQPProperties.persistent
        properties.replyTo = replyTo
        properties.correlationId = id
        properties.messageId = id
        properties.userId = user
        properties.appId = "tollgate-gateway"
        _ = try connection.publish(
            exchange: topology.approvalsExchange,
            routingKey: ballot.worker,
            body: w.bytes,
            properties: properties,
            mandatory: true
        )
    }
}
