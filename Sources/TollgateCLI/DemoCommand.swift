import ArgumentParser
import Foundation
import Logging
import TollgateAMQP
import TollgateJSON
import TollgateStore
import TollgateWorker

/// `tollgate demo`: chapter 5 of the agent-os tutorial (the seed) played for real, over AMQP,
/// against a running broker and worker, each role on its own connection: the agents
/// (finance-agent, support-agent), the manager and compliance. Printed in the tutorial's layout,
/// with real request ids.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract:
            "Play chapter 5 (approval workflows) against a running worker: agents, a manager and compliance over AMQP.",
        discussion: """
            Needs a worker with the seed policy (policies/approval-workflow.yaml) on the broker, and \
            the users manager@corp.com and compliance@corp.com (deploy/broker-users.sh makes them, \
            password 'secret'). The timeout part waits for its request's deadline: start the worker \
            with a short --escalation-timeout (deploy/run.sh --demo uses 8 s). With --db (the \
            worker's database) it ends with `audit verify`.

            Exit status: 0 when every decision is the tutorial's, 1 when one differs, 2 when the \
            broker or the worker does not answer.

            Example:
              tollgate demo --db var/tollgate.db
            """
    )

    @OptionGroup var broker: BrokerOptions

    @Option(
        help:
            "Password of manager@corp.com and compliance@corp.com (default: secret, as deploy/broker-users.sh sets it)."
    )
    var approverPassword = "secret"

    @Option(help: "The worker's database, for the closing `audit verify` (optional).")
    var db: String?

    @Option(help: "Seconds to wait for the timeout part beyond its deadline (default 15).")
    var grace = 15

    func run() throws {
        var logger = Logger(label: "tollgate.demo") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        var story = DemoStory(broker: broker, approverPassword: approverPassword, grace: grace, logger: logger)
        do {
            try story.play()
        } catch let failure as DemoFailure {
            print("\n  demo: \(failure.description)")
            throw ExitCode(failure.unexpected ? 1 : 2)
        } catch {
            print("\n  demo: \(error)")
            throw ExitCode(2)
        }
        if let db {
            let result = try Store(readingExisting: db).verifyAudit()
            print("")
            print("  $ tollgate audit verify --db \(db)")
            guard result.isIntact else {
                print("  TAMPERED: \(result.problem ?? "?")")
                throw ExitCode(1)
            }
            print(
                "  OK: \(result.checked) entries, chain intact; head entry \(result.headSeq) hash \(result.headHash.prefix(8))..."
            )
        }
    }
}

struct DemoFailure: Error, CustomStringConvertible {
    let description: String
    /// A decision other than the tutorial's (exit 1), rather than no answer (exit 2).
    let unexpected: Bool
}

/// The five parts of the chapter, in order.
struct DemoStory {
    let broker: BrokerOptions
    let approverPassword: String
    let grace: Int
    let logger: Logger
    private let rule = String(repeating: "=", count: 60)

    init(broker: BrokerOptions, approverPassword: String, grace: Int, logger: Logger) {
        self.broker = broker
        self.approverPassword = approverPassword
        self.grace = grace
        self.logger = logger
    }

    mutating func play() throws {
        let agent = try BrokerClient(broker, logger: logger)
        print(rule)
        print("  Chapter 5: Approval Workflows")
        print(rule)
        let (transfer, email) = try partOne(agent)
        try partTwo(transfer)
        try partThree(agent, transfer)
        try partFour(agent, email)
        try partFive(agent)
        print("")
        print(rule)
        print("  The policy system now has three tiers: allow, deny,")
        print("  and escalate. Sensitive actions wait for a human")
        print("  before the agent proceeds — or time out safely.")
        print(rule)
    }

