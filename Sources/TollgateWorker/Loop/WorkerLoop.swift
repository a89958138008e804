import Foundation
import Logging
import TollgateAMQP
import TollgateStore

/// The worker's event loop: one thread, one broker connection (rabbitmq-c is one connection per
/// thread), one SQLite connection.
///
/// Each turn it gathers what the broker delivered (up to `maxBatch` inputs), decides them in
/// one SQLite transaction (`Gate`), publishes what that caused with pipelined publisher
/// confirms, and acks each input once all its publishes are confirmed (`Settlement`). It waits
/// on the socket (which also services heartbeats) no longer than the next escalation deadline.
/// A lost broker is reconnected with backoff, moving to the next broker address; what was not
/// acked is redelivered and answered from the store, what was in the outbox is published again.
/// A database that cannot be written (a full disk, a read-only file system) stops the taking of
/// work until it can (`WorkerLoop+Outage`).
///
/// Files: `+Connection` (connecting, claiming the worker id, the topology), `+Serve` (the turn),
/// `+Batch` (deciding and publishing), `+Outage`, `+Housekeeping`.
final class WorkerLoop {
    let configuration: WorkerConfiguration
    let topology: Topology
    let control: WorkerControl
    let logger: Logger
    let store: Store
    let gate: Gate
    var faults: FaultPoints
    let clock: any WorkerClock
    var clockWatch = ClockWatch()
    /// A wall-clock step seen but not yet applied to the stored deadlines (its transaction failed).
    var unappliedClockStep: Millis = 0

    // Per connection.
    var settlement = Settlement()
    var unacked = UnackedDeliveries()
    var inFlightOutbox: Set<Int64> = []
    var confirmedOutbox: [Int64] = []
    /// Committed batches whose commit the store's syncer has not confirmed on disk yet, in
    /// commit order (`--durability full`): published by `publishDurable` once it has.
    var awaitingSync: [AwaitingSync] = []
    /// Publishes the broker rejected, to make again when due (monotonic milliseconds).
    var publishAgain: [(due: Int64, rejected: Settlement.Rejected)] = []
    var toolCallConsumer = ""
    var voteConsumer = ""
    /// Counts the starts of consuming: each start takes new consumer tags. RabbitMQ 3.10.8
    /// crashes the channel (541 INTERNAL_ERROR) when a quorum queue's consumer is cancelled and
    /// a new one takes the same tag while deliveries to the first are in flight
    /// (rabbitmq-server#5927), which a database outage's stop and resume did.
    var consumeRound = 0
    /// Counters moved outside a committed batch since the metrics last saw them.
    var countersMoved = false
    var controlConsumer = ""
    /// This connection's server-named queue bound to `<prefix>.control`.
    var controlQueue = ""
    var consuming = false
    /// The broker user this connection logged in as (the `user_id` of hand-offs).
    var loginUser = ""

    /// Direct reply-to addresses whose publish made RabbitMQ close the connection (survives
    /// reconnections; see `noteConnectionClosed`).
    var blockedReplyTo: Set<String> = []

    // Draining (survives reconnections).
    var drainPhase = DrainPhase.serving
    /// Re-home the budgets in the next transaction (a rebalance request, or a drain).
    var rehomeRequested = false
    /// The ring really changed (a worker joined for the first time, or one drained): the next
    /// transaction hands the recent call records to the agents' owners too.
    var rehomeRecords = false
    /// A worker that joined the ring holds the tool calls it receives until then (monotonic
    /// milliseconds), while the other workers hand it the budgets and call records of the agents
    /// it now owns; hand-offs are applied at once.
    var settleUntil: Millis?
    var held: [Inbound] = []
    var lastDrainCheck: Int64 = 0
    var lastDrainReport: Int64 = 0
    let metrics: WorkerMetrics
    /// Pending escalations at the last count, less the change counted since (see `reportCounters`).
    var pendingBase = 0

