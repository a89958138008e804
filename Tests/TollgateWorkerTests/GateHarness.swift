// A decision core in-process: a `Gate` over a temporary store, with hand-built inputs and a
// clock the test moves. No broker: what the gate returns is what the worker would publish.
import Foundation
import InMemoryLogging
import Logging
import Testing
import TollgateJSON
@testable import TollgateStore

@testable import TollgateWorker

/// The seed policy (chapter 5), with a budget so budget rules can be tested too.
let seedPolicyYAML = """
    version: "1.0"
    name: approval-workflow-policy
    rules:
      - name: allow-search-documents
        condition: {field: tool_name, operator: eq, value: search_documents}
        action: allow
        priority: 80
        message: "Safe action: searching documents is always allowed"
      - name: block-delete-database
        condition: {field: tool_name, operator: eq, value: delete_database}
        action: deny
        priority: 100
        message: "Destructive action: deleting databases is never allowed"
      - name: escalate-transfer-funds
        condition: {field: tool_name, operator: eq, value: transfer_funds}
        action: deny
        priority: 90
        message: "Sensitive action: transfer_funds requires human approval"
      - name: escalate-send-email
        condition: {field: tool_name, operator: eq, value: send_email}
        action: deny
        priority: 85
        message: "Sensitive action: send_email requires human approval"
    defaults:
      action: allow
    """

/// Quorums, approver lists, timeouts and a budget.
let quorumPolicyYAML = """
    version: "1.0"
    name: quorum-policy
    rules:
      - name: large-transfer
        condition: {field: tool_name, operator: eq, value: transfer_funds}
        action: escalate
        message: "Transfers need two of three approvers"
        escalation:
          approvers: [manager@corp.com, cfo@corp.com, compliance@corp.com]
          required_approvals: 2
          required_denials: 1
          timeout_seconds: 60
      - name: refund
        condition: {field: tool_name, operator: eq, value: issue_refund}
        action: escalate
        message: "Refunds wait a minute, then go through"
        escalation:
          timeout_seconds: 60
          timeout_action: allow
      - name: wipe
        condition: {field: tool_name, operator: eq, value: wipe_disk}
        action: deny
        message: "Never"
    defaults:
      action: allow
      max_tool_calls: 3
    """

final class GateHarness {
    let directory: URL
    let store: Store
    let gate: Gate
    let logs = InMemoryLogHandler()
    /// The gate's clock: 2027-01-15T08:00:00Z.
    var now: Millis = 1_800_000_000_000
    private var inputs = 0

