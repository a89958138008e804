// Helpers for tests that need a live RabbitMQ (deploy/broker.sh start; deploy/broker-users.sh).
// Reusable by every test in this target: connect as a user, make unique names, declare a reply
// queue, publish JSON with confirms, wait for N messages with a timeout, run rabbitmqctl.
import Foundation
import Logging
import Synchronization
import Testing
import TollgateAMQP

#if canImport(Glibc)
import Glibc
#endif

enum Broker {
    /// `TOLLGATE_TEST_AMQP_URL`, else amqp://guest:guest@127.0.0.1:5672/.
    static let url: AMQPURL = {
        let text = ProcessInfo.processInfo.environment["TOLLGATE_TEST_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5672/"
        do { return try AMQPURL(parsing: text) } catch { fatalError("TOLLGATE_TEST_AMQP_URL: \(error)") }
    }()

    /// The password deploy/broker-users.sh gives its users.
    static let testPassword = ProcessInfo.processInfo.environment["TOLLGATE_TEST_PASSWORD"] ?? "secret"

    static let hint = "is RabbitMQ running? run `deploy/broker.sh start && deploy/broker-users.sh`"

    static let logger = Logger(label: "tollgate.tests.amqp")

    /// The test broker's URL as another user (test users have password `testPassword`).
    static func url(user: String? = nil, password: String? = nil, vhost: String? = nil, port: Int? = nil) -> AMQPURL {
        var u = url
        if let user {
            u.user = user
            u.password = password ?? testPassword
        } else if let password {
            u.password = password
        }
        if let vhost { u.vhost = vhost }
        if let port { u.port = port }
        return u
    }

    /// Connects, or fails the test with a message that says how to start the broker.
    static func connect(
        user: String? = nil,
        password: String? = nil,
        heartbeatSeconds: Int = 30,
        name: String? = nil,
        port: Int? = nil,
        coalescePublishFrames: Bool = true
    ) throws -> AMQPConnection {
        var config = AMQPConfiguration(
            url: url(user: user, password: password, port: port),
            heartbeatSeconds: heartbeatSeconds,
            connectionName: name,
            connectTimeout: .seconds(5)
        )
        config.coalescePublishFrames = coalescePublishFrames
        do {
            return try AMQPConnection(configuration: config, logger: logger)
        } catch {
            if error.kind == .connectionRefused || error.kind == .timeout || error.kind == .socketError {
                Issue.record("no RabbitMQ at \(config.url.endpoint): \(hint) (\(error))")
            } else if error.kind == .authenticationFailed {
                Issue.record("cannot log in as \(config.url.user): run `deploy/broker-users.sh` (\(error))")
            }
            throw error
        }
    }

    private static let counter = Atomic<Int>(0)

    /// A name no other test (or earlier run) uses: `tollgate-test.<what>.<pid>.<n>.<random>`.
    static func uniqueName(_ what: String) -> String {
        let n = counter.add(1, ordering: .relaxed).newValue
        return "tollgate-test.\(what).\(getpid()).\(n).\(UInt32.random(in: 0...UInt32.max))"
    }

    /// An exclusive, auto-deleted, server-named queue consumed with auto-ack; returns its name.
    @discardableResult
    static func declareReplyQueue(on c: AMQPConnection) throws -> String {
        let q = try c.queueDeclare("", durable: false, exclusive: true, autoDelete: true)
        try c.basicConsume(queue: q.name, noAck: true)
        return q.name
    }

    /// Declares a durable quorum queue with a unique name.
    static func declareQuorumQueue(on c: AMQPConnection, _ what: String, arguments: AMQPTable = [:]) throws -> String {
        let name = uniqueName(what)
        var args = arguments
        args["x-queue-type"] = "quorum"
        try c.queueDeclare(name, durable: true, arguments: args)
        return name
    }

    /// Publishes a JSON body (persistent, content type application/json). Returns the publish
    /// sequence number (the connection must be in confirm mode to get one).
    @discardableResult
    static func publishJSON(
        on c: AMQPConnection,
        exchange: String = "",
        routingKey: String,
        json: String,
        properties: AMQPProperties = AMQPProperties()
    ) throws -> UInt64 {
        var p = properties
        p.contentType = p.contentType ?? "application/json"
        p.deliveryMode = p.deliveryMode ?? AMQPProperties.persistent
        return try c.publish(exchange: exchange, routingKey: routingKey, body: Array(json.utf8), properties: p)
    }

    /// Reads events until every publish up to `sequence` is confirmed. Returns the other events
    /// seen meanwhile; nacked sequence numbers are recorded as issues.
    @discardableResult
    static func waitForConfirms(
        on c: AMQPConnection,
        through sequence: UInt64,
        timeout: Duration = .seconds(10)
    ) throws -> [AMQPEvent] {
        var confirmed: UInt64 = 0
        var pending = Set<UInt64>()  // acked out of order (not multiple) above `confirmed`
        var others: [AMQPEvent] = []
        let deadline = ContinuousClock.now + timeout
        while confirmed < sequence {
            let left = deadline - ContinuousClock.now
            guard left > .zero, let event = try c.nextEvent(timeout: left) else {
                Issue.record("only \(confirmed) of \(sequence) publishes confirmed within \(timeout)")
                return others
            }
            switch event {
            case .publishAck(let n, let multiple), .publishNack(let n, let multiple):
                if case .publishNack = event { Issue.record("broker nacked publish \(n)") }
                if multiple { confirmed = max(confirmed, n) } else { pending.insert(n) }
                while pending.remove(confirmed + 1) != nil { confirmed += 1 }
            default:
                others.append(event)
            }
        }
        return others
    }

    /// Waits for `count` deliveries (any consumer on `c`), acking them unless `ack` is false.
    /// Returns what arrived by the deadline (fewer than `count` when it passed).
    static func collect(
        on c: AMQPConnection,
        count: Int,
        timeout: Duration = .seconds(10),
        ack: Bool = true
    ) throws -> [AMQPDelivery] {
        var got: [AMQPDelivery] = []
        let deadline = ContinuousClock.now + timeout
        while got.count < count {
            let left = deadline - ContinuousClock.now
            guard left > .zero, let event = try c.nextEvent(timeout: left) else { break }
            if case .delivery(let d) = event {
                got.append(d)
                if ack, d.deliveryTag != 0 { try? c.ack(deliveryTag: d.deliveryTag) }
            }
        }
        return got
    }

    /// Waits until an event matching `match` arrives (or the timeout passes: nil).
    static func waitFor<T>(
        on c: AMQPConnection,
        timeout: Duration = .seconds(10),
        _ match: (AMQPEvent) -> T?
    ) throws -> T? {
        let deadline = ContinuousClock.now + timeout
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero, let event = try c.nextEvent(timeout: left) else { return nil }
            if let t = match(event) { return t }
        }
    }

