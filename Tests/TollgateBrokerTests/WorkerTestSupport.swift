// Helpers for the tests of `tollgate worker` against a live RabbitMQ: a worker process that can
// be started, stopped, killed and restarted on the same database, and clients that play the
// agent, the approval bots and the observers.
import Foundation
import Testing
import TollgateAMQP
import TollgateJSON

#if canImport(Glibc)
import Glibc
#endif

/// The package root, from this file's path.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// The `tollgate` binary the tests run: `TOLLGATE_BINARY`, else the debug build.
let tollgateBinary: String = {
    if let path = ProcessInfo.processInfo.environment["TOLLGATE_BINARY"] { return path }
    return packageRoot.appendingPathComponent(".build/debug/tollgate").path
}()

/// A temporary folder removed when the value goes away.
final class Scratch {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "tollgate-worker-test-\(UUID().uuidString.prefix(8))"
        )
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// Writes `text` to `name` and returns its path.
    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let p = path(name)
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }
}

/// The seed policy (chapter 5 of the agent-os tutorial), as shipped in policies/.
let seedPolicy = packageRoot.appendingPathComponent("policies/approval-workflow.yaml").path

/// A `tollgate worker` process with its own topology prefix (so tests do not see each other's
/// messages) and database.
final class WorkerProcess {
    let prefix: String
    let workerID: String
    let databasePath: String
    let logPath: String
    var arguments: [String]
    var environment: [String: String]
    /// Another broker URL than the tests' (e.g. amqps://).
    var amqpURL: String?
    private(set) var process: Process?
    private var logHandle: FileHandle?

    init(
        scratch: Scratch,
        policies: [String],
        workerID: String = "w1",
        prefix: String? = nil,
        arguments: [String] = [],
        environment: [String: String] = [:],
        logName: String? = nil
    ) {
        self.prefix = prefix ?? "tgt\(UInt32.random(in: 0...UInt32.max))"
        self.workerID = workerID
        self.databasePath = scratch.path("\(workerID).db")
        self.logPath = scratch.path("\(logName ?? workerID).log")
        self.arguments = policies.flatMap { ["--policy", $0] } + arguments
        self.environment = environment
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
    }

    var topology: (toolcalls: String, approvals: String, escalations: String, decisions: String, dead: String) {
        ("\(prefix).toolcalls", "\(prefix).approvals", "\(prefix).escalations", "\(prefix).decisions", "\(prefix).dead")
    }

