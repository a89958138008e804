import Logging
import TollgateAMQP
import TollgateStore

// A batch: decided in one transaction, then published with the publishes held and written
// together, each input acked once all it caused is confirmed.
extension WorkerLoop {
    /// What a committed batch publishes: per input, and not tied to an input (deadlines).
    struct Decided {
        var perInput: [[OutboundMessage]] = []
        var others: [OutboundMessage] = []
        var movedDeadlines = 0
    }

    /// Decides `batch` (and due deadlines) in one transaction, then publishes what it caused.
    func runBatch(_ batch: [Inbound], connection: AMQPConnection) throws {
        let reading = clockWatch.read(clock)
        if let step = reading.step { unappliedClockStep += step }
        let now = reading.now
        let deadlinesDue = unappliedClockStep != 0 || (nextDeadline.map { $0 <= now } ?? false)
        guard !batch.isEmpty || deadlinesDue || !confirmedOutbox.isEmpty || rehomeRequested || rehomeRecords
        else { return }
        let before = gate.memory
        let decided: Decided
        do {
            decided = try decideAll(batch, deadlines: deadlinesDue, now: now)
        } catch let error as StoreError where error.isTransient {
            gate.memory = before
            try enterOutage(error, holding: batch, connection)
            return
        } catch let error as StoreError where batch.count > 1 {
            // One input may be at fault: decide them one by one, so only that one is refused.
            gate.memory = before
            logger.error("a batch failed; deciding its inputs one by one", metadata: [LogKey.error: "\(error)"])
            for input in batch { try runBatch([input], connection: connection) }
            return
        } catch let error as StoreError where batch.count == 1 {
            gate.memory = before
            try refuseUnhandleable(batch[0], error: error, now: now, connection: connection)
            return
        }
        reportClockStep(moved: decided.movedDeadlines)
        rehomeRequested = false
        rehomeRecords = false
        confirmedOutbox.removeAll(keepingCapacity: true)
        if deadlinesDue || decided.perInput.contains(where: { $0.contains { $0.outboxID != nil } }) {
            nextDeadline = try store.nextDeadline()
        }
        // The crash tests' fault points count batches of inputs (not the worker's own
        // housekeeping transactions: deadlines alone, re-homing budgets).
        if !batch.isEmpty { faults.reached(.afterCommit) }
        try publishWhenDurable(decided, for: batch, connection)
        reportCounters()
    }

    /// A committed batch whose commit is not known to be on disk yet.
    struct AwaitingSync {
        var ticket: UInt64
        var decided: Decided
        var batch: [Inbound]
        /// The outbox rows among its messages.
        var outboxIDs: [Int64]

        init(ticket: UInt64, decided: Decided, batch: [Inbound]) {
            self.ticket = ticket
            self.decided = decided
            self.batch = batch
            var ids: [Int64] = []
            for messages in decided.perInput {
                for message in messages { if let id = message.outboxID { ids.append(id) } }
            }
            for message in decided.others { if let id = message.outboxID { ids.append(id) } }
            outboxIDs = ids
        }
    }

    /// Publishes what a committed transaction caused: at once when the commit waited for the
    /// disk itself, else once the store's syncer has it on disk (`publishDurable`): nothing is
    /// published, and so nothing acked, before it is durable.
    func publishWhenDurable(_ decided: Decided, for batch: [Inbound], _ connection: AMQPConnection) throws {
        guard let syncer = store.syncer else {
            try publishNow(decided, for: batch, connection)
            return
        }
        let waiting = AwaitingSync(ticket: syncer.request(), decided: decided, batch: batch)
        // The outbox sweep must not publish these rows before their commit is on disk.
        for id in waiting.outboxIDs { inFlightOutbox.insert(id) }
        awaitingSync.append(waiting)
    }

