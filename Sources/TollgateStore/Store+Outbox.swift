import Foundation

// Messages a state change obliges the worker to publish, kept until the broker confirms them.
extension Store {
    private static let outboxColumns =
        "exchange, routing_key, correlation_id, body, mandatory, message_id, reply_to, headers, as_worker"

    /// Adds a message to publish; returns it with its `outboxID`.
    public func enqueue(_ message: OutboundMessage) throws(StoreError) -> OutboundMessage {
        try db.run(
            "INSERT INTO outbox(\(Self.outboxColumns)) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            [
                .text(message.exchange), .text(message.routingKey), .text(message.correlationID), .blob(message.body),
                .bool(message.mandatory), .text(message.messageID), .text(message.replyTo),
                .text(message.headers.isEmpty ? nil : Self.encodeHeaders(message.headers)), .bool(message.asWorker),
            ]
        )
        var stored = message
        stored.outboxID = db.lastInsertRowID
        return stored
    }

    /// Messages not yet confirmed, oldest first.
    public func outbox(limit: Int = .max) throws(StoreError) -> [OutboundMessage] {
        try db.all("SELECT id, \(Self.outboxColumns) FROM outbox ORDER BY id LIMIT ?1", [.integer(limit)]) {
            row throws(StoreError) in
            OutboundMessage(
                exchange: try row.string(1),
                routingKey: try row.string(2),
                body: try row.blob(4),
                correlationID: try row.optionalString(3),
                mandatory: try row.bool(5),
                messageID: try row.optionalString(6),
                replyTo: try row.optionalString(7),
                headers: try row.optionalString(8).map { text throws(StoreError) in try Self.decodeHeaders(text) }
                    ?? [],
                asWorker: try row.bool(9),
                outboxID: try row.int64(0)
            )
        }
    }

    /// Deletes outbox messages the broker confirmed.
    public func deleteOutbox(ids: some Sequence<Int64>) throws(StoreError) {
        for id in ids { try db.run("DELETE FROM outbox WHERE id = ?1", [.integer(id)]) }
    }

    public func outboxCount() throws(StoreError) -> Int {
        try db.first("SELECT count(*) FROM outbox") { row throws(StoreError) in try row.int(0) } ?? 0
    }

    private static func encodeHeaders(_ headers: [OutboundMessage.Header]) -> String {
        let pairs = headers.map { [$0.name, $0.value] }
        return (try? String(decoding: JSONEncoder().encode(pairs), as: UTF8.self)) ?? "[]"
    }

    private static func decodeHeaders(_ text: String) throws(StoreError) -> [OutboundMessage.Header] {
        guard let pairs = try? JSONDecoder().decode([[String]].self, from: Data(text.utf8)),
            pairs.allSatisfy({ $0.count == 2 })
        else {
            throw StoreError(kind: .unreadable, message: "outbox headers '\(text.prefix(80))' are not [[name, value]]")
        }
        return pairs.map { OutboundMessage.Header($0[0], $0[1]) }
    }
}