    /// Starts the worker and waits until it consumes (or fails the test with its log).
    func start(waitUntilConsuming: Bool = true, extraEnvironment: [String: String] = [:]) throws {
        precondition(process == nil, "worker already running")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tollgateBinary)
        p.arguments =
            [
                "worker", "--prefix", prefix, "--worker-id", workerID, "--db", databasePath,
                "--amqp-url", amqpURL ?? Broker.url.description(withPassword: true), "--log-level", "debug",
                "--stats-interval", "1",
            ] + arguments
        var env = ProcessInfo.processInfo.environment
        // A test's worker is alone in its ring: no hold at its first start, unless asked for.
        env["TOLLGATE_JOIN_SETTLE_MS"] = env["TOLLGATE_JOIN_SETTLE_MS"] ?? "0"
        for (k, v) in environment { env[k] = v }
        for (k, v) in extraEnvironment { env[k] = v }
        p.environment = env
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        handle.seekToEndOfFile()
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        process = p
        logHandle = handle
        if waitUntilConsuming {
            let started = ContinuousClock.now
            let before = consumingCount
            while consumingCount <= before {
                if !p.isRunning {
                    process = nil
                    throw BrokerTestError("worker exited with \(p.terminationStatus) before consuming:\n\(log)")
                }
                if ContinuousClock.now - started > .seconds(30) {
                    throw BrokerTestError("worker did not start consuming within 30 s:\n\(log)")
                }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
    }

    private var consumingCount: Int { log.components(separatedBy: "] consuming").count - 1 }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    var isRunning: Bool { process?.isRunning ?? false }

    /// SIGKILL: no cleanup, nothing acked that was not acked already.
    func kill() {
        guard let p = process else { return }
        Glibc.kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        process = nil
    }

    /// SIGTERM and wait for the exit status.
    @discardableResult
    func terminate(timeout: Duration = .seconds(20)) -> Int32? {
        guard let p = process else { return nil }
        Glibc.kill(p.processIdentifier, SIGTERM)
        return waitForExit(timeout: timeout)
    }

    /// Waits for the process to exit on its own (a fault point, a fatal error).
    func waitForExit(timeout: Duration = .seconds(20)) -> Int32? {
        guard let p = process else { return nil }
        let deadline = ContinuousClock.now + timeout
        while p.isRunning, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if p.isRunning {
            Glibc.kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            process = nil
            return nil
        }
        process = nil
        return p.terminationStatus
    }

    func signal(_ number: Int32) {
        if let p = process { Glibc.kill(p.processIdentifier, number) }
    }

    /// Waits until the log contains `text` (true) or the timeout passes (false).
    func waitForLog(_ text: String, count: Int = 1, timeout: Duration = .seconds(10)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if log.components(separatedBy: text).count - 1 >= count { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return false
    }

    deinit {
        if let p = process, p.isRunning {
            Glibc.kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        removeTopology()
    }

    /// Deletes this worker's queues and its prefix's exchanges, so test runs do not pile up
    /// quorum queues on the broker (each holds files and memory).
    func removeTopology() {
        guard
            let c = try? AMQPConnection(
                configuration: AMQPConfiguration(url: Broker.url, connectionName: "test cleanup"),
                logger: Broker.logger
            )
        else { return }
        defer { c.close() }
        let t = topology
        for queue in [
            "\(prefix).toolcalls.\(workerID)", "\(prefix).approvals.\(workerID)", "\(prefix).owner.\(workerID)", t.dead,
        ] {
            guard (try? c.queueDelete(queue)) != nil else { return }
        }
        for exchange in [t.toolcalls, t.approvals, t.escalations, t.decisions, t.dead] {
            guard (try? c.exchangeDelete(exchange)) != nil else { return }
        }
    }

    /// Runs a `tollgate` subcommand against this worker's database; returns status and output.
    func command(_ args: [String]) throws -> (status: Int32, output: String) {
        try runTollgate(args)
    }
}

/// Runs the `tollgate` binary with `args`; returns its exit status and combined output.
func runTollgate(_ args: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: tollgateBinary)
    p.arguments = args
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    p.environment = env
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// A message received by a test client, with its body parsed.
struct Received {
    var delivery: AMQPDelivery
    var json: JSONValue

    var correlationID: String? { delivery.properties.correlationId }
    subscript(key: String) -> JSONValue? { json[key] }
    func string(_ key: String) -> String? { json[key]?.stringValue }
    var header: AMQPTable? { delivery.properties.headers }
}

/// A client connection as one RabbitMQ user, with a durable reply queue of its own and queues
/// bound to observe exchanges.
final class TestClient {
    let connection: AMQPConnection
    let user: String
    let replyQueue: String
    private var observed: [String: String] = [:]  // consumer tag -> label
    private var inbox: [String: [Received]] = [:]  // label -> messages
    /// JSON Lines messages (the batched decision feed) received, by label.
    private(set) var feedMessages: [String: Int] = [:]
    private var confirmed: UInt64 = 0
    private var lastSeq: UInt64 = 0
    private(set) var returned: [AMQPReturn] = []

    /// `user` nil: guest. The reply queue is durable (it survives broker restarts) and deleted
    /// by `close()`.
    init(user: String? = nil, name: String = "test client", replyQueue existing: String? = nil) throws {
        connection = try Broker.connect(user: user, name: name)
        self.user = user ?? Broker.url.user
        try connection.confirmSelect()
        replyQueue = existing ?? Broker.uniqueName("replies")
        try connection.queueDeclare(replyQueue, durable: true)
        let tag = try connection.basicConsume(queue: replyQueue, noAck: false)
        observed[tag] = "replies"
    }

    func close() {
        _ = try? connection.queueDelete(replyQueue)
        for (_, label) in observed where label != "replies" {
            _ = try? connection.queueDelete(label)
        }
        connection.close()
    }

    deinit { connection.close() }

    /// Binds a fresh queue to `exchange` with `key` and collects what arrives under the label
    /// `label` (the queue's name is returned too).
    @discardableResult
    func observe(_ exchange: String, key: String = "#", label: String) throws -> String {
        let queue = Broker.uniqueName(label)
        try connection.queueDeclare(queue, durable: false, exclusive: true, autoDelete: true)
        try connection.queueBind(queue: queue, exchange: exchange, routingKey: key)
        let tag = try connection.basicConsume(queue: queue, noAck: false)
        observed[tag] = label
        return queue
    }

    /// Publishes a tool call (confirmed) and returns its correlation id.
    @discardableResult
    func call(
        prefix: String,
        agent: String = "finance-agent",
        tool: String,
        arguments: String? = nil,
        context: String? = nil,
        reason: String? = nil,
        messageID: String? = UUID().uuidString,
        correlationID: String = UUID().uuidString,
        replyTo: String? = nil,
        routingKey: String? = nil,
        userID: String? = nil
    ) throws -> String {
        var body = #"{"agent_id":\#(jsonString(agent)),"tool_name":\#(jsonString(tool))"#
        if let arguments { body += #","arguments":\#(arguments)"# }
        if let context { body += #","context":\#(context)"# }
        if let reason { body += #","reason":\#(jsonString(reason))"# }
        body += "}"
        try publish(
            exchange: "\(prefix).toolcalls",
            routingKey: routingKey ?? agent,
            body: Array(body.utf8),
            messageID: messageID,
            correlationID: correlationID,
            replyTo: replyTo ?? replyQueue,
            userID: userID
        )
        return correlationID
    }

    /// Publishes raw bytes with the given properties and waits for the broker's confirm.
    func publish(
        exchange: String,
        routingKey: String,
        body: [UInt8],
        messageID: String? = nil,
        correlationID: String? = nil,
        replyTo: String? = nil,
        userID: String? = nil,
        waitForConfirm: Bool = true
    ) throws {
        var p = AMQPProperties()
        p.contentType = "application/json"
        p.deliveryMode = AMQPProperties.persistent
        p.messageId = messageID
        p.correlationId = correlationID
        p.replyTo = replyTo
        p.userId = userID
        lastSeq = try connection.publish(
            exchange: exchange,
            routingKey: routingKey,
            body: body,
            properties: p,
            mandatory: true
        )
        if waitForConfirm { try waitForConfirms() }
    }

    func waitForConfirms(timeout: Duration = .seconds(10)) throws {
        let deadline = ContinuousClock.now + timeout
        while confirmed < lastSeq {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { throw BrokerTestError("publish \(lastSeq) not confirmed within \(timeout)") }
            guard let event = try connection.nextEvent(timeout: left) else { continue }
            take(event)
        }
    }

    /// Publishes a vote as this client's user (user_id set unless `userID` says otherwise).
    @discardableResult
    func vote(
        prefix: String,
        worker: String = "w1",
        requestID: String,
        decision: String,
        comment: String? = nil,
        approver: String? = nil,
        arguments: String? = nil,
        grant: String? = nil,
        userID: String?? = .none,
        messageID: String? = UUID().uuidString,
        replyTo: Bool = true
    ) throws -> String {
        var body = #"{"request_id":\#(jsonString(requestID)),"decision":\#(jsonString(decision))"#
        if let comment { body += #","comment":\#(jsonString(comment))"# }
        if let approver { body += #","approver":\#(jsonString(approver))"# }
        if let arguments { body += #","arguments":\#(arguments)"# }
        if let grant { body += #","grant":\#(grant)"# }
        body += "}"
        let correlation = UUID().uuidString
        let uid: String? =
            switch userID {
            case .none: user
            case .some(let value): value
            }
        try publish(
            exchange: "\(prefix).approvals",
            routingKey: worker,
            body: Array(body.utf8),
            messageID: messageID,
            correlationID: correlation,
            replyTo: replyTo ? replyQueue : nil,
            userID: uid
        )
        return correlation
    }

    private func take(_ event: AMQPEvent) {
        switch event {
        case .delivery(let d):
            let label = observed[d.consumerTag] ?? "?"
            if d.properties.contentType == "application/x-ndjson" {
                // The batched decision feed: one Received per line, as if each had its own message.
                feedMessages[label, default: 0] += 1
                for line in d.body.split(separator: 0x0A) {
                    let json = (try? JSONValue.parse(Array(line))) ?? .null
                    var one = d
                    one.body = Array(line)
                    one.properties.correlationId = json["correlation_id"]?.stringValue
                    inbox[label, default: []].append(Received(delivery: one, json: json))
                }
            } else {
                let json = (try? JSONValue.parse(d.body)) ?? .null
                inbox[label, default: []].append(Received(delivery: d, json: json))
            }
            try? connection.ack(deliveryTag: d.deliveryTag)
        case .publishAck(let n, let multiple), .publishNack(let n, let multiple):
            if case .publishNack = event { Issue.record("broker nacked test publish \(n)") }
            confirmed = multiple ? max(confirmed, n) : max(confirmed, n)
        case .returned(let r):
            returned.append(r)
        default:
            break
        }
    }

    /// Reads until `label` holds at least `count` messages or the timeout passes; returns them
    /// all (and keeps them).
    @discardableResult
    func await(_ label: String = "replies", count: Int, timeout: Duration = .seconds(15)) throws -> [Received] {
        let deadline = ContinuousClock.now + timeout
        while (inbox[label]?.count ?? 0) < count {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { break }
            guard let event = try connection.nextEvent(timeout: min(left, .milliseconds(200))) else { continue }
            take(event)
        }
        return inbox[label] ?? []
    }

    /// Reads until every correlation id in `ids` has at least one message under `label`, or the
    /// timeout passes; returns all messages under `label`.
    @discardableResult
    func awaitAll(_ ids: Set<String>, label: String = "replies", timeout: Duration = .seconds(30)) throws -> [Received]
    {
        let deadline = ContinuousClock.now + timeout
        var seen = Set(messages(label).compactMap(\.correlationID)).intersection(ids)
        while seen.count < ids.count {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { break }
            guard let event = try connection.nextEvent(timeout: min(left, .milliseconds(200))) else { continue }
            take(event)
            // Only what arrived under `label` counts (a feed observer gets the same correlation ids).
            seen = Set(messages(label).compactMap(\.correlationID)).intersection(ids)
        }
        return messages(label)
    }

    /// Reads whatever arrives within `duration`.
    func drain(for duration: Duration) throws {
        let deadline = ContinuousClock.now + duration
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return }
            if let event = try connection.nextEvent(timeout: left) { take(event) }
        }
    }

    func messages(_ label: String = "replies") -> [Received] { inbox[label] ?? [] }

    /// The messages under `label` whose correlation id is `id`.
    func messages(_ label: String = "replies", correlation id: String) -> [Received] {
        messages(label).filter { $0.correlationID == id }
    }

    /// Waits for the first reply with correlation id `id` whose decision satisfies `match`.
    func reply(
        to id: String,
        label: String = "replies",
        timeout: Duration = .seconds(15),
        where match: (Received) -> Bool = { _ in true }
    ) throws -> Received {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let found = messages(label, correlation: id).first(where: match) { return found }
            let left = deadline - ContinuousClock.now
            guard left > .zero else {
                throw BrokerTestError("no matching message for \(id) on \(label) within \(timeout)")
            }
            if let event = try connection.nextEvent(timeout: min(left, .milliseconds(200))) { take(event) }
        }
    }

    /// The final decision for call `id`.
    func finalDecision(to id: String, timeout: Duration = .seconds(15)) throws -> Received {
        try reply(to: id, timeout: timeout) { $0["final"]?.boolValue == true }
    }
}

func jsonString(_ text: String) -> String {
    var w = JSONWriter()
    w.string(text)
    return String(decoding: w.bytes, as: UTF8.self)
}

extension AMQPURL {
    /// The URL with its password, for handing to a worker process.
    func description(withPassword: Bool) -> String {
        let enc: (String) -> String = { $0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0 }
        let vhostPart = vhost == "/" ? "/" : "/" + enc(vhost)
        return "\(tls ? "amqps" : "amqp")://\(enc(user)):\(enc(password))@\(host):\(port)\(vhostPart)"
    }
}

/// Runs SQL against a worker's database with python3's sqlite3 (for tampering tests).
func sqlite(_ path: String, _ sql: String) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = [
        "python3", "-c",
        "import sqlite3,sys\nc=sqlite3.connect(sys.argv[1])\nrows=c.executescript(sys.argv[2]) if ';' in sys.argv[2].strip().rstrip(';') else c.execute(sys.argv[2])\nfor r in (rows.fetchall() if hasattr(rows,'fetchall') else []): print('|'.join(str(x) for x in r))\nc.commit()",
        path, sql,
    ]
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    guard p.terminationStatus == 0 else { throw BrokerTestError("sqlite failed: \(text)") }
    return text
}

/// The lines of `tollgate audit export` about calls and votes (without the budget hand-offs a
/// worker makes to itself at start, when it re-homes its counts).
func auditEntries(_ export: String) -> [Substring] {
    export.split(separator: "\n").filter { !$0.contains(#""kind":"handoff""#) }
}
