// `tollgate webhook` against a real RabbitMQ and a real HTTP receiver: signatures, order,
// retries, Retry-After, a receiver that fails for a while and recovers, one that never does, a
// bridge killed while its target is down, and the Slack rendering of the chapter 5 requests.
import Foundation
import Testing
import TollgateAMQP
import TollgateJSON
import TollgateWebhook

@Suite("Webhook bridge", .serialized)
struct WebhookBridgeTests {
    static let secret = "whsec-test-0123456789abcdef"

    /// A prefix with the exchanges a worker declares (for tests that publish notices
    /// themselves), and a client that publishes them and watches the dead letters.
    final class Notices {
        let prefix = "tgw\(UInt32.random(in: 0...UInt32.max))"
        let client: TestClient
        let scratch: Scratch
        var targets: [String] = []

        /// A bridge of this prefix delivering to `receiver` as target `name` (its queue is
        /// deleted at the end).
        func bridge(
            _ name: String,
            _ receiver: WebhookReceiver,
            _ arguments: [String] = [],
            logName: String = "webhook"
        ) -> BridgeProcess {
            if !targets.contains(name) { targets.append(name) }
            return BridgeProcess(
                scratch: scratch,
                prefix: prefix,
                arguments: ["--url", "\(name)=\(receiver.url)"] + arguments,
                logName: logName
            )
        }

        /// The queue that collects the dead letters.
        var deadQueue = ""

        init() throws {
            scratch = try Scratch()
            client = try TestClient(name: "webhook test")
            let c = client.connection
            try c.exchangeDeclare("\(prefix).escalations", type: "topic", durable: true)
            try c.exchangeDeclare("\(prefix).dead", type: "fanout", durable: true)
            deadQueue = try client.observe("\(prefix).dead", label: "dead")
        }

        /// Publishes a notice with this AMQP timestamp.
        func publish(_ event: String, request: String, timestamp: UInt64) throws {
            var p = AMQPProperties()
            p.contentType = "application/json"
            p.deliveryMode = AMQPProperties.persistent
            p.timestamp = timestamp
            let body = #"{"request_id":\#(jsonString(request)),"tool_name":"transfer_funds","event":"\#(event)"}"#
            let seq = try client.connection.publish(
                exchange: "\(prefix).escalations",
                routingKey: "\(event).transfer_funds",
                body: Array(body.utf8),
                properties: p
            )
            #expect(seq > 0)
            try client.waitForConfirms()
        }

        func publish(_ event: String, request: String, tool: String = "transfer_funds", extra: String = "") throws {
            let body =
                #"{"request_id":\#(jsonString(request)),"tool_name":"\#(tool)","agent_id":"finance-agent""#
                + #","event":"\#(event)"\#(extra)}"#
            try client.publish(
                exchange: "\(prefix).escalations",
                routingKey: "\(event).\(tool)",
                body: Array(body.utf8)
            )
        }

        func publishRaw(_ key: String, _ body: String) throws {
            try client.publish(exchange: "\(prefix).escalations", routingKey: key, body: Array(body.utf8))
        }

        deinit {
            let c = client.connection
            for target in targets { _ = try? c.queueDelete("\(prefix).webhook.\(target)") }
            _ = try? c.exchangeDelete("\(prefix).escalations")
            _ = try? c.exchangeDelete("\(prefix).dead")
            client.close()
        }
    }

    /// (request id, event) of each delivered request, in the order received.
    static func sequence(_ requests: [WebhookReceiver.Request]) -> [(String, String)] {
        requests.map { ($0.json["request_id"]?.stringValue ?? "?", $0.json["event"]?.stringValue ?? $0.event) }
    }

