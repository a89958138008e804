import ArgumentParser
import Foundation
import Logging
import TollgateJSON

struct CallCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "call",
        abstract: "Publish one tool call as an agent would, and print the worker's decision.",
        discussion: """
            For trying a running worker by hand. The call goes to <prefix>.toolcalls with routing key \
            = the agent id, reply_to a private queue, and a fresh message_id. An escalated call is \
            answered `pending` first; --wait keeps listening for its final decision.

            Exit status: 0 allow, 1 deny, 3 still pending (after --wait, when it ran out), 2 no answer \
            or error.

            Examples:
              tollgate call --agent finance-agent --tool search_documents
              tollgate call --agent finance-agent --tool transfer_funds --arguments '{"amount": 5000}' --wait 300
            """
    )

    @Option(help: "The agent_id (also the routing key).")
    var agent: String

    @Option(help: "The tool_name.")
    var tool: String

    @Option(help: "The call's arguments, a JSON object.")
    var arguments: String?

    @Option(help: "The call's context, a JSON object (e.g. {\"environment\": \"production\"}).")
    var context: String?

    @Option(help: "Why the agent wants to call the tool.")
    var reason: String?

    @Option(help: "Seconds to wait for the final decision of an escalated call (default 0: print the first answer).")
    var wait: Int = 0

    @Option(help: "Seconds to wait for the first answer (default 10).")
    var timeout: Int = 10

    @Flag(help: "Print the decision bodies as JSON.")
    var json = false

    @OptionGroup var broker: BrokerOptions

    func object(_ text: String?, _ name: String) throws -> JSONValue? {
        guard let text else { return nil }
        guard let value = try? JSONValue.parse(text), case .object = value else {
            throw ValidationError("--\(name) must be a JSON object, e.g. '{\"amount\": 5000}'")
        }
        return value
    }

    private func printDecision(_ body: [UInt8], _ decision: JSONValue?) {
        // Each answer as it comes, even into a pipe or a file (a script waiting on --wait).
        defer { fflush(nil) }
        if json {
            print(String(decoding: body, as: UTF8.self))
            return
        }
        let d = decision?["decision"]?.stringValue ?? "?"
        let mark = d == "allow" ? "✅" : d == "deny" ? "🚫" : "⏳"
        var line = "\(mark) \(d)  \(decision?["reason"]?.stringValue ?? "")"
        line +=
            "  [\(decision?["resolution"]?.stringValue ?? "-"), rule \(decision?["rule"]?.stringValue ?? "none"), \(decision?["request_id"]?.stringValue ?? "")]"
        if d == "pending", let deadline = decision?["deadline"]?.stringValue { line += " deadline \(deadline)" }
        print(line)
    }

    func run() throws {
        var w = JSONWriter()
        w.beginObject()
        w.objectField("agent_id", agent)
        w.objectField("tool_name", tool)
        if let value = try object(arguments, "arguments") { w.objectField("arguments", value) }
        if let reason { w.objectField("reason", reason) }
        if let value = try object(context, "context") { w.objectField("context", value) }
        w.endObject()

        var logger = Logger(label: "tollgate.cli") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        do {
            let client = try BrokerClient(broker, logger: logger)
            let id = UUID().uuidString.lowercased()
            try client.publish(
                exchange: broker.topology().toolCallsExchange,
                routingKey: agent,
                body: w.bytes,
                correlationID: id,
                messageID: id
            )
            var waitFor = Duration.seconds(timeout)
            var pendingDeadline: String?
            while true {
                guard let reply = try client.nextReply(timeout: waitFor) else {
                    if let pendingDeadline {
                        print(
                            "still pending after \(wait) s (deadline \(pendingDeadline)): people have not decided yet"
                        )
                        throw ExitCode(3)
                    }
                    print("no answer within \(waitFor): is a worker running? (tollgate worker --policy ...)")
                    throw ExitCode(2)
                }
                let decision = try? JSONValue.parse(reply.body)
                printDecision(reply.body, decision)
                switch decision?["decision"]?.stringValue {
                case "allow": return
                case "deny": throw ExitCode(1)
                default:
                    guard wait > 0 else { throw ExitCode(3) }
                    pendingDeadline = decision?["deadline"]?.stringValue ?? "unknown"
                    waitFor = .seconds(wait)
                }
            }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            print("error: \(error)")
            throw ExitCode(2)
        }
    }
}