    // Timers (wall-clock milliseconds, from `clock`).
    var nextDeadline: Millis?
    var lastStats: Millis = 0
    var lastPrune: Millis = 0
    var lastOutboxSweep: Millis = 0
    var countersAtLastStats = WorkerCounters()
    /// Set while the database cannot be written.
    var outage: StoreOutage?
    /// The inputs taken but not recorded when the database could not be written, and those
    /// delivered since: kept unacked here, not put back (every return to a quorum queue counts
    /// against its delivery limit), and decided first when writes work again.
    var outageHeld: [Inbound] = []
    /// When the last outage ended, and its backoff: an outage that comes back soon after
    /// (the disk was not really free) goes on with the same backoff.
    var lastOutageEnd: (at: ContinuousClock.Instant, backoff: Backoff)?

    init(
        configuration: WorkerConfiguration,
        policy: LoadedPolicy,
        store: Store,
        control: WorkerControl,
        logger: Logger,
        clock: any WorkerClock = FaultPoints.clock()
    ) {
        self.configuration = configuration
        self.topology = Topology(prefix: configuration.prefix, workerID: configuration.workerID)
        self.control = control
        self.logger = logger
        self.store = store
        self.clock = clock
        self.gate = Gate(configuration: configuration, store: store, policy: policy, logger: logger)
        self.faults = FaultPoints.fromEnvironment()
        self.metrics = WorkerMetrics(workerID: configuration.workerID)
        if configuration.drainAtStart { control.requestDrain() }
        control.update { $0.policyVersion = policy.versionString }
    }

    /// Runs until a graceful stop completes or a fatal error. Blocking: call it on a thread of
    /// its own.
    func run() throws(WorkerError) {
        var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(15))
        var addressIndex = 0
        while !control.stopRequested {
            let address = configuration.amqpURLs[addressIndex % configuration.amqpURLs.count]
            do {
                let connection = try connect(to: address)
                backoff.reset()
                defer {
                    connection.close()
                    control.update {
                        $0.connected = false
                        $0.consuming = false
                    }
                }
                try serve(connection)
                return
            } catch let error as AMQPError where error.isRetryable {
                noteConnectionClosed(error)
                // The next address after a failure: with a cluster, another node.
                addressIndex += 1
                let next = configuration.amqpURLs[addressIndex % configuration.amqpURLs.count]
                let delay = backoff.next()
                logger.warning(
                    "broker connection lost or refused; reconnecting",
                    metadata: [
                        LogKey.error: "\(error)", "next_broker": "\(Self.redacted(next))", "retry_in": "\(delay)",
                    ]
                )
                sleep(delay)
            } catch let error as WorkerIDTaken {
                let delay = backoff.next()
                logger.warning("\(error)", metadata: ["retry_in": "\(delay)"])
                sleep(delay)
            } catch let error as StoreError where error.isTransient {
                let delay = backoff.next()
                logger.warning("database busy; retrying", metadata: [LogKey.error: "\(error)", "retry_in": "\(delay)"])
                sleep(delay)
            } catch let error as AMQPError {
                throw WorkerError.broker("\(error)")
            } catch let error as StoreError {
                throw WorkerError.store("\(error)")
            } catch let error as WorkerError {
                throw error
            } catch {
                throw WorkerError.broker("\(error)")
            }
        }
    }

    /// Sleeps in short steps so a stop request is honoured quickly.
    func sleep(_ duration: Duration) {
        let end = ContinuousClock.now + duration
        while ContinuousClock.now < end, !control.stopRequested {
            control.markTurn(clock.monotonicMillis())
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// A broker address for the log, without its password.
    static func redacted(_ address: String) -> String {
        (try? AMQPURL(parsing: address)).map { "\($0)" } ?? "(unparsable address)"
    }
}

/// Another connection holds this worker id's lock queue: another worker runs with this id.
struct WorkerIDTaken: Error, CustomStringConvertible {
    let workerID: String
    let lockQueue: String

    var description: String {
        "another worker is running with --worker-id \(workerID) (its connection holds the exclusive queue '\(lockQueue)'); waiting for it to go away"
    }
}
