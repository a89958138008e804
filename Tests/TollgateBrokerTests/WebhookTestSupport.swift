// A real HTTP receiver for the webhook bridge's tests (Hummingbird on 127.0.0.1), scripted to
// fail, rate-limit or recover, and a `tollgate webhook` process.
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import TollgateAMQP
import TollgateJSON

#if canImport(Glibc)
import Glibc
#endif

/// Records every POST and answers as `script` says (given the request's number, from 1).
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
    private let task = Mutex<Task<Void, Never>?>(nil)
    let port: Int

    init(script: @escaping @Sendable (Int, [UInt8]) -> Answer = { _, _ in .ok }) async throws {
        self.script = Mutex(script)
        let ready = AsyncStream.makeStream(of: Int.self)
        let router = Router()
        let box = Box()
        router.post("hook") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let bytes = Array(body.readableBytesView)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            let answer = box.receiver!.answer(headers: headers, body: bytes)
            var responseHeaders = HTTPFields()
            for (name, value) in answer.headers { responseHeaders[HTTPField.Name(name)!] = value }
            return Response(
                status: .init(code: answer.status),
                headers: responseHeaders,
                body: ResponseBody(byteBuffer: ByteBuffer(string: answer.body))
            )
        }
        let app = Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0), serverName: "receiver"),
            onServerRunning: { channel in ready.continuation.yield(channel.localAddress?.port ?? 0) }
        )
        let running = Task { _ = try? await app.runService(gracefulShutdownSignals: []) }
        var port = 0
        for await p in ready.stream {
            port = p
            break
        }
        self.port = port
        task.withLock { $0 = running }
        box.receiver = self
    }

    final class Box: @unchecked Sendable { weak var receiver: WebhookReceiver? }

    var url: String { "http://127.0.0.1:\(port)/hook" }

    func setScript(_ script: @escaping @Sendable (Int, [UInt8]) -> Answer) { self.script.withLock { $0 = script } }

    private func answer(headers: [String: String], body: [UInt8]) -> Answer {
        let number = requests.withLock { $0.count + 1 }
        let answer = script.withLock { $0 }(number, body)
        requests.withLock {
            $0.append(Request(number: number, at: .now, headers: headers, body: body, status: answer.status))
        }
        return answer
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

    func stop() { task.withLock { $0?.cancel() } }
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
