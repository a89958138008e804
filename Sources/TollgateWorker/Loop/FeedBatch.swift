import TollgateStore

/// The decision feed of one batch with `--decision-feed batch`: the batch's decisions grouped by
/// routing key (`<decision>.<tool_name>`), one message per key whose body is JSON Lines (each
/// decision's JSON and a line feed, in decision order), keys in the order of their first
/// decision. Each message settles every input and outbox row whose decision it carries. Pure
/// bookkeeping, unit tested on its own.
struct FeedBatch {
    struct Group {
        var routingKey: String
        var exchange: String
        var body: [UInt8]
        var owners: [Settlement.Owner]
    }

    private var groups: [Group] = []
    private var index: [String: Int] = [:]

    /// Adds one decision of the feed (a message for `<prefix>.decisions` whose body is one JSON
    /// object, as the core makes it).
    mutating func add(_ message: OutboundMessage, owner: Settlement.Owner) {
        if let at = index[message.routingKey] {
            groups[at].body += message.body
            groups[at].body.append(0x0A)
            groups[at].owners.append(owner)
        } else {
            index[message.routingKey] = groups.count
            var body = message.body
            body.append(0x0A)
            groups.append(
                Group(
                    routingKey: message.routingKey,
                    exchange: message.exchange,
                    body: body,
                    owners: [owner]
                )
            )
        }
    }

    /// The messages to publish, each with what it settles.
    var messages: [(message: OutboundMessage, owners: [Settlement.Owner])] {
        groups.map { group in
            (OutboundMessage(exchange: group.exchange, routingKey: group.routingKey, body: group.body), group.owners)
        }
    }
}
