import Logging
import TollgateStore

/// The decision core without a broker: tool calls decided in batches, one store transaction per
/// batch, exactly as the worker's loop decides them (`Gate`, the same store, durability and
/// policy), with what they would publish handed back instead of published. For measuring the
/// worker's own cost per decision apart from the broker's (`tollgate-bench core`).
public final class OfflineDecisions {
    /// A tool call as the broker would deliver it.
    public struct Call: Sendable {
        public var body: [UInt8]
        public var agentID: String
        public var messageID: String?
        public var replyTo: String?
        public var correlationID: String?

        public init(body: [UInt8], agentID: String, messageID: String?, replyTo: String?, correlationID: String?) {
            self.body = body
            self.agentID = agentID
            self.messageID = messageID
            self.replyTo = replyTo
            self.correlationID = correlationID
        }
    }

    /// What a batch produced: its messages, and their bytes in all.
    public struct Output: Sendable {
        public var messages = 0
        public var bytes = 0
    }

    private let store: Store
    private let gate: Gate

    /// Opens (or creates) the database at `configuration.databasePath`, with commits synced on
    /// the store's own threads as in the worker.
    public init(configuration: WorkerConfiguration, policy: LoadedPolicy, logger: Logger) throws {
        store = try Store(
            path: configuration.databasePath,
            workerID: configuration.workerID,
            durability: configuration.durability,
            deferredSync: true
        )
        gate = Gate(configuration: configuration, store: store, policy: policy, logger: logger)
    }

    deinit { store.close() }

    /// Waits until every batch decided so far is on disk.
    public func waitForDurability() throws { try store.syncNow() }

    /// Decides `calls` in one transaction, committed; with durability `full` its sync is asked
    /// for and done on the store's threads, as the worker's are (`waitForDurability`).
    public func decide(_ calls: [Call], now: Millis) throws -> Output {
        defer { _ = store.syncer?.request() }
        return try store.transaction {
            var output = Output()
            for call in calls {
                let input = Inbound(
                    source: .toolCall,
                    body: call.body,
                    routingKey: call.agentID,
                    replyTo: call.replyTo,
                    correlationID: call.correlationID,
                    messageID: call.messageID
                )
                for message in try gate.handle(input, now: now) {
                    output.messages += 1
                    output.bytes += message.body.count
                }
            }
            return output
        }
    }
}
