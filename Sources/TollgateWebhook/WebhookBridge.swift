import Crypto
import Foundation
import Logging
import Synchronization
import TollgateAMQP
import TollgateJSON
import TollgateWorker

/// `tollgate webhook`: follows `<prefix>.escalations` with a durable queue per target and POSTs
/// every notice, signed, in order per request, retried until delivered or given up on and
/// dead-lettered. A notice is acked only when its target answered 2xx (or, given up on, when its
/// dead letter is confirmed): a bridge or target that is down loses nothing, and after a crash a
/// notice may be POSTed twice (with the same `Tollgate-Delivery`), never lost.
///
/// One task handles every event in turn (notices received, attempts finished, retries due), so
/// the delivery state (`DeliveryLine` per target) needs no lock; POSTs and waits run beside it.
public final class WebhookBridge: Sendable {
    let configuration: WebhookConfiguration
    let status: WebhookStatus
    let logger: Logger
    let events: AsyncStream<BridgeEvent>
    let continuation: AsyncStream<BridgeEvent>.Continuation

    public init(configuration: WebhookConfiguration, status: WebhookStatus, logger: Logger) {
        self.configuration = configuration
        self.status = status
        self.logger = logger
        (events, continuation) = AsyncStream.makeStream(of: BridgeEvent.self)
    }

    /// Asks the bridge to stop: POSTs under way finish (within --timeout), nothing new starts,
    /// what was delivered is acked, the rest comes again to the next bridge.
    public func requestStop() { continuation.yield(.stop) }

    /// Runs until `requestStop()`.
    public func run() async {
        let sender = WebhookSender(
            timeoutSeconds: configuration.timeoutSeconds,
            connections: Int(configuration.prefetch)
        )
        let broker = BrokerThread(configuration: configuration, events: continuation, status: status, logger: logger)
        let metrics = WebhookMetrics(targets: configuration.targets.map(\.name))
        var state = State(configuration: configuration, metrics: metrics, logger: logger)
        broker.start()
        let continuation = continuation
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                continuation.yield(.tick)
            }
        }
        for await event in events {
            if let actions = state.handle(event) {
                for action in actions { perform(action, state: state, sender: sender, broker: broker) }
            }
            if state.stopping, state.inFlight == 0 { break }
        }
        ticker.cancel()
        state.cancelRetries()
        broker.finish()
        // The last acks and dead letters get 10 s; then the connection is dropped (what was not
        // acked comes again to the next bridge).
        let giveUpAt = ContinuousClock.now + .seconds(10)
        while !broker.hasExited {
            if ContinuousClock.now > giveUpAt { broker.requestStop() }
            try? await Task.sleep(for: .milliseconds(20))
        }
        await sender.shutdown()
        logger.info("webhook: stopped", metadata: ["delivered": "\(state.delivered)", "held": "\(state.heldCount)"])
    }

    private func perform(_ action: Action, state: State, sender: WebhookSender, broker: BrokerThread) {
        switch action {
        case .broker(let command):
            broker.send(command)
        case .post(let generation, let target, let notice):
            let url = configuration.targets[target].url
            let (body, headers) = request(for: notice)
            let continuation = continuation
            Task {
                let start = ContinuousClock.now
                let outcome = await sender.post(url: url, body: body, headers: headers, nowMillis: wallClockMillis())
                let elapsed = ContinuousClock.now - start
                let nanoseconds =
                    elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
                continuation.yield(
                    .attempted(
                        generation: generation,
                        target: target,
                        tag: notice.tag,
                        outcome: outcome,
                        nanoseconds: nanoseconds
                    )
                )
            }
        case .wait(let generation, let target, let tag, let millis):
            let continuation = continuation
            state.retries.add(
                RetryTimers.Key(generation: generation, target: target, tag: tag),
                Task {
                    try? await Task.sleep(for: .milliseconds(millis))
                    if !Task.isCancelled {
                        continuation.yield(.retryDue(generation: generation, target: target, tag: tag))
                    }
                }
            )
        }
    }

    /// The body (the notice's, or its Slack rendering) and headers of a POST.
    func request(for notice: HeldNotice) -> ([UInt8], [(String, String)]) {
        var body = notice.body
        if configuration.format == .slack, case .object(let object)? = try? JSONValue.parse(notice.body) {
            body = SlackMessage.render(routingKey: notice.routingKey, notice: object, inboxURL: configuration.inboxURL)
        }
        var headers = [
            ("Content-Type", "application/json; charset=utf-8"),
            ("User-Agent", "tollgate-webhook"),
            ("Tollgate-Event", notice.routingKey),
            ("Tollgate-Delivery", notice.deliveryID),
            ("Tollgate-Attempt", "\(notice.attempts)"),
        ]
        if let requestID = notice.requestID { headers.append(("Tollgate-Request-Id", requestID)) }
        if let secret = configuration.secret {
            let header = WebhookSignature.header(body: body, timestamp: wallClockMillis() / 1000, secret: secret)
            headers.append((WebhookSignature.headerName, header))
        }
        return (body, headers)
    }
}

