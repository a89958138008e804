import Logging
import TollgatePolicy
import TollgateStore

/// The worker's decision core, free of AMQP: takes inputs, reads and writes the store inside the
/// caller's transaction, and returns the messages to publish. `WorkerLoop` does the broker side
/// and the tests drive it directly, with a temporary store and a fixed clock.
///
/// One file per input kind: `Gate+ToolCalls` (a call: redelivery, checks, policy, budget),
/// `Gate+Immediate` (decisions made at once: record, audit, reply, feed, dead letters),
/// `Gate+Parking` (escalating a call), `Gate+Votes` (votes, with the rules in `Tally`),
/// `Gate+Finalize` (final decisions of escalations, by votes or deadlines).
final class Gate {
    let configuration: WorkerConfiguration
    let topology: Topology
    let store: Store
    let logger: Logger
    var policy: LoadedPolicy
    /// Updated as inputs are handled; the loop puts back the values from before a transaction
    /// that did not commit.
    var counters = WorkerCounters()
    /// The `limited` notices sent recently (Gate+Fatigue); put back with the counters.
    var limitNotices = LimitNoticeThrottle()
    /// What a transaction that does not commit must put back.
    var memory: (counters: WorkerCounters, limitNotices: LimitNoticeThrottle) {
        get { (counters, limitNotices) }
        set { (counters, limitNotices) = newValue }
    }
    let crashingTool = FaultPoints.crashingTool()
    private var requestIDs: RequestIDGenerator

    init(configuration: WorkerConfiguration, store: Store, policy: LoadedPolicy, logger: Logger) {
        self.configuration = configuration
        self.topology = Topology(prefix: configuration.prefix, workerID: configuration.workerID)
        self.store = store
        self.policy = policy
        self.logger = logger
        self.requestIDs = RequestIDGenerator(workerID: configuration.workerID)
    }

    /// Decides one input. Must run inside a store transaction.
    func handle(_ input: Inbound, now: Millis) throws -> [OutboundMessage] {
        switch input.source {
        case .toolCall: try handleToolCall(input, now: now)
        case .vote: try handleVote(input, now: now)
        }
    }

    func makeRequestID() -> String { requestIDs.next() }

    /// The reason a body is refused for its size, if it is.
    func sizeProblem(_ input: Inbound) -> InvalidInput? {
        guard input.body.count > configuration.maxMessageBytes else { return nil }
        return InvalidInput(
            "message of \(input.body.count) bytes exceeds the limit of \(configuration.maxMessageBytes) bytes"
        )
    }

    /// The answer to an input on its `reply_to`, if it has one.
    func reply(_ body: [UInt8], to input: Inbound) -> [OutboundMessage] {
        guard let replyTo = input.replyTo, !body.isEmpty else { return [] }
        return [replyMessage(body, replyTo: replyTo, correlationID: input.correlationID)]
    }

    func replyMessage(_ body: [UInt8], replyTo: String, correlationID: String?) -> OutboundMessage {
        OutboundMessage(exchange: "", routingKey: replyTo, body: body, correlationID: correlationID, mandatory: true)
    }

    /// A final decision for `tollgate.decisions`, routing key `<decision>.<tool_name>`; none
    /// when the feed is off. (With `--decision-feed batch` the loop puts a batch's decisions of
    /// one routing key into one message when it publishes them.)
    func feedMessages(
        _ body: [UInt8],
        decision: Decision,
        toolName: String?,
        correlationID: String?
    )
        -> [OutboundMessage]
    {
        guard configuration.decisionFeed != .off else { return [] }
        return [
            OutboundMessage(
                exchange: topology.decisionsExchange,
                routingKey: topology.decisionRoutingKey(decision, toolName: toolName),
                body: body,
                correlationID: correlationID
            )
        ]
    }

    /// Writes messages to the outbox (same transaction as the change that causes them) and
    /// returns them ready to publish.
    func enqueue(_ messages: [OutboundMessage]) throws -> [OutboundMessage] {
        try messages.map { message throws(StoreError) in try store.enqueue(message) }
    }

    func countUnroutable() { counters.unroutable += 1 }
    func countPublishNack() { counters.publishNacks += 1 }
}