    /// Publishes, in commit order, what the commits now on disk caused; a failed sync is an
    /// outage, and the inputs of the commits it leaves unsynced are held with it.
    func publishDurable(_ connection: AMQPConnection) throws {
        guard !awaitingSync.isEmpty, let syncer = store.syncer else { return }
        syncer.drainWake()
        let done = syncer.completed
        let ready = awaitingSync.prefix { $0.ticket <= done }
        awaitingSync.removeFirst(ready.count)
        for waiting in ready { try publishNow(waiting.decided, for: waiting.batch, connection) }
        if !awaitingSync.isEmpty, let failure = syncer.failure {
            logger.error(
                "the database's write-ahead log could not be synced: what it holds since is not published",
                metadata: [LogKey.error: "\(failure)", "batches": "\(awaitingSync.count)"]
            )
            try enterOutage(failure, holding: [], connection)
        }
    }

    /// Waits for the syncer, publishes what is on disk, and gives back the inputs of the commits
    /// that are not (a failed sync): they are decided again when the database works, answered
    /// from their records if those survived. Their outbox rows are published again then too.
    func settleAwaitingSync(_ connection: AMQPConnection?) -> [Inbound] {
        guard !awaitingSync.isEmpty else { return [] }
        // Without a connection nothing is published: no need to wait for the disk.
        if connection != nil { try? store.syncer?.waitForAll() }
        let done = store.syncer?.completed ?? 0
        var unsynced: [Inbound] = []
        for waiting in awaitingSync {
            if waiting.ticket <= done, let connection,
                (try? publishNow(waiting.decided, for: waiting.batch, connection)) != nil
            {
                continue
            }
            for id in waiting.outboxIDs { inFlightOutbox.remove(id) }
            // Handled and committed, nothing of it published: decided again, they are taken
            // as redeliveries are (found by content without a message_id; the feed's copy and
            // the dead letter published with the answer from the record).
            for var input in waiting.batch {
                input.redelivered = true
                unsynced.append(input)
            }
        }
        awaitingSync.removeAll()
        return unsynced
    }

    /// Publishes a committed (and durable) batch's messages; its inputs are acked once they are
    /// confirmed.
    private func publishNow(_ decided: Decided, for batch: [Inbound], _ connection: AMQPConnection) throws {
        try publish(decided, for: batch, connection)
        if !batch.isEmpty { faults.reached(.afterPublish) }
        let published = clock.monotonicMillis()
        for input in batch where input.receivedAt > 0 {
            metrics.decisionDuration.recordMilliseconds(published - input.receivedAt)
        }
    }

    private func decideAll(_ batch: [Inbound], deadlines: Bool, now: Millis) throws -> Decided {
        let deletes = confirmedOutbox
        let step = unappliedClockStep
        let rehome = rehomeRequested
        let records = rehomeRecords
        let leaving = drainPhase == .waitingForEscalations
        return try store.transaction {
            var decided = Decided()
            if step != 0 { decided.movedDeadlines = try store.shiftPendingDeadlines(by: step) }
            if !deletes.isEmpty { try store.deleteOutbox(ids: deletes) }
            decided.perInput.reserveCapacity(batch.count)
            for input in batch { decided.perInput.append(try gate.handle(input, now: now)) }
            if deadlines { decided.others = try gate.handleDeadlines(now: now) }
            if rehome || records {
                decided.others += try gate.rehome(
                    databaseID: try store.databaseID(),
                    leaving: leaving,
                    budgets: rehome,
                    records: records,
                    now: now
                )
            }
            return decided
        }
    }

    /// After a committed transaction that applied a wall-clock step.
    private func reportClockStep(moved: Int) {
        guard unappliedClockStep != 0 else { return }
        logger.warning(
            "the wall clock stepped; pending deadlines moved with it so that each keeps the wait it had left",
            metadata: ["step_ms": "\(unappliedClockStep)", "deadlines_moved": "\(moved)"]
        )
        unappliedClockStep = 0
    }

    /// An input whose handling fails in a way no retry fixes (a bug, a constraint the data
    /// breaks): refused as invalid with the error, in a transaction of its own, so that it
    /// neither crashes the worker nor comes back for ever. If even that fails, the store is
    /// broken: the error stops the worker.
    private func refuseUnhandleable(
        _ input: Inbound,
        error: StoreError,
        now: Millis,
        connection: AMQPConnection
    )
        throws
    {
        logger.error(
            "an input could not be handled; refusing it",
            metadata: [LogKey.error: "\(error)", LogKey.messageID: "\(input.messageID ?? "-")"]
        )
        let reason = "the worker failed to handle this message (\(error.message)); refused"
        let messages = try store.transaction { try gate.refuse(input, reason: reason, now: now) }
        var decided = Decided()
        decided.perInput = [messages]
        try publishWhenDurable(decided, for: [input], connection)
    }

