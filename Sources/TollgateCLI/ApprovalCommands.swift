import ArgumentParser
import Foundation
import Logging
import TollgateJSON
import TollgateStore
import TollgateWorker

/// What `approve` and `deny` share.
struct VoteOptions: ParsableArguments {
    @Argument(help: "The request id from the escalation notice or `tollgate pending`, e.g. w1-5b0c9c6e-....")
    var requestID: String

    @Option(help: "A comment recorded with the vote.")
    var comment: String?

    @Option(help: "For a trusted gateway (the worker's --trusted-gateway): the person who decided.")
    var approver: String?

    @Option(help: "Seconds to wait for the worker's answer (default 10).")
    var timeout: Int = 10

    @OptionGroup var broker: BrokerOptions
}

/// Publishes a vote as the user of `--amqp-url` and prints the worker's answer.
/// Exit status: 0 accepted, 1 rejected, 2 could not vote (no answer, no route, bad id).
func castVote(_ decision: String, _ options: VoteOptions) throws {
    guard let worker = workerID(ofRequest: options.requestID) else {
        print("error: '\(options.requestID)' is not a Tollgate request id (<worker-id>-<uuid>)")
        throw ExitCode(2)
    }
    var logger = Logger(label: "tollgate.cli") { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = .warning
    do {
        let client = try BrokerClient(options.broker, logger: logger)
        var w = JSONWriter()
        w.beginObject()
        w.objectField("request_id", options.requestID)
        w.objectField("decision", decision)
        if let comment = options.comment { w.objectField("comment", comment) }
        if let approver = options.approver { w.objectField("approver", approver) }
        w.endObject()
        let correlation = UUID().uuidString.lowercased()
        try client.publish(
            exchange: options.broker.topology().approvalsExchange,
            routingKey: worker,
            body: w.bytes,
            correlationID: correlation,
            messageID: correlation,
            userID: client.user
        )
        guard let reply = try client.nextReply(timeout: .seconds(options.timeout)) else {
            print(
                "no answer from worker \(worker) within \(options.timeout) s: the vote is queued and will be applied when it runs"
            )
            throw ExitCode(2)
        }
        let answer = try? JSONValue.parse(reply.body)
        guard answer?["accepted"]?.boolValue == true else {
            print("rejected: \(answer?["error"]?.stringValue ?? String(decoding: reply.body, as: UTF8.self))")
            throw ExitCode(1)
        }
        let status = answer?["status"]?.stringValue ?? "?"
        print("accepted: \(client.user) voted \(decision) on \(options.requestID); request is now \(status)")
    } catch let error as ExitCode {
        throw error
    } catch {
        print("error: \(error)")
        throw ExitCode(2)
    }
}

struct ApproveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve",
        abstract: "Vote to allow an escalated tool call, as the RabbitMQ user of --amqp-url.",
        discussion: """
            The vote goes to the worker that holds the request (the id names it) with user_id set to \
            the login user, which RabbitMQ checks. The worker answers whether it counted.

            Exit status: 0 accepted, 1 rejected, 2 not delivered or no answer.

            Example:
              tollgate approve w1-5b0c9c6e-0d1e-4f5a-9b8c-7d6e5f4a3b2c --comment "vendor verified" \\
                  --amqp-url amqp://manager%40corp.com:secret@127.0.0.1:5672/
            """
    )

    @OptionGroup var options: VoteOptions

    func run() throws { try castVote("approve", options) }
}

struct DenyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deny",
        abstract: "Vote to deny an escalated tool call, as the RabbitMQ user of --amqp-url.",
        discussion: """
            Exit status: 0 accepted, 1 rejected, 2 not delivered or no answer.

            Example:
              tollgate deny w1-5b0c9c6e-0d1e-4f5a-9b8c-7d6e5f4a3b2c --comment "not this quarter" \\
                  --amqp-url amqp://compliance%40corp.com:secret@127.0.0.1:5672/
            """
    )

    @OptionGroup var options: VoteOptions

    func run() throws { try castVote("deny", options) }
}

struct PendingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pending",
        abstract: "List the escalated tool calls waiting for people, from a worker's database.",
        discussion: """
            Reads the database read-only; works while the worker runs.

            Example:
              tollgate pending --db var/tollgate.db
            """
    )

    @Option(help: "The worker's SQLite file (env TOLLGATE_DB).")
    var db: String?

    @Flag(help: "One JSON object per line instead of a table.")
    var json = false

    func run() throws {
        guard let path = db ?? environment("DB") else {
            throw ValidationError("give --db FILE (the worker's database)")
        }
        let store: Store
        let pending: [EscalationRecord]
        do {
            store = try Store(readingExisting: path)
            pending = try store.pendingEscalations()
        } catch {
            print("error: \(error)")
            throw ExitCode(2)
        }
        let now = wallClockMillis()
        if json {
            for e in pending {
                var w = JSONWriter()
                w.beginObject()
                w.objectField("request_id", e.requestID)
                w.objectField("agent_id", e.agentID)
                w.objectField("tool_name", e.toolName)
                w.key("arguments")
                w.rawValue(e.argumentsJSON.utf8)
                w.objectField("reason", e.reason)
                w.objectField("message", e.message)
                w.objectField("rule", e.rule)
                w.objectField("required_approvals", e.requiredApprovals)
                w.objectField("required_denials", e.requiredDenials)
                w.key("approvers")
                w.beginArray()
                for a in e.approvers { w.string(a) }
                w.endArray()
                w.objectField("seconds_left", max(0, (e.deadline - now) / 1000))
                w.objectField("timeout_action", e.timeoutAction.rawValue)
                w.endObject()
                print(String(decoding: w.bytes, as: UTF8.self))
            }
            return
        }
        if pending.isEmpty {
            print("no pending requests")
            return
        }
        let rows = pending.map { e -> [String] in
            let left = max(0, (e.deadline - now) / 1000)
            return [
                e.requestID, e.agentID, e.toolName, clip(e.argumentsJSON, 40), clip(e.reason ?? e.message, 50),
                left >= 60 ? "\(left / 60)m\(left % 60)s" : "\(left)s",
            ]
        }
        printTable(header: ["REQUEST ID", "AGENT", "TOOL", "ARGUMENTS", "REASON", "TIME LEFT"], rows: rows)
        print("\(pending.count) pending")
    }
}

func clip(_ text: String, _ width: Int) -> String {
    let flat = text.replacingOccurrences(of: "\n", with: " ")
    return flat.count <= width ? flat : String(flat.prefix(width - 1)) + "…"
}

func printTable(header: [String], rows: [[String]]) {
    var widths = header.map(\.count)
    for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, cell in
            i == cells.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
        }.joined(separator: "  ")
    }
    print(line(header))
    for row in rows { print(line(row)) }
}