/// What the bridge's one task decides to do next.
enum Action: Sendable {
    case broker(BrokerCommand)
    case post(generation: Int, target: Int, notice: HeldNotice)
    case wait(generation: Int, target: Int, tag: UInt64, millis: Int64)
}

/// The retry waits under way, to cancel them when the connection goes or the bridge stops.
final class RetryTimers: Sendable {
    /// Delivery tags start again on each connection: a timer is its connection's.
    struct Key: Hashable, Sendable {
        var generation: Int
        var target: Int
        var tag: UInt64
    }
    private let tasks = Mutex<[Key: Task<Void, Never>]>([:])
    func add(_ key: Key, _ task: Task<Void, Never>) { tasks.withLock { $0[key] = task } }
    func remove(_ key: Key) { _ = tasks.withLock { $0.removeValue(forKey: key) } }
    func cancelAll() {
        for task in tasks.withLock({ list -> [Task<Void, Never>] in
            defer { list.removeAll() }
            return Array(list.values)
        }) { task.cancel() }
    }
}

extension WebhookBridge {
    /// The delivery state, owned by the bridge's one task.
    struct State {
        let configuration: WebhookConfiguration
        let metrics: WebhookMetrics
        let logger: Logger
        var lines: [DeliveryLine]
        var generation = 0
        var inFlight = 0
        var stopping = false
        var delivered = 0
        let retries = RetryTimers()
        /// Counts for the progress line, logged every minute when something happened.
        var window = (delivered: 0, failed: 0, deadLettered: 0)
        var lastProgress = monotonicClockMillis()

        init(configuration: WebhookConfiguration, metrics: WebhookMetrics, logger: Logger) {
            self.configuration = configuration
            self.metrics = metrics
            self.logger = logger
            lines = Array(repeating: DeliveryLine(), count: configuration.targets.count)
        }

        var heldCount: Int { lines.reduce(0) { $0 + $1.count } }

        func cancelRetries() { retries.cancelAll() }

        mutating func handle(_ event: BridgeEvent) -> [Action]? {
            switch event {
            case .connected(let g):
                generation = g
                return nil
            case .disconnected(let g):
                guard g == generation else { return nil }
                // Everything held comes again on the next connection.
                retries.cancelAll()
                for i in lines.indices { lines[i].reset() }
                generation = -g
                updateGauges()
                return nil
            case .received(let g, let target, let delivery):
                guard g == generation, !stopping else { return nil }
                return receive(target: target, delivery: delivery)
            case .attempted(let g, let target, let tag, let outcome, let nanoseconds):
                inFlight -= 1
                metrics.attempted(configuration.targets[target].name, nanoseconds: nanoseconds)
                guard g == generation else { return nil }
                return attempted(target: target, tag: tag, outcome: outcome)
            case .retryDue(let g, let target, let tag):
                retries.remove(RetryTimers.Key(generation: g, target: target, tag: tag))
                guard g == generation, !stopping, lines[target].head(tag) != nil else { return nil }
                return startAttempt(target: target, tag: tag)
            case .deadLettered(let g, let target, let tag):
                // Counted once the broker has it; only then does the request's next notice go.
                window.deadLettered += 1
                metrics.deadLetteredOne(configuration.targets[target].name)
                guard g == generation else { return nil }
                let actions = next(after: tag, target: target)
                updateGauges()
                return actions
            case .tick:
                updateGauges()
                progress()
                return nil
            case .stop:
                if !stopping {
                    stopping = true
                    retries.cancelAll()
                    logger.info("webhook: stopping", metadata: ["posts_under_way": "\(inFlight)"])
                }
                return nil
            }
        }

        private mutating func receive(target: Int, delivery: AMQPDelivery) -> [Action] {
            let now = wallClockMillis()
            guard case .object(let object)? = try? JSONValue.parse(delivery.body) else {
                // Nothing a receiver could use: not retried, kept with the reason.
                return [
                    deadLetter(
                        target: target,
                        tag: delivery.deliveryTag,
                        routingKey: delivery.routingKey,
                        body: delivery.body,
                        attempts: 0,
                        reason: "the notice is not a JSON object; not delivered",
                        timestamp: delivery.properties.timestamp
                    )
                ]
            }
            let requestID = object["request_id"]?.stringValue ?? object["grant"]?["grant_id"]?.stringValue
            // The worker stamps what it publishes (seconds); a stamp from the future, or one that
            // is not seconds at all, counts as now.
            var published = now
            if let stamp = delivery.properties.timestamp, stamp <= UInt64(now / 1000 + 60) {
                published = Int64(stamp) * 1000
            }
            var notice = HeldNotice(
                tag: delivery.deliveryTag,
                key: requestID ?? "\(delivery.routingKey)#\(delivery.deliveryTag)",
                routingKey: delivery.routingKey,
                body: delivery.body,
                publishedAtMillis: published,
                deliveryID: Self.deliveryID(
                    target: configuration.targets[target].name,
                    routingKey: delivery.routingKey,
                    body: delivery.body
                )
            )
            notice.requestID = requestID
            notice.timestamp = delivery.properties.timestamp
            guard lines[target].receive(notice) != nil else {
                updateGauges()
                return []
            }
            updateGauges()
            return startAttempt(target: target, tag: notice.tag)
        }