    private func publish(_ decided: Decided, for batch: [Inbound], _ connection: AMQPConnection) throws {
        // One write for the whole batch's publishes instead of one per message: it halves the
        // worker's kernel time and the broker reads them in bulk.
        connection.holdPublishes()
        var feed = FeedBatch()
        for (input, all) in zip(batch, decided.perInput) {
            let messages = blockedReplyTo.isEmpty ? all : all.filter { !isBlockedReply($0) }
            if messages.isEmpty {
                settlement.settledWithoutPublishing(deliveryTag: input.deliveryTag)
                continue
            }
            for message in messages {
                try send(
                    message,
                    owner: .init(deliveryTag: input.deliveryTag, outboxID: message.outboxID),
                    &feed,
                    connection
                )
            }
        }
        for message in decided.others where !isBlockedReply(message) {
            try send(message, owner: .init(deliveryTag: nil, outboxID: message.outboxID), &feed, connection)
        }
        try sendFeed(feed, connection)
        try connection.flushPublishes()
    }

    /// Publishes `message` for `owner`, or, when it belongs to a batched decision feed, adds it
    /// to `feed` (published by `sendFeed` after the batch's other messages).
    private func send(
        _ message: OutboundMessage,
        owner: Settlement.Owner,
        _ feed: inout FeedBatch,
        _ connection: AMQPConnection
    ) throws {
        if configuration.decisionFeed == .batch, message.exchange == topology.decisionsExchange {
            feed.add(message, owner: owner)
            return
        }
        let seq = try send(message, connection)
        settlement.published(seq: seq, for: owner, resend: .init(message: message, contentType: "application/json"))
    }

    private func sendFeed(_ feed: FeedBatch, _ connection: AMQPConnection) throws {
        for (message, owners) in feed.messages {
            for id in owners.compactMap(\.outboxID) { inFlightOutbox.insert(id) }
            let seq = try send(message, contentType: DecisionFeedForm.jsonLines, connection)
            settlement.published(
                seq: seq,
                for: owners,
                resend: .init(message: message, contentType: DecisionFeedForm.jsonLines)
            )
        }
    }

    func send(
        _ message: OutboundMessage,
        contentType: String = "application/json",
        _ connection: AMQPConnection
    ) throws -> UInt64 {
        var properties = AMQPProperties()
        properties.contentType = contentType
        properties.deliveryMode = AMQPProperties.persistent
        properties.correlationId = message.correlationID
        properties.messageId = message.messageID
        properties.replyTo = message.replyTo
        properties.userId = message.asWorker ? loginUser : nil
        properties.appId = "tollgate"
        // When it was published, in seconds: what the webhook bridge counts --max-age from.
        properties.timestamp = UInt64(clamping: wallClockMillis() / 1000)
        if !message.headers.isEmpty {
            properties.headers = AMQPTable(
                message.headers.map { AMQPTable.Entry(key: $0.name, value: .string($0.value)) }
            )
        }
        if let id = message.outboxID { inFlightOutbox.insert(id) }
        return try connection.publish(
            exchange: message.exchange,
            routingKey: message.routingKey,
            body: message.body,
            properties: properties,
            mandatory: message.mandatory
        )
    }