    /// The five calls of the tutorial's table. The two that escalate are the requests of parts
    /// 2 to 4 (the transfer from finance-agent, the mail from support-agent).
    private func partOne(_ agent: BrokerClient) throws -> (transfer: JSONValue, email: JSONValue) {
        print("\n--- Part 1: The three-outcome model ---\n")
        print("  Tool                   Decision       Reason")
        print("  -------------------------------------------------------")
        let calls: [(agent: String, tool: String, reason: String?)] = [
            ("finance-agent", "search_documents", nil),
            ("finance-agent", "write_file", nil),
            ("finance-agent", "delete_database", nil),
            ("finance-agent", "transfer_funds", "Agent wants to transfer $5,000 to vendor account"),
            ("support-agent", "send_email", "Agent wants to email 10,000 customers a promotional offer"),
        ]
        let expected = ["allow", "allow", "deny", "pending", "pending"]
        var answers: [JSONValue] = []
        for (call, want) in zip(calls, expected) {
            let answer = try ask(agent, agentID: call.agent, tool: call.tool, reason: call.reason)
            let decision = answer["decision"]?.stringValue ?? "?"
            let shown: String =
                switch decision {
                case "allow": "✅ allow   "
                case "deny": "🚫 deny    "
                default: "⏳ escalate"
                }
            let tool = call.tool.padding(toLength: 22, withPad: " ", startingAt: 0)
            print("  \(tool) \(shown)  \(answer["reason"]?.stringValue ?? "")")
            guard decision == want else {
                throw DemoFailure(
                    description: "\(call.tool) was \(decision), the tutorial says \(want)",
                    unexpected: true
                )
            }
            answers.append(answer)
        }
        print("")
        print("  For the first time, the system has three outcomes.")
        print("  transfer_funds and send_email are not automatically")
        print("  allowed or denied — they are paused until a human reviews.")
        return (answers[3], answers[4])
    }

    private func partTwo(_ transfer: JSONValue) throws {
        print("\n--- Part 2: Creating an escalation request ---\n")
        print("  Request ID:  \(transfer["request_id"]?.stringValue ?? "?")")
        print("  Agent:       finance-agent")
        print("  Action:      transfer_funds")
        print("  Reason:      Agent wants to transfer $5,000 to vendor account")
        print("  Status:      ⏳ PENDING")
        print("")
        print("  Pending requests in queue: \(try pendingCount())")
        print("")
        print("  The agent is now suspended. A ticket exists in the")
        print("  approval queue. Someone needs to review it.")
    }

    private func partThree(_ agent: BrokerClient, _ transfer: JSONValue) throws {
        print("\n--- Part 3: Human approves ---\n")
        let requestID = transfer["request_id"]?.stringValue ?? ""
        try vote(as: "manager@corp.com", requestID: requestID, decision: "approve", comment: "vendor verified")
        let final = try finalDecision(agent, for: transfer)
        print("  manager@corp.com approved request \(requestID)")
        try expect(final, "allow", "approved")
        print("  Final decision: ✅ ALLOW")
        print("")
        print("  The manager approved the transfer. The agent can proceed.")
    }

    private func partFour(_ agent: BrokerClient, _ email: JSONValue) throws {
        print("\n--- Part 4: Human denies ---\n")
        let requestID = email["request_id"]?.stringValue ?? ""
        try vote(as: "compliance@corp.com", requestID: requestID, decision: "deny", comment: "no promotional mass mail")
        let final = try finalDecision(agent, for: email)
        print("  compliance@corp.com denied request \(requestID)")
        try expect(final, "deny", "denied")
        print("  Final decision: 🚫 DENY")
        print("")
        print("  Compliance reviewed the request and said no.")
        print("  The agent must not send the email.")
    }

    private func partFive(_ agent: BrokerClient) throws {
        print("\n--- Part 5: Timeout — nobody responds ---\n")
        let pending = try ask(
            agent,
            agentID: "finance-agent",
            tool: "transfer_funds",
            reason: "Agent wants to transfer $9,000 at 3 a.m."
        )
        guard pending["decision"]?.stringValue == "pending" else {
            throw DemoFailure(description: "the third request was not escalated", unexpected: true)
        }
        print("  Request \(pending["request_id"]?.stringValue ?? "?") is waiting for approval...")
        let started = Date()
        let final = try finalDecision(agent, for: pending)
        print("  Timeout after \(Int(Date().timeIntervalSince(started).rounded()))s with no response.")
        try expect(final, "deny", "timeout")
        print("  Final decision: 🚫 DENY (safe default)")
        print("")
        print("  When nobody responds, the system fails safe.")
        print("  timeout_action: deny ensures unanswered")
        print("  requests do not become silent approvals.")
        print("")
        print("  In production, timeouts are typically 300 seconds")
        print("  (5 minutes) or more — enough time for a human to")
        print("  review, but not so long that the agent waits forever.")
    }

    // MARK: - Roles over AMQP