    /// Every published notice was delivered, and each request's in the order published.
    static func expectAllInOrder(_ delivered: [WebhookReceiver.Request], _ published: [(String, String)]) {
        let got = sequence(delivered)
        #expect(Set(got.map { "\($0.0)/\($0.1)" }) == Set(published.map { "\($0.0)/\($0.1)" }), "\(got)")
        for request in Set(published.map(\.0)) {
            #expect(
                got.filter { $0.0 == request }.map(\.1) == published.filter { $0.0 == request }.map(\.1),
                "order of \(request): \(got)"
            )
        }
    }

    static func checkSignatures(_ requests: [WebhookReceiver.Request]) {
        for r in requests {
            let header = r.headers["tollgate-signature"] ?? ""
            let verdict = WebhookSignature.verify(
                header: header,
                body: r.body,
                secret: Array(secret.utf8),
                now: Int64(Date().timeIntervalSince1970)
            )
            #expect(verdict == .valid, "request \(r.number): \(header)")
        }
    }

    @Test("A real worker's notices arrive signed, in order, with their JSON body")
    func realWorkerSignedInOrder() throws {
        let scratch = try Scratch()
        let secretFile = try scratch.write("secret", Self.secret + "\n")
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let worker = WorkerProcess(scratch: scratch, policies: [seedPolicy])
        try worker.start()
        let bridge = BridgeProcess(
            scratch: scratch,
            prefix: worker.prefix,
            arguments: ["--url", "tickets=\(receiver.url)", "--secret-file", secretFile]
        )
        try bridge.start()
        let agent = try TestClient(user: "finance-agent")
        defer { agent.close() }
        let id = try agent.call(
            prefix: worker.prefix,
            tool: "transfer_funds",
            arguments: #"{"amount": 5000, "to": "vendor-123"}"#,
            reason: "Agent wants to transfer $5,000 to vendor account"
        )
        let pending = try agent.reply(to: id)
        let requestID = try #require(pending.string("request_id"))
        let first = receiver.waitForDeliveries(1)
        #expect(first.first?.event == "pending.transfer_funds")
        let manager = try TestClient(user: "manager@corp.com")
        defer { manager.close() }
        try manager.vote(prefix: worker.prefix, requestID: requestID, decision: "approve", comment: "vendor verified")
        _ = try agent.finalDecision(to: id)
        let all = receiver.waitForEvent("resolved.transfer_funds")
        let events = all.map(\.event)
        #expect(events.first == "pending.transfer_funds", "\(events)\n\(bridge.log)")
        #expect(events.last == "resolved.transfer_funds")
        for r in all {
            #expect(r.json["request_id"]?.stringValue == requestID)
            #expect(r.headers["tollgate-request-id"] == requestID)
            #expect(r.headers["tollgate-delivery"]?.count == 32)
            #expect(r.headers["content-type"] == "application/json; charset=utf-8")
        }
        #expect(all.last?.json["decision"]?.stringValue == "allow")
        #expect(all.first?.json["arguments"]?["amount"]?.intValue == 5000)
        Self.checkSignatures(all)
        #expect(bridge.terminate() == 0)
        _ = try? Broker.connect().queueDelete("\(worker.prefix).webhook.tickets")
    }

    @Test("The chapter 5 requests as Slack messages, with a link to the inbox")
    func slackRenderingOfChapterFive() throws {
        let scratch = try Scratch()
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let worker = WorkerProcess(scratch: scratch, policies: [seedPolicy])
        try worker.start()
        let bridge = BridgeProcess(
            scratch: scratch,
            prefix: worker.prefix,
            arguments: [
                "--url", "slack=\(receiver.url)", "--format", "slack", "--inbox-url", "https://approvals.example.com",
                "--events", "pending",
            ]
        )
        try bridge.start()
        let finance = try TestClient(user: "finance-agent")
        defer { finance.close() }
        let support = try TestClient(user: "support-agent")
        defer { support.close() }
        let transfer = try finance.call(
            prefix: worker.prefix,
            tool: "transfer_funds",
            arguments: #"{"amount": 5000, "to": "vendor-123"}"#,
            reason: "Agent wants to transfer $5,000 to vendor account"
        )
        let mail = try support.call(
            prefix: worker.prefix,
            agent: "support-agent",
            tool: "send_email",
            arguments: #"{"recipients": 10000, "subject": "Spring offer"}"#,
            reason: "Agent wants to email 10,000 customers a promotional offer"
        )
        let transferID = try #require(try finance.reply(to: transfer).string("request_id"))
        _ = try support.reply(to: mail)
        let messages = receiver.waitForDeliveries(2)
        #expect(messages.count == 2)
        let byText = Dictionary(
            messages.map { ($0.json["text"]?.stringValue ?? "", $0) },
            uniquingKeysWith: { a, _ in a }
        )
        let t = try #require(byText["Approval needed: finance-agent wants to call transfer_funds"], "\(byText.keys)")
        let m = try #require(byText["Approval needed: support-agent wants to call send_email"], "\(byText.keys)")
        let transferBlocks = t.json["blocks"]?.description ?? ""
        #expect(transferBlocks.contains("Agent wants to transfer $5,000 to vendor account"))
        #expect(transferBlocks.contains("Sensitive action: transfer_funds requires human approval"))
        #expect(transferBlocks.contains("https://approvals.example.com/#request=\(transferID)"))
        #expect(
            (m.json["blocks"]?.description ?? "").contains("Agent wants to email 10,000 customers a promotional offer")
        )
        // Unsigned without --secret-file, and the bridge says so.
        #expect(t.headers["tollgate-signature"] == nil)
        #expect(bridge.log.contains("requests are not signed"))
        #expect(bridge.terminate() == 0)
        _ = try? Broker.connect().queueDelete("\(worker.prefix).webhook.slack")
    }

    @Test("A receiver that fails for a while, then rate-limits, then recovers: nothing lost, nothing out of order")
    func retriesUntilTheReceiverRecovers() throws {
        let notices = try Notices()
        let secretFile = try notices.scratch.write("secret", Self.secret)
        // Requests 1-5 fail (503, a reset-like 500, ...), request 6 is rate-limited for 1 s.
        let receiver = try WebhookReceiver { number, _ in
            if number <= 5 { return .init(status: number % 2 == 0 ? 500 : 503, body: "down for maintenance") }
            if number == 6 { return .init(status: 429, headers: ["Retry-After": "1"], body: "slow down") }
            return .ok
        }
        defer { receiver.stop() }
        let metricsPort = Int.random(in: 20_000...40_000)
        let bridge = notices.bridge(
            "flaky",
            receiver,
            [
                // (Retry-After is honoured up to --max-backoff.)
                "--secret-file", secretFile, "--initial-backoff", "0.05", "--max-backoff", "2",
                "--metrics-port", "\(metricsPort)", "--metrics-address", "127.0.0.1",
            ]
        )
        try bridge.start()
        let published: [(String, String)] = [
            ("r1", "pending"), ("r2", "pending"), ("r1", "voted"), ("r3", "pending"), ("r1", "resolved"),
            ("r2", "resolved"), ("r3", "voted"), ("r3", "resolved"),
        ]
        for (request, event) in published { try notices.publish(event, request: request) }
        let delivered = receiver.waitForDeliveries(published.count)
        #expect(delivered.count == published.count, "\(bridge.log)")
        // Every notice (each once, counted by delivery id), and each request's in order.
        Self.expectAllInOrder(delivered, published)
        Self.checkSignatures(delivered)
        // The rate-limited notice waited its Retry-After before its next attempt.
        let all = receiver.received
        let limited = try #require(all.first { $0.number == 6 })
        let again = try #require(
            all.first { $0.number > 6 && $0.headers["tollgate-delivery"] == limited.headers["tollgate-delivery"] }
        )
        #expect(again.at - limited.at >= .milliseconds(950), "retried after \(again.at - limited.at)")
        #expect(Int(again.headers["tollgate-attempt"] ?? "") ?? 0 >= 2)
        #expect(notices.client.messages("dead").isEmpty)
        // The metrics count what happened (once the bridge took the last answer in).
        var metrics = ""
        let settled = ContinuousClock.now + .seconds(5)
        repeat {
            metrics = try String(contentsOf: URL(string: "http://127.0.0.1:\(metricsPort)/metrics")!, encoding: .utf8)
            if metrics.contains(#"tollgate_webhook_attempts_total{target="flaky"} \#(all.count)"#) { break }
            usleep(100_000)
        } while ContinuousClock.now < settled
        #expect(metrics.contains(#"tollgate_webhook_deliveries_total{target="flaky",event="pending"} 3"#), "\(metrics)")
        #expect(metrics.contains(#"tollgate_webhook_failures_total{target="flaky",kind="429"} 1"#))
        #expect(metrics.contains(#"tollgate_webhook_attempts_total{target="flaky"} \#(all.count)"#))
        #expect(metrics.contains(#"tollgate_webhook_undelivered{target="flaky"} 0"#))
        let health = try String(contentsOf: URL(string: "http://127.0.0.1:\(metricsPort)/readyz")!, encoding: .utf8)
        #expect(health == "ready\n")
        #expect(bridge.terminate() == 0)
    }

    @Test("A receiver that never recovers, one that refuses, a notice that is not JSON: dead-lettered with the reason")
    func givesUpAndDeadLetters() throws {
        let notices = try Notices()
        let receiver = try WebhookReceiver { _, body in
            String(decoding: body, as: UTF8.self).contains("refuse-me")
                ? .init(status: 400, body: "unknown channel") : .init(status: 500, body: "still down")
        }
        defer { receiver.stop() }
        let bridge = notices.bridge("down", receiver, ["--max-attempts", "3", "--initial-backoff", "0.05"])
        try bridge.start()
        try notices.publish("pending", request: "r-never")
        try notices.publish("pending", request: "r-refused", extra: #","note":"refuse-me""#)
        try notices.publishRaw("pending.transfer_funds", "not json at all")
        let dead = try notices.client.await("dead", count: 3, timeout: .seconds(20))
        #expect(dead.count == 3, "\(bridge.log)")
        func header(_ d: Received, _ name: String) -> String? {
            d.header?.first { $0.key == name }.flatMap { if case .string(let s) = $0.value { s } else { nil } }
        }
        let reasons = Dictionary(
            dead.map { (String(decoding: $0.delivery.body, as: UTF8.self), header($0, "x-tollgate-error") ?? "") },
            uniquingKeysWith: { a, _ in a }
        )
        let never = try #require(reasons.first { $0.key.contains("r-never") }?.value)
        #expect(never == "gave up after 3 attempts; the last: the target answered 500: still down")
        let refused = try #require(reasons.first { $0.key.contains("r-refused") }?.value)
        #expect(refused == "the target answered 400: unknown channel (not retried)")
        #expect(reasons["not json at all"] == "the notice is not a JSON object; not delivered")
        for d in dead {
            #expect(header(d, "x-tollgate-queue") == "\(notices.prefix).webhook.down")
            #expect(header(d, "x-tollgate-webhook-target") == "down")
            #expect(d.delivery.routingKey == "pending.transfer_funds")
        }
        #expect(receiver.received.filter { String(decoding: $0.body, as: UTF8.self).contains("r-never") }.count == 3)
        #expect(receiver.received.filter { String(decoding: $0.body, as: UTF8.self).contains("r-refused") }.count == 1)
        // Nothing is left in the bridge's queue: every notice was settled.
        #expect(bridge.terminate() == 0)
        let info = try notices.client.connection.queueDeclare("\(notices.prefix).webhook.down", passive: true)
        #expect(info.messageCount == 0)
    }

    @Test("A bridge killed while its target is down loses nothing: the next one delivers all, in order")
    func killedWhileTheTargetIsDown() throws {
        let notices = try Notices()
        let receiver = try WebhookReceiver { _, _ in .init(status: 503, body: "down") }
        defer { receiver.stop() }
        let arguments = ["--initial-backoff", "0.05", "--max-backoff", "0.2"]
        let first = notices.bridge("tickets", receiver, arguments, logName: "first")
        try first.start()
        var published: [(String, String)] = []
        for (request, event) in [("a", "pending"), ("b", "pending"), ("a", "voted"), ("a", "resolved"), ("b", "voted")]
        {
            try notices.publish(event, request: request)
            published.append((request, event))
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while receiver.received.count < 6, ContinuousClock.now < deadline { usleep(20_000) }
        first.kill()
        // More notices while no bridge runs: the queue keeps them.
        for (request, event) in [("b", "resolved"), ("c", "pending"), ("c", "resolved")] {
            try notices.publish(event, request: request)
            published.append((request, event))
        }
        receiver.setScript { _, _ in .ok }
        let second = notices.bridge("tickets", receiver, arguments, logName: "second")
        try second.start()
        Self.expectAllInOrder(receiver.waitForDeliveries(published.count), published)
        #expect(notices.client.messages("dead").isEmpty)
        #expect(second.terminate() == 0)
    }

    @Test("--events narrowed on a restart: the kinds left out are no longer delivered")
    func narrowingTheEvents() throws {
        let notices = try Notices()
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let all = notices.bridge("narrow", receiver)
        try all.start()
        #expect(all.terminate() == 0)
        let pendingOnly = notices.bridge("narrow", receiver, ["--events", "pending"], logName: "pending-only")
        try pendingOnly.start()
        try notices.publish("resolved", request: "r1")
        try notices.publish("pending", request: "r2")
        let delivered = receiver.waitForEvent("pending.transfer_funds")
        usleep(500_000)
        #expect(delivered.map(\.event) == ["pending.transfer_funds"])
        #expect(receiver.distinct.count == 1)
        #expect(pendingOnly.terminate() == 0)
    }

    @Test("a timestamp that is not seconds (nanoseconds, the largest value) is taken as now, not a crash")
    func oddTimestamps() throws {
        let notices = try Notices()
        let receiver = try WebhookReceiver()
        defer { receiver.stop() }
        let bridge = notices.bridge("stamps", receiver)
        try bridge.start()
        try notices.publish("pending", request: "max", timestamp: UInt64.max)
        try notices.publish("pending", request: "nanos", timestamp: 1_764_058_200_000_000_000)
        try notices.publish("pending", request: "zero", timestamp: 0)
        #expect(receiver.waitForDeliveries(3).count == 3, "\(bridge.log)")
        #expect(bridge.terminate() == 0)
    }

    @Test("a dead letter the broker refuses: the notice is kept and its request's next waits, without a loop")
    func refusedDeadLetter() throws {
        let notices = try Notices()
        let policy = "tollgate-test-full-\(notices.prefix)"
        _ = try Broker.rabbitmqctl(
            "set_policy",
            policy,
            "^\(notices.deadQueue)$",
            #"{"max-length":0,"overflow":"reject-publish"}"#,
            "--apply-to",
            "queues"
        )
        var cleared = false
        defer { if !cleared { _ = try? Broker.rabbitmqctl("clear_policy", policy) } }
        let receiver = try WebhookReceiver { _, body in
            String(decoding: body, as: UTF8.self).contains(#""event":"pending""#)
                ? .init(status: 404, body: "no such hook") : .ok
        }
        defer { receiver.stop() }
        let bridge = notices.bridge("gone", receiver)
        try bridge.start()
        try notices.publish("pending", request: "r1")
        try notices.publish("resolved", request: "r1")
        let deadline = ContinuousClock.now + .seconds(20)
        while !bridge.log.contains("the dead-letter exchange refused a notice"), ContinuousClock.now < deadline {
            usleep(50_000)
        }
        #expect(bridge.log.contains("the dead-letter exchange refused a notice"), "\(bridge.log)")
        usleep(1_500_000)
        // One POST of the refused notice (no loop), and the resolved one held back behind it.
        #expect(receiver.received.count == 1, "\(receiver.received.map(\.event))")
        _ = try Broker.rabbitmqctl("clear_policy", policy)
        cleared = true
        let delivered = receiver.waitForEvent("resolved.transfer_funds", timeout: .seconds(30))
        #expect(delivered.map(\.event) == ["resolved.transfer_funds"])
        let dead = try notices.client.await("dead", count: 1, timeout: .seconds(10))
        #expect(dead.count == 1)
        #expect(receiver.received.filter { $0.event == "pending.transfer_funds" }.count == 1)
        #expect(bridge.terminate() == 0)
    }
}