    /// Acks inputs whose publishes are confirmed, requeues those the broker rejected.
    func flushSettled(_ connection: AMQPConnection) throws {
        let ready = settlement.take()
        for id in ready.confirmedOutbox { inFlightOutbox.remove(id) }
        for id in ready.rejectedOutbox { inFlightOutbox.remove(id) }
        confirmedOutbox += ready.confirmedOutbox
        if !ready.ack.isEmpty { faults.reached(.beforeAck) }
        for (tag, multiple) in unacked.plan(ready: ready.ack) {
            try connection.ack(deliveryTag: tag, multiple: multiple)
        }
        try requeue(ready.requeue, connection)
        if !ready.publishAgain.isEmpty {
            let now = clock.monotonicMillis()
            for rejected in ready.publishAgain {
                // 100 ms, doubling up to 5 s: a quorum queue elects a new leader within seconds.
                let wait = Int64(min(5_000, 100 << min(rejected.resend.attempts - 1, 6)))
                publishAgain.append((now + wait, rejected))
            }
            logger.warning(
                "the broker rejected publishes; publishing them again (the inputs stay unacked)",
                metadata: [
                    "count": "\(ready.publishAgain.count)",
                    "attempt": "\(ready.publishAgain.map(\.resend.attempts).max() ?? 1)",
                ]
            )
        }
    }

    /// RabbitMQ closes the whole connection (541 INTERNAL_ERROR) when a message is published to a
    /// direct reply-to address (`amq.rabbitmq.reply-to.…`) it cannot decode. An agent that forged
    /// one would make the worker reconnect for ever and use up the deliveries of every call in
    /// flight with it. After such a close the worker stops replying to the direct reply-to
    /// addresses it had publishes in flight to; those decisions are still recorded, audited and
    /// on the decision feed (direct reply-to is at most once anyway).
    func noteConnectionClosed(_ error: AMQPError) {
        guard case .connectionClosed(let code, _) = error.kind, code == 541 else { return }
        let suspects = Set(
            settlement.unconfirmedMessages.filter { $0.exchange.isEmpty && $0.routingKey.hasPrefix(Self.directReplyTo) }
                .map(\.routingKey)
        )
        guard !suspects.isEmpty else { return }
        if blockedReplyTo.count > 10_000 { blockedReplyTo.removeAll() }
        blockedReplyTo.formUnion(suspects)
        logger.error(
            "the broker closed the connection while replies to direct reply-to addresses were in flight; not replying to those addresses any more",
            metadata: ["addresses": "\(suspects.sorted().joined(separator: ","))", LogKey.error: "\(error)"]
        )
    }

    static let directReplyTo = "amq.rabbitmq.reply-to."

    /// A reply to a blocked direct reply-to address: not published (its outbox row is done).
    func isBlockedReply(_ message: OutboundMessage) -> Bool {
        guard !blockedReplyTo.isEmpty, message.exchange.isEmpty, blockedReplyTo.contains(message.routingKey) else {
            return false
        }
        if let id = message.outboxID { confirmedOutbox.append(id) }
        gate.countUnroutable()
        logger.warning(
            "not replying to a direct reply-to address whose publish closed the connection before",
            metadata: ["reply_to": "\(message.routingKey)", "correlation_id": "\(message.correlationID ?? "-")"]
        )
        return true
    }

    /// Makes again the rejected publishes that are due, in the order they were rejected.
    func publishDueAgain(_ connection: AMQPConnection) throws {
        guard !publishAgain.isEmpty else { return }
        let now = clock.monotonicMillis()
        guard publishAgain.contains(where: { $0.due <= now }) else { return }
        var waiting: [(due: Int64, rejected: Settlement.Rejected)] = []
        connection.holdPublishes()
        for entry in publishAgain {
            guard entry.due <= now else {
                waiting.append(entry)
                continue
            }
            let resend = entry.rejected.resend
            let seq = try send(resend.message, contentType: resend.contentType, connection)
            settlement.publishedAgain(seq: seq, entry.rejected)
        }
        publishAgain = waiting
        try connection.flushPublishes()
    }

    func republishOutbox(_ connection: AMQPConnection) throws {
        let rows = try store.outbox()
        guard !rows.isEmpty else { return }
        logger.info("publishing messages left in the outbox", metadata: ["count": "\(rows.count)"])
        connection.holdPublishes()
        var feed = FeedBatch()
        for row in rows {
            guard let id = row.outboxID, !inFlightOutbox.contains(id), !isBlockedReply(row) else { continue }
            try send(row, owner: .init(deliveryTag: nil, outboxID: id), &feed, connection)
        }
        try sendFeed(feed, connection)
        try connection.flushPublishes()
    }
}