        /// The same notice to the same target always has the same delivery id: a hash of the
        /// target's name, the notice's routing key and its body.
        static func deliveryID(target: String, routingKey: String, body: [UInt8]) -> String {
            var hash = SHA256()
            hash.update(data: Array(target.utf8))
            hash.update(data: [0x0A])
            hash.update(data: Array(routingKey.utf8))
            hash.update(data: [0x0A])
            hash.update(data: body)
            return hash.finalize().prefix(16).map { String(format: "%02x", $0) }.joined()
        }

        private mutating func startAttempt(target: Int, tag: UInt64) -> [Action] {
            guard let notice = lines[target].recordAttempt(tag) else { return [] }
            inFlight += 1
            return [.post(generation: generation, target: target, notice: notice)]
        }

        private mutating func attempted(target: Int, tag: UInt64, outcome: AttemptOutcome) -> [Action] {
            guard let notice = lines[target].head(tag) else { return [] }
            let name = configuration.targets[target].name
            let age = max(wallClockMillis() - notice.publishedAtMillis, 0)
            let verdict = configuration.retry.next(
                attempts: notice.attempts,
                outcome: outcome,
                ageMillis: age,
                jitter: Double.random(in: 0..<1)
            )
            var actions: [Action] = []
            switch verdict {
            case .delivered:
                delivered += 1
                window.delivered += 1
                metrics.delivered(name, event: notice.event)
                logger.debug(
                    "webhook: delivered",
                    metadata: [
                        "target": "\(name)", "event": "\(notice.routingKey)", "request_id": "\(notice.key)",
                        "attempts": "\(notice.attempts)",
                    ]
                )
                actions.append(.broker(.ack(generation: generation, tag: tag)))
                actions += next(after: tag, target: target)
            case .retry(let millis):
                window.failed += 1
                metrics.failed(name, kind: outcome.failureKind)
                logger.warning(
                    "webhook: delivery failed; retrying",
                    metadata: [
                        "target": "\(name)", "event": "\(notice.routingKey)", "request_id": "\(notice.key)",
                        "attempt": "\(notice.attempts)", "retry_in_ms": "\(millis)", "error": "\(outcome.description)",
                    ]
                )
                if stopping { return [] }
                actions.append(.wait(generation: generation, target: target, tag: tag, millis: millis))
            case .giveUp(let reason):
                window.failed += 1
                metrics.failed(name, kind: outcome.failureKind)
                actions.append(
                    deadLetter(
                        target: target,
                        tag: tag,
                        routingKey: notice.routingKey,
                        body: notice.body,
                        attempts: notice.attempts,
                        reason: reason,
                        timestamp: notice.timestamp
                    )
                )
            }
            updateGauges()
            return actions
        }

        private mutating func next(after tag: UInt64, target: Int) -> [Action] {
            guard let following = lines[target].finish(tag), !stopping else { return [] }
            return startAttempt(target: target, tag: following.tag)
        }

        private mutating func deadLetter(
            target: Int,
            tag: UInt64,
            routingKey: String,
            body: [UInt8],
            attempts: Int,
            reason: String,
            timestamp: UInt64?
        ) -> Action {
            let name = configuration.targets[target].name
            logger.error(
                "webhook: notice dead-lettered",
                metadata: [
                    "target": "\(name)", "event": "\(routingKey)", "attempts": "\(attempts)", "reason": "\(reason)",
                ]
            )
            return .broker(
                .deadLetter(
                    DeadLetter(
                        generation: generation,
                        target: target,
                        tag: tag,
                        routingKey: routingKey,
                        body: body,
                        headers: [
                            ("x-tollgate-error", reason),
                            ("x-tollgate-queue", configuration.queueName(of: configuration.targets[target])),
                            ("x-tollgate-webhook-target", name),
                            ("x-tollgate-attempts", "\(attempts)"),
                        ],
                        timestamp: timestamp
                    )
                )
            )
        }

        private func updateGauges() {
            let now = wallClockMillis()
            for (i, target) in configuration.targets.enumerated() {
                metrics.held(
                    target.name,
                    count: lines[i].count,
                    oldestAgeMillis: lines[i].oldestAgeMillis(nowMillis: now)
                )
            }
        }

        /// Once a minute, when something happened or notices are held: what the bridge did.
        private mutating func progress() {
            let now = monotonicClockMillis()
            guard now - lastProgress >= 60_000 else { return }
            lastProgress = now
            let held = heldCount
            guard window.delivered + window.failed + window.deadLettered > 0 || held > 0 else { return }
            let oldest = lines.compactMap { $0.oldestAgeMillis(nowMillis: wallClockMillis()) }.max() ?? 0
            logger.info(
                "webhook: progress (last 60 s)",
                metadata: [
                    "delivered": "\(window.delivered)", "failed_attempts": "\(window.failed)",
                    "dead_lettered": "\(window.deadLettered)", "held": "\(held)", "oldest_held_s": "\(oldest / 1000)",
                ]
            )
            window = (0, 0, 0)
        }
    }
}
