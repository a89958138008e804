import ArgumentParser
import Foundation
import Logging
import TollgateJSON
import TollgateStore
import TollgateWorker

struct GrantsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grants",
        abstract: "List the standing grants in force: asks every running worker, or reads one database.",
        discussion: """
            A standing grant is made when people approve a request with `tollgate approve --grant` \
            (or `grant` in the vote); until it expires, the agent's calls of that tool under that \
            rule are allowed without asking. Without --db it asks the fleet over the broker (a \
            `grants` query on <prefix>.control) and prints the grants made under each worker's \
            policy version in force. With --db it reads one worker's database read-only (all grants \
            not expired or revoked, whatever their policy version).

            Examples:
              tollgate grants
              tollgate grants --json
              tollgate grants --db var/tollgate.db
            """
    )

    @Option(help: "Read this worker's SQLite file instead of asking the fleet.")
    var db: String?

    @Option(help: "Seconds to collect the workers' answers (default 1).")
    var wait: Double = 1

    @Flag(help: "One JSON object per line instead of a table.")
    var json = false

    @OptionGroup var broker: BrokerOptions

    func run() throws {
        let now = wallClockMillis()
        var grants: [JSONValue] = []
        var workers: [String] = []
        do {
            if let db {
                for grant in try Store(readingExisting: db).grantsInForce(now: now) {
                    var w = JSONWriter()
                    writeGrant(grant, to: &w)
                    grants.append(try JSONValue.parse(w.bytes))
                }
            } else {
                (grants, workers) = try askFleet()
            }
        } catch {
            print("error: \(error)")
            throw ExitCode(2)
        }
        if json {
            for grant in grants { print(String(decoding: grant.serialized(), as: UTF8.self)) }
            return
        }
        if !grants.isEmpty {
            let rows = grants.map { g -> [String] in
                let expires = g["expires_at"]?.stringValue.flatMap(parseISOTime) ?? now
                let left = max(0, (expires - now) / 1000)
                let scope =
                    g["scope"]?.stringValue == "session" ? "session \(g["session_id"]?.stringValue ?? "?")" : "agent"
                return [
                    g["grant_id"]?.stringValue ?? "?", g["agent_id"]?.stringValue ?? "?",
                    g["tool_name"]?.stringValue ?? "?", g["rule"]?.stringValue ?? "default", clip(scope, 30),
                    (g["approvers"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ","),
                    left >= 60 ? "\(left / 60)m\(left % 60)s" : "\(left)s",
                ]
            }
            printTable(header: ["GRANT ID", "AGENT", "TOOL", "RULE", "SCOPE", "BY", "TIME LEFT"], rows: rows)
        }
        let count = grants.isEmpty ? "no grants in force" : "\(grants.count) in force"
        if db == nil {
            let names = workers.isEmpty ? "" : " (\(workers.joined(separator: ", ")))"
            print("\(count); \(workers.count) worker\(workers.count == 1 ? "" : "s") answered within \(wait) s\(names)")
        } else {
            print(count)
        }
    }

    private func askFleet() throws -> ([JSONValue], [String]) {
        let answers = try askTheFleet("grants", broker: broker, wait: wait)
        return (answers.pages.flatMap { $0.page["grants"]?.arrayValue ?? [] }, answers.workers)
    }
}

struct RevokeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "End a standing grant early, as the RabbitMQ user of --amqp-url.",
        discussion: """
            The revocation goes to the worker that holds the grant (the id names it) with user_id \
            set to the login user, which RabbitMQ checks; it is authorised like a vote on the \
            request that made the grant (an approver of its rule, never the agent).

            Exit status: 0 revoked, 1 refused, 2 not delivered or no answer.

            Example:
              tollgate revoke grant-w1-0190f3c2-5b0c-7e6e-9b8c-7d6e5f4a3b2c --comment "session over" \\
                  --amqp-url amqp://manager%40corp.com:secret@127.0.0.1:5672/
            """
    )

    @Argument(help: "The grant id from the final decision or `tollgate grants`, e.g. grant-w1-....")
    var grantID: String

    @Option(help: "A comment recorded with the revocation.")
    var comment: String?

    @Option(help: "For a trusted gateway (the worker's --trusted-gateway): the person who revokes.")
    var approver: String?

    @Option(help: "Seconds to wait for the worker's answer (default 10).")
    var timeout: Int = 10

    @OptionGroup var broker: BrokerOptions

    func run() throws {
        guard let worker = workerID(ofGrant: grantID) else {
            print("error: '\(grantID)' is not a Tollgate grant id (grant-<worker-id>-<uuid>)")
            throw ExitCode(2)
        }
        var logger = Logger(label: "tollgate.cli") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        do {
            let client = try BrokerClient(broker, logger: logger)
            var w = JSONWriter()
            w.beginObject()
            w.objectField("grant_id", grantID)
            if let comment { w.objectField("comment", comment) }
            if let approver { w.objectField("approver", approver) }
            w.endObject()
            let correlation = UUID().uuidString.lowercased()
            try client.publish(
                exchange: broker.topology().approvalsExchange,
                routingKey: worker,
                body: w.bytes,
                correlationID: correlation,
                messageID: correlation,
                userID: client.user
            )
            guard let reply = try client.nextReply(timeout: .seconds(timeout)) else {
                print("no answer from worker \(worker) within \(timeout) s: the revocation is queued")
                throw ExitCode(2)
            }
            let answer = try? JSONValue.parse(reply.body)
            guard answer?["revoked"]?.boolValue == true else {
                print("refused: \(answer?["error"]?.stringValue ?? String(decoding: reply.body, as: UTF8.self))")
                throw ExitCode(1)
            }
            print("revoked: \(grantID) by \(client.user)")
        } catch let error as ExitCode {
            throw error
        } catch {
            print("error: \(error)")
            throw ExitCode(2)
        }
    }
}
