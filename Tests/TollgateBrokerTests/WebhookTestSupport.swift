// A real HTTP receiver for the webhook bridge's tests (sockets on 127.0.0.1), scripted to
// fail, rate-limit or recover, and a `tollgate webhook` process.
import Foundation
import Synchronization
import TollgateAMQP
import TollgateJSON

#if canImport(Glibc)
import Glibc
#endif

/// Records every POST and answers as `script` says (given the request's number, from 1).
///
/// A plain HTTP/1.1 server on 127.0.0.1 with a thread per connection (keep-alive, bodies by
/// Content-Length, as the bridge sends them), so that it answers whatever the tests' async
/// tasks are doing: a server on the cooperative pool could be starved by tests that block it.
final class WebhookReceiver: Sendable {
    struct Request: Sendable {
        var number: Int
        var at: ContinuousClock.Instant
        var headers: [String: String]
        var body: [UInt8]
        var status: Int
        var json: JSONValue { (try? JSONValue.parse(body)) ?? .null }
        var event: String { headers["tollgate-event"] ?? "" }
    }
    struct Answer: Sendable {
        var status: Int
        var headers: [String: String] = [:]
        var body = ""
        static let ok = Answer(status: 200, body: "ok")
    }

    private let requests = Mutex<[Request]>([])
    private let script: Mutex<@Sendable (Int, [UInt8]) -> Answer>
    private let stopped = Atomic<Bool>(false)
    private let listener: Int32
    let port: Int

    init(script: @escaping @Sendable (Int, [UInt8]) -> Answer = { _, _ in .ok }) throws {
        self.script = Mutex(script)
        (listener, port) = try listenOnLoopback(backlog: 64)
        let t = Thread { [self] in acceptLoop() }
        t.name = "webhook-receiver"
        t.start()
    }

    var url: String { "http://127.0.0.1:\(port)/hook" }

    func setScript(_ script: @escaping @Sendable (Int, [UInt8]) -> Answer) { self.script.withLock { $0 = script } }

    func stop() {
        stopped.store(true, ordering: .relaxed)
        shutdown(listener, Int32(SHUT_RDWR))
    }

    deinit { stop() }

    private var isStopped: Bool { stopped.load(ordering: .relaxed) }

    private func acceptLoop() {
        defer { close(listener) }
        var pfd = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        while !isStopped {
            guard poll(&pfd, 1, 100) > 0 else { continue }
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            let t = Thread { [self] in serve(client) }
            t.name = "webhook-receiver-connection"
            t.start()
        }
    }

    /// Requests on one connection until the peer closes it or the receiver stops.
    private func serve(_ fd: Int32) {
        defer { close(fd) }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        func fill() -> Bool {
            while !isStopped {
                let ready = poll(&pfd, 1, 100)
                if ready == 0 { continue }
                let n = read(fd, &chunk, chunk.count)
                if n <= 0 { return false }
                buffer += chunk[0..<n]
                return true
            }
            return false
        }
        while !isStopped {
            // The head, up to the blank line.
            var end: Int?
            while end == nil {
                end = Self.headEnd(buffer)
                if end == nil, !fill() { return }
            }
            let head = String(decoding: buffer[0..<end!], as: UTF8.self)
            var headers: [String: String] = [:]
            for line in head.split(separator: "\r\n").dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                    in: .whitespaces
                )
            }
            let length = Int(headers["content-length"] ?? "0") ?? 0
            let bodyStart = end! + 4
            while buffer.count < bodyStart + length { if !fill() { return } }
            let body = Array(buffer[bodyStart..<(bodyStart + length)])
            buffer.removeFirst(bodyStart + length)
            let answer = respond(headers: headers, body: body)
            var response = "HTTP/1.1 \(answer.status) Status\r\nContent-Length: \(answer.body.utf8.count)\r\n"
            for (name, value) in answer.headers { response += "\(name): \(value)\r\n" }
            response += "\r\n" + answer.body
            let bytes = Array(response.utf8)
            var sent = 0
            while sent < bytes.count {
                let w = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + sent, bytes.count - sent) }
                if w <= 0 { return }
                sent += w
            }
            if headers["connection"]?.lowercased() == "close" { return }
        }
    }

    static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4)
        where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
            return i
        }
        return nil
    }

    private func respond(headers: [String: String], body: [UInt8]) -> Answer {
        requests.withLock { list in
            let number = list.count + 1
            let answer = script.withLock { $0 }(number, body)
            list.append(Request(number: number, at: .now, headers: headers, body: body, status: answer.status))
            return answer
        }
    }

    var received: [Request] { requests.withLock { $0 } }
    /// The requests answered 2xx.
    var delivered: [Request] { received.filter { (200..<300).contains($0.status) } }

    /// The requests answered 2xx, each notice once (the bridge delivers at least once: a POST
    /// that timed out on the bridge's side may have arrived here too), in the order they came.
    var distinct: [Request] {
        var seen: Set<String> = []
        return delivered.filter { seen.insert($0.headers["tollgate-delivery"] ?? "\($0.number)").inserted }
    }

    /// Waits until `count` distinct notices were delivered; returns them.
    func waitForDeliveries(_ count: Int, timeout: Duration = .seconds(60)) -> [Request] {
        let deadline = ContinuousClock.now + timeout
        while distinct.count < count, ContinuousClock.now < deadline { usleep(20_000) }
        return distinct
    }

    /// Waits until a notice with this `Tollgate-Event` was delivered; returns the distinct ones.
    func waitForEvent(_ event: String, timeout: Duration = .seconds(60)) -> [Request] {
        let deadline = ContinuousClock.now + timeout
        while !distinct.contains(where: { $0.event == event }), ContinuousClock.now < deadline { usleep(20_000) }
        return distinct
    }
}

/// A `tollgate webhook` process on its own log file.
final class BridgeProcess {
    let arguments: [String]
    let logPath: String
    private(set) var process: Process?

    init(scratch: Scratch, prefix: String, arguments: [String], logName: String = "webhook", amqpURL: String? = nil) {
        self.arguments =
            [
                "webhook", "--prefix", prefix, "--amqp-url", amqpURL ?? Broker.url.description(withPassword: true),
                "--log-level", "debug",
            ] + arguments
        logPath = scratch.path("\(logName).log")
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Starts it and waits until it consumes.
    func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tollgateBinary)
        p.arguments = arguments
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        handle.seekToEndOfFile()
        p.standardOutput = handle
        p.standardError = handle
        let before = log.components(separatedBy: "webhook: consuming").count
        try p.run()
        process = p
        let deadline = ContinuousClock.now + .seconds(20)
        while log.components(separatedBy: "webhook: consuming").count <= before {
            if !p.isRunning { throw BrokerTestError("tollgate webhook exited with \(p.terminationStatus):\n\(log)") }
            if ContinuousClock.now > deadline { throw BrokerTestError("tollgate webhook did not consume:\n\(log)") }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    func kill() {
        guard let p = process else { return }
        Glibc.kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        process = nil
    }

    /// SIGTERM; the exit status (nil if it had to be killed after 20 s).
    @discardableResult
    func terminate() -> Int32? {
        guard let p = process else { return nil }
        Glibc.kill(p.processIdentifier, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(20)
        while p.isRunning, ContinuousClock.now < deadline { usleep(20_000) }
        process = nil
        if p.isRunning {
            Glibc.kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            return nil
        }
        return p.terminationStatus
    }

    deinit { kill() }
}