    /// Runs `rabbitmqctl args...` (as root, or through sudo otherwise) and returns its output.
    @discardableResult
    static func rabbitmqctl(_ args: String...) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let ctl =
            FileManager.default.fileExists(atPath: "/usr/sbin/rabbitmqctl") ? "/usr/sbin/rabbitmqctl" : "rabbitmqctl"
        p.arguments = (getuid() == 0 ? [] : ["sudo", "-n"]) + [ctl, "-q"] + args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard p.terminationStatus == 0 else {
            throw BrokerTestError("rabbitmqctl \(args.joined(separator: " ")) failed (\(p.terminationStatus)): \(text)")
        }
        return text
    }

    /// Closes (broker side, 320 CONNECTION_FORCED) every connection whose client-provided
    /// `connection_name` is `name`. Returns how many it closed.
    @discardableResult
    static func closeConnections(named name: String, reason: String = "closed by test") throws -> Int {
        let listing = try rabbitmqctl("list_connections", "--no-table-headers", "pid", "client_properties")
        var closed = 0
        for line in listing.split(separator: "\n") where line.contains("\"\(name)\"") {
            guard let pid = line.split(separator: "\t").first else { continue }
            try rabbitmqctl("close_connection", String(pid), reason)
            closed += 1
        }
        return closed
    }

    /// Runs blocking work on a thread of its own (not Swift's cooperative pool, which has only
    /// as many threads as cores) and awaits its result.
    static func onThread<T: Sendable>(
        _ name: String = "broker-test",
        _ body: @escaping @Sendable () throws -> T
    ) async throws -> T {
        try await withCheckedThrowingContinuation { (k: CheckedContinuation<T, any Error>) in
            let t = Thread { k.resume(with: Result { try body() }) }
            t.name = name
            t.start()
        }
    }
}

struct BrokerTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A TCP relay between a client and the broker that can go silent (keep both sockets open but
/// stop forwarding), to imitate a broker or network that vanishes without a FIN or RST.
/// A TCP socket listening on 127.0.0.1 on a port the kernel chose: the socket and the port.
func listenOnLoopback(backlog: Int32) throws -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw BrokerTestError("socket() failed") }
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, len) == 0 && listen(fd, backlog) == 0 && getsockname(fd, $0, &len) == 0
        }
    }
    guard ok else {
        close(fd)
        throw BrokerTestError("bind/listen failed")
    }
    return (fd, Int(UInt16(bigEndian: addr.sin_port)))
}

final class SilenceableProxy: Sendable {
    let port: Int
    private let listener: Int32
    private let silent = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)

    init(targetPort: Int) throws {
        (listener, port) = try listenOnLoopback(backlog: 4)
        let t = Thread { [self] in self.serve(targetPort: targetPort) }
        t.name = "silenceable-proxy"
        t.start()
    }

    /// From now on nothing is forwarded in either direction; sockets stay open.
    func goSilent() { silent.store(true, ordering: .relaxed) }

    func stop() {
        stopped.store(true, ordering: .relaxed)
        shutdown(listener, Int32(SHUT_RDWR))
    }

    private func serve(targetPort: Int) {
        let client = accept(listener, nil, nil)
        guard client >= 0 else { return }
        let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(targetPort).bigEndian
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        defer {
            close(client)
            close(upstream)
            close(listener)
        }
        guard connected else { return }
        var fds = [
            pollfd(fd: client, events: Int16(POLLIN), revents: 0),
            pollfd(fd: upstream, events: Int16(POLLIN), revents: 0),
        ]
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !stopped.load(ordering: .relaxed) {
            if silent.load(ordering: .relaxed) {
                usleep(50_000)
                continue
            }
            guard poll(&fds, 2, 50) >= 0 else { return }
            for (i, pfd) in fds.enumerated() where pfd.revents != 0 {
                let n = read(pfd.fd, &buffer, buffer.count)
                if n <= 0 { return }
                if silent.load(ordering: .relaxed) { break }  // swallow what arrived after going silent
                let other = i == 0 ? upstream : client
                var sent = 0
                while sent < n {
                    let w = buffer.withUnsafeBytes { write(other, $0.baseAddress! + sent, n - sent) }
                    if w <= 0 { return }
                    sent += w
                }
            }
        }
    }
}