    init(policy yaml: String = seedPolicyYAML, configure: (inout WorkerConfiguration) -> Void = { _ in }) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-gate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let policyPath = directory.appendingPathComponent("policy.yaml").path
        try yaml.write(toFile: policyPath, atomically: true, encoding: .utf8)
        var configuration = WorkerConfiguration()
        configuration.workerID = "w1"
        configuration.prefix = "tollgate"
        configuration.policyPaths = [policyPath]
        configuration.databasePath = directory.appendingPathComponent("w1.db").path
        configure(&configuration)
        store = try Store(path: configuration.databasePath, workerID: configuration.workerID, durability: .normal)
        var logger = Logger(label: "test") { [logs] _ in logs }
        logger.logLevel = .debug
        gate = Gate(
            configuration: configuration,
            store: store,
            policy: try LoadedPolicy.load(paths: configuration.policyPaths),
            logger: logger
        )
    }

    deinit {
        store.close()
        try? FileManager.default.removeItem(at: directory)
    }

    var topology: Topology { gate.topology }

    /// A tool call as an agent publishes it (routing key = agent id unless given).
    func call(
        agent: String = "finance-agent",
        tool: String = "search_documents",
        arguments: String? = nil,
        context: String? = nil,
        body: String? = nil,
        messageID: String? = nil,
        correlationID: String? = nil,
        replyTo: String? = "agent-replies",
        routingKey: String? = nil,
        redelivered: Bool = false,
        deliveryCount: Int? = nil
    ) -> Inbound {
        inputs += 1
        var text = #"{"agent_id":\#(quoted(agent)),"tool_name":\#(quoted(tool))"#
        if let arguments { text += #","arguments":\#(arguments)"# }
        if let context { text += #","context":\#(context)"# }
        text += "}"
        return Inbound(
            source: .toolCall,
            deliveryTag: UInt64(inputs),
            body: Array((body ?? text).utf8),
            routingKey: routingKey ?? agent,
            replyTo: replyTo,
            correlationID: correlationID ?? "c-\(inputs)",
            messageID: messageID ?? "m-\(inputs)",
            redelivered: redelivered,
            deliveryCountHeader: deliveryCount
        )
    }

    /// A vote as an approval bot publishes it, `user_id` = `voter`.
    func vote(
        _ requestID: String,
        _ decision: String,
        by voter: String?,
        comment: String? = nil,
        approver: String? = nil,
        arguments: String? = nil,
        grant: String? = nil,
        body: String? = nil,
        messageID: String? = nil,
        replyTo: String? = "bot-replies",
        redelivered: Bool = false
    ) -> Inbound {
        inputs += 1
        var text = #"{"request_id":\#(quoted(requestID)),"decision":\#(quoted(decision))"#
        if let comment { text += #","comment":\#(quoted(comment))"# }
        if let approver { text += #","approver":\#(quoted(approver))"# }
        if let arguments { text += #","arguments":\#(arguments)"# }
        if let grant { text += #","grant":\#(grant)"# }
        text += "}"
        return Inbound(
            source: .vote,
            deliveryTag: UInt64(inputs),
            body: Array((body ?? text).utf8),
            routingKey: "w1",
            replyTo: replyTo,
            correlationID: "v-\(inputs)",
            messageID: messageID ?? "vm-\(inputs)",
            userID: voter,
            redelivered: redelivered
        )
    }

    /// A revocation of a standing grant, published like a vote by `voter`.
    func revoke(_ grantID: String, by voter: String?, comment: String? = nil, messageID: String? = nil) -> Inbound {
        inputs += 1
        var text = #"{"grant_id":\#(quoted(grantID))"#
        if let comment { text += #","comment":\#(quoted(comment))"# }
        text += "}"
        return Inbound(
            source: .vote,
            deliveryTag: UInt64(inputs),
            body: Array(text.utf8),
            routingKey: "w1",
            replyTo: "bot-replies",
            correlationID: "r-\(inputs)",
            messageID: messageID ?? "rm-\(inputs)",
            userID: voter
        )
    }

    /// Handles one input in its own transaction, as the loop would.
    @discardableResult
    func handle(_ input: Inbound) throws -> Published {
        Published(try store.transaction { try gate.handle(input, now: now) }, topology: topology)
    }

    /// Decides what is due at `now`.
    @discardableResult
    func deadlines() throws -> Published {
        Published(try store.transaction { try gate.handleDeadlines(now: now) }, topology: topology)
    }

    func advance(seconds: Int) { now += Millis(seconds) * 1000 }

    /// Parks a call and returns its request id.
    func park(
        tool: String = "transfer_funds",
        agent: String = "finance-agent",
        arguments: String? = nil,
        context: String? = nil,
        replyTo: String? = "agent-replies"
    )
        throws -> String
    {
        let out = try handle(call(agent: agent, tool: tool, arguments: arguments, context: context, replyTo: replyTo))
        let pending = try #require(out.notices("pending").first)
        return try #require(pending.string("request_id"))
    }

    /// Log lines at `level` or above.
    func logged(_ level: Logger.Level) -> [String] {
        logs.entries.filter { $0.level >= level }.map { "\($0.message)" }
    }
}

/// What a gate returned for an input, sorted by where it goes.
struct Published {
    let messages: [OutboundMessage]
    let topology: Topology

    init(_ messages: [OutboundMessage], topology: Topology) {
        self.messages = messages
        self.topology = topology
    }

    /// Replies: through the default exchange to a reply queue.
    func replies(to queue: String? = nil) -> [Message] {
        messages.filter { $0.exchange == "" && (queue == nil || $0.routingKey == queue) }.map(Message.init)
    }
    /// The first reply (for a vote with a decision, the agent's final decision comes first).
    var reply: Message? { replies().first }
    var feed: [Message] { messages.filter { $0.exchange == topology.decisionsExchange }.map(Message.init) }
    var deadLetters: [Message] { messages.filter { $0.exchange == topology.deadExchange }.map(Message.init) }
    func notices(_ kind: String) -> [Message] {
        messages.filter { $0.exchange == topology.escalationsExchange && $0.routingKey.hasPrefix("\(kind).") }
            .map(Message.init)
    }
    var isEmpty: Bool { messages.isEmpty }
}

/// One published message with its body parsed.
struct Message {
    let raw: OutboundMessage
    let json: JSONValue

    init(_ raw: OutboundMessage) {
        self.raw = raw
        json = (try? JSONValue.parse(raw.body)) ?? .null
    }

    func string(_ key: String) -> String? { json[key]?.stringValue }
    func bool(_ key: String) -> Bool? { json[key]?.boolValue }
    var decision: String? { string("decision") }
    var resolution: String? { string("resolution") }
    var header: [String: String] {
        Dictionary(raw.headers.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
    }
}

func quoted(_ text: String) -> String {
    var w = JSONWriter()
    w.string(text)
    return String(decoding: w.bytes, as: UTF8.self)
}

/// What the broker delivers to a shard queue for a message a worker published through the ring
/// or to its own queue (a hand-off, a marker, call records), with the publisher's `user_id`.
func deliveredToolCall(_ message: OutboundMessage, by user: String?) -> Inbound {
    Inbound(
        source: .toolCall,
        body: message.body,
        routingKey: message.routingKey,
        messageID: message.messageID,
        userID: user,
        kind: message.headers.first { $0.name == "x-tollgate-kind" }?.value
    )
}
