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

/// What only `approve` has.
struct ApproveOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Approve with edits: the corrected arguments as a JSON object, e.g. '{\"amount\": 4500}'.",
            discussion:
                "They replace the pending ones when the policy lets the edited call stand; the tally starts again.",
            valueName: "json"
        )
    )
    var arguments: String?

    @Option(
        help: ArgumentHelp(
            "A standing grant with the approval, as scope:seconds (session:3600 or agent:600).",
            discussion:
                "Until it expires the agent's calls of this tool under this rule are allowed without asking (in this session, or anywhere); the rule's escalation.max_grant_seconds bounds it.",
            valueName: "scope:seconds"
        )
    )
    var grant: String?

    /// The grant asked for, as the vote's `grant` object; nil without `--grant`.
    func parsedGrant() throws -> JSONObject? {
        guard let grant else { return nil }
        let parts = grant.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, parts[0] == "session" || parts[0] == "agent", let ttl = Int(parts[1]), ttl > 0 else {
            print("error: --grant must be session:SECONDS or agent:SECONDS, e.g. session:3600 (got '\(grant)')")
            throw ExitCode(2)
        }
        var object = JSONObject()
        object["scope"] = .string(parts[0])
        object["ttl_seconds"] = .int(Int64(ttl))
        return object
    }

    /// The edited arguments, parsed; nil without `--arguments`.
    func parsedArguments() throws -> JSONObject? {
        guard let arguments else { return nil }
        guard case .object(let object)? = try? JSONValue.parse(Array(arguments.utf8)) else {
            print("error: --arguments must be a JSON object, e.g. '{\"amount\": 4500}'")
            throw ExitCode(2)
        }
        return object
    }
}