    /// Publishes one tool call as `agentID` and returns the first answer.
    private func ask(_ agent: BrokerClient, agentID: String, tool: String, reason: String?) throws -> JSONValue {
        var w = JSONWriter()
        w.beginObject()
        w.objectField("agent_id", agentID)
        w.objectField("tool_name", tool)
        if let reason { w.objectField("reason", reason) }
        w.endObject()
        let id = UUID().uuidString.lowercased()
        try agent.publish(
            exchange: broker.topology().toolCallsExchange,
            routingKey: agentID,
            body: w.bytes,
            correlationID: id,
            messageID: id
        )
        return try answer(agent, correlationID: id, timeout: .seconds(10))
    }

    /// The next message on `agent`'s reply queue for `correlationID`, parsed.
    private func answer(
        _ agent: BrokerClient,
        correlationID: String,
        timeout: Duration,
        final: Bool = false
    ) throws
        -> JSONValue
    {
        let end = ContinuousClock.now + timeout
        while ContinuousClock.now < end {
            guard let reply = try agent.nextReply(timeout: end - ContinuousClock.now) else { break }
            guard reply.properties.correlationId == correlationID, let body = try? JSONValue.parse(reply.body) else {
                continue
            }
            if final, body["final"]?.boolValue != true { continue }
            return body
        }
        throw DemoFailure(
            description: "no answer within \(timeout): is a worker with the seed policy running on this broker?",
            unexpected: false
        )
    }

    private func finalDecision(_ agent: BrokerClient, for pending: JSONValue) throws -> JSONValue {
        let deadline = pending["deadline"]?.stringValue.flatMap(parseISOTime) ?? wallClockMillis()
        let wait = max(0, deadline - wallClockMillis()) / 1000 + Millis(grace)
        return try answer(
            agent,
            correlationID: pending["correlation_id"]?.stringValue ?? "",
            timeout: .seconds(wait),
            final: true
        )
    }

    private func vote(as user: String, requestID: String, decision: String, comment: String) throws {
        guard let worker = workerID(ofRequest: requestID) else {
            throw DemoFailure(description: "'\(requestID)' is not a request id", unexpected: true)
        }
        var url = try AMQPURL(parsing: broker.resolvedURL)
        url.user = user
        url.password = approverPassword
        let client = try BrokerClient(url: url, tls: broker.tls, name: "tollgate demo \(user)", logger: logger)
        var w = JSONWriter()
        w.beginObject()
        w.objectField("request_id", requestID)
        w.objectField("decision", decision)
        w.objectField("comment", comment)
        w.endObject()
        let id = UUID().uuidString.lowercased()
        try client.publish(
            exchange: broker.topology().approvalsExchange,
            routingKey: worker,
            body: w.bytes,
            correlationID: id,
            messageID: id,
            userID: user
        )
        let answer = try self.answer(client, correlationID: id, timeout: .seconds(10))
        guard answer["accepted"]?.boolValue == true else {
            throw DemoFailure(
                description: "\(user)'s vote was rejected: \(answer["error"]?.stringValue ?? "?")",
                unexpected: true
            )
        }
    }

    /// The fleet's pending requests, counted over `tollgate.control`.
    private func pendingCount() throws -> Int {
        let client = try BrokerClient(broker, logger: logger)
        let id = UUID().uuidString.lowercased()
        try client.publish(
            exchange: broker.topology().controlExchange,
            routingKey: "",
            body: Array(#"{"query":"pending"}"#.utf8),
            correlationID: id,
            messageID: id
        )
        var count = 0
        let end = ContinuousClock.now + .seconds(1)
        while ContinuousClock.now < end, let reply = try client.nextReply(timeout: end - ContinuousClock.now) {
            guard reply.properties.correlationId == id, let page = try? JSONValue.parse(reply.body) else { continue }
            count += page["pending"]?.arrayValue?.count ?? 0
        }
        return count
    }

    private func expect(_ final: JSONValue, _ decision: String, _ resolution: String) throws {
        let got = (final["decision"]?.stringValue ?? "?", final["resolution"]?.stringValue ?? "?")
        guard got == (decision, resolution) else {
            throw DemoFailure(
                description:
                    "the final decision was \(got.0) (\(got.1)); the tutorial says \(decision) (\(resolution))",
                unexpected: true
            )
        }
    }
}
