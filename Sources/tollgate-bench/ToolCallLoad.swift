import Foundation
import Logging
import TollgateAMQP
import TollgateStore
import TollgateWorker

/// Tool calls as agents publish them, for the worker benchmarks: `agents` agents in turn (the
/// routing key of the consistent-hash exchange), a unique `message_id` each, bodies padded to
/// `bodyBytes`, tools cycled from `tools`.
struct ToolCallMix: Sendable {
    /// Under the seed policy `policies/approval-workflow.yaml`: `search_documents` allowed by a
    /// rule, `read_file` allowed by the default, `delete_database` denied by a rule.
    static let allowAndDeny = ["search_documents", "search_documents", "read_file", "delete_database"]
    /// Escalated by the seed policy (`escalate-transfer-funds`).
    static let escalating = ["transfer_funds"]

    var agents: Int
    var bodyBytes: Int
    /// Distinguishes this load's message ids and sessions from any other load's on the same worker.
    var tag: String
    var tools: [String]

    func agent(_ index: Int) -> String { "agent-\(index % agents)" }
    func messageID(_ index: Int) -> String { "\(tag)-\(index)" }

    func body(_ index: Int) -> [UInt8] {
        // At most 8 calls per (agent, session): under the seed policy's max_tool_calls of 10,
        // so no call is denied for its budget. Built as bytes: the load generator shares the
        // two cores with the broker and the worker, so it should cost little.
        var out: [UInt8] = []
        out.reserveCapacity(bodyBytes + 32)
        out += #"{"agent_id":"agent-"#.utf8
        out += String(index % agents).utf8
        out += #"","tool_name":""#.utf8
        out += tools[index % tools.count].utf8
        out += #"","arguments":{"query":"quarterly report "#.utf8
        out += String(index).utf8
        out += #"","padding":""#.utf8
        let tail =
            #""},"context":{"session_id":""#.utf8.count + tag.utf8.count + 12
            + #"","environment":"production"}}"#.utf8.count
        let padding = max(0, bodyBytes - out.count - tail)
        out += repeatElement(UInt8(ascii: "x"), count: padding)
        out += #""},"context":{"session_id":""#.utf8
        out += tag.utf8
        out += "-".utf8
        out += String(index / (agents * 8)).utf8
        out += #"","environment":"production"}}"#.utf8
        return out
    }

    /// A load generator that publishes `messages` of these calls to the worker's tool-call exchange.
    func load(
        topology: Topology,
        connection: AMQPConfiguration,
        messages: Int,
        confirmWindow: Int = 1000,
        rate: Double? = nil,
        inFlight: Int? = nil,
        replyQueue: String? = nil,
        onReply: (@Sendable (Int, AMQPDelivery) -> Void)? = nil,
        logger: Logger
    ) -> LoadGenerator {
        var configuration = LoadGenerator.Configuration(
            connection: connection,
            exchange: topology.toolCallsExchange,
            routingKey: "",
            replyQueue: replyQueue,
            messages: messages,
            confirmWindow: confirmWindow,
            maxInFlight: inFlight,
            ratePerSecond: rate,
            body: body
        )
        configuration.routingKeyFor = agent
        configuration.messageIdFor = messageID
        configuration.onReply = onReply
        return LoadGenerator(configuration: configuration, logger: logger)
    }
}

/// The median of `values` (the lower middle one for an even count, so it is a measured value).
func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    return values.sorted()[(values.count - 1) / 2]
}

/// Milliseconds with two decimals, from nanoseconds.
func millisText(_ nanos: UInt64) -> String { String(format: "%.2f", Double(nanos) / 1e6) }

/// A rate without decimals and with thousands separators: 21,532.
func rateText(_ value: Double) -> String {
    let digits = String(Int(value.rounded()))
    var out = ""
    for (i, ch) in digits.reversed().enumerated() {
        if i > 0, i % 3 == 0 { out.append(",") }
        out.append(ch)
    }
    return String(out.reversed())
}

extension LatencyHistogram {
    /// p50, p90, p99 and max in milliseconds, for JSON output.
    var jsonMillis: [String: Double] {
        [
            "p50": Double(percentile(50)) / 1e6, "p90": Double(percentile(90)) / 1e6,
            "p99": Double(percentile(99)) / 1e6, "p99.9": Double(percentile(99.9)) / 1e6,
            "max": Double(max) / 1e6,
        ]
    }

    /// p50, p99, p99.9 and max: the tail at a paced load.
    var tailSummary: String {
        "p50 \(millisText(percentile(50)))  p99 \(millisText(percentile(99)))  p99.9 \(millisText(percentile(99.9)))  max \(millisText(max)) ms"
    }

    var summary: String {
        "p50 \(millisText(percentile(50)))  p90 \(millisText(percentile(90)))  p99 \(millisText(percentile(99)))  max \(millisText(max)) ms"
    }
}

/// What a benchmark prints about the machine it ran on.
func machineSummary(brokerVersion: String) -> [String: String] {
    var cpu = "?"
    if let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
        let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
        let colon = line.firstIndex(of: ":")
    {
        cpu = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    var system = utsname()
    uname(&system)
    let kernel = withUnsafeBytes(of: &system.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    let gib = Double(ProcessInfo.processInfo.physicalMemory) / Double(1 << 30)
    return [
        "nproc": "\(ProcessInfo.processInfo.activeProcessorCount)", "cpu": cpu,
        "memory_gib": String(format: "%.1f", gib),
        "kernel": kernel, "rabbitmq": brokerVersion,
    ]
}