/// Publishes a vote as the user of `--amqp-url` and prints the worker's answer.
/// Exit status: 0 accepted, 1 rejected, 2 could not vote (no answer, no route, bad id).
func castVote(
    _ decision: String,
    _ options: VoteOptions,
    arguments: JSONObject? = nil,
    grant: JSONObject? = nil
)
    throws
{
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
        if let arguments { w.objectField("arguments", .object(arguments)) }
        if let grant { w.objectField("grant", .object(grant)) }
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
        if let grant = answer?["grant_id"]?.stringValue { print("standing grant made: \(grant)") }
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

            With --arguments the vote approves a corrected call: the worker evaluates it against \
            the policy as if the agent had sent it, refuses it when the policy denies it or would \
            escalate it under another rule, and otherwise replaces the pending arguments and starts \
            the tally again with this approval.

            Examples:
              tollgate approve w1-5b0c9c6e-0d1e-4f5a-9b8c-7d6e5f4a3b2c --comment "vendor verified" \\
                  --amqp-url amqp://manager%40corp.com:secret@127.0.0.1:5672/
              tollgate approve w1-5b0c9c6e-0d1e-4f5a-9b8c-7d6e5f4a3b2c --arguments '{"amount": 4500, "to": "ACME"}' \\
                  --comment "half now" --amqp-url amqp://manager%40corp.com:secret@127.0.0.1:5672/
              tollgate approve w1-5b0c9c6e-0d1e-4f5a-9b8c-7d6e5f4a3b2c --grant session:3600 \\
                  --amqp-url amqp://manager%40corp.com:secret@127.0.0.1:5672/
            """
    )

    @OptionGroup var options: VoteOptions
    @OptionGroup var approve: ApproveOptions

    func run() throws {
        try castVote("approve", options, arguments: try approve.parsedArguments(), grant: try approve.parsedGrant())
    }
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
        abstract: "List the escalated tool calls waiting for people: asks every running worker, or reads one database.",
        discussion: """
            Without --db it asks the fleet over the broker (a `pending` query on <prefix>.control, \
            which every running worker answers), collects the answers for --wait seconds and prints \
            one table for all workers, with who holds each request, the votes so far and the time \
            left, and says how many workers answered. With --db it reads one worker's database \
            read-only (works while the worker runs).

            Examples:
              tollgate pending
              tollgate pending --wait 2 --json
              tollgate pending --db var/tollgate.db
            """
    )

    @Option(help: "Read this worker's SQLite file instead of asking the fleet (env TOLLGATE_DB is not used here).")
    var db: String?

    @Option(help: "Seconds to collect the workers' answers (default 1).")
    var wait: Double = 1

    @Flag(help: "One JSON object per line instead of a table.")
    var json = false

    @OptionGroup var broker: BrokerOptions

    func run() throws {
        let now = wallClockMillis()
        let pending: [PendingRequest]
        var workers: [String] = []
        do {
            if let db {
                pending = try Store(readingExisting: db).pendingEscalations().map(PendingRequest.init)
            } else {
                (pending, workers) = try askFleet()
            }
        } catch {
            print("error: \(error)")
            throw ExitCode(2)
        }
        if json {
            for request in pending { print(String(decoding: request.json.serialized(), as: UTF8.self)) }
            return
        }
        if !pending.isEmpty {
            let rows = pending.sorted { $0.deadline < $1.deadline }.map { $0.row(now: now, withWorker: db == nil) }
            var header = ["REQUEST ID", "AGENT", "TOOL", "ARGUMENTS", "VOTES", "REASON", "TIME LEFT"]
            if db == nil { header.insert("WORKER", at: 1) }
            printTable(header: header, rows: rows)
        }
        let count = pending.isEmpty ? "no pending requests" : "\(pending.count) pending"
        if db == nil {
            let names = workers.isEmpty ? "" : " (\(workers.joined(separator: ", ")))"
            print("\(count); \(workers.count) worker\(workers.count == 1 ? "" : "s") answered within \(wait) s\(names)")
        } else {
            print(count)
        }
    }

    /// Publishes a `pending` query to the fleet and collects every page that arrives in time.
    private func askFleet() throws -> ([PendingRequest], [String]) {
        let answers = try askTheFleet("pending", broker: broker, wait: wait)
        var requests: [PendingRequest] = []
        for (worker, page) in answers.pages {
            for entry in page["pending"]?.arrayValue ?? [] {
                if let request = PendingRequest(entry, worker: worker) { requests.append(request) }
            }
        }
        return (requests, answers.workers)
    }
}

/// One pending request, from a fleet answer or from a database.
struct PendingRequest {
    var json: JSONValue
    var worker: String
    var deadline: Millis

    init?(_ entry: JSONValue, worker: String) {
        guard case .object(var object) = entry, let deadline = object["deadline"]?.stringValue.flatMap(parseISOTime)
        else { return nil }
        object["worker_id"] = .string(worker)
        json = .object(object)
        self.worker = worker
        self.deadline = deadline
    }

    init(_ e: EscalationRecord) {
        var w = JSONWriter()
        w.beginObject()
        w.objectField("request_id", e.requestID)
        w.objectField("worker_id", e.workerID)
        w.objectField("agent_id", e.agentID)
        w.objectField("tool_name", e.toolName)
        w.key("arguments")
        w.rawValue(e.argumentsJSON.utf8)
        w.objectField("reason", e.reason)
        w.objectField("message", e.message)
        w.objectField("rule", e.rule)
        w.objectField("deadline", isoTime(e.deadline))
        w.objectField("timeout_action", e.timeoutAction.rawValue)
        w.key("quorum")
        w.beginObject()
        w.objectField("required_approvals", e.requiredApprovals)
        w.objectField("required_denials", e.requiredDenials)
        w.key("approvers")
        w.beginArray()
        for a in e.approvers { w.string(a) }
        w.endArray()
        w.endObject()
        w.endObject()
        json = (try? JSONValue.parse(w.bytes)) ?? .null
        worker = e.workerID
        deadline = e.deadline
    }

    func row(now: Millis, withWorker: Bool) -> [String] {
        let left = max(0, (deadline - now) / 1000)
        let arguments = json["arguments"].map { String(decoding: $0.serialized(), as: UTF8.self) } ?? "{}"
        let required = json["quorum"]?["required_approvals"]?.intValue ?? 1
        let approvals = json["approvals"]?.arrayValue?.count ?? 0
        let denials = json["denials"]?.arrayValue?.count ?? 0
        var votes = "\(approvals)/\(required) approvals"
        if denials > 0 { votes += ", \(denials) denial\(denials == 1 ? "" : "s")" }
        var row = [
            json["request_id"]?.stringValue ?? "?", json["agent_id"]?.stringValue ?? "?",
            json["tool_name"]?.stringValue ?? "?", clip(arguments, 40), votes,
            clip(json["reason"]?.stringValue ?? json["message"]?.stringValue ?? "", 44),
            left >= 60 ? "\(left / 60)m\(left % 60)s" : "\(left)s",
        ]
        if withWorker { row.insert(worker, at: 1) }
        return row
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
