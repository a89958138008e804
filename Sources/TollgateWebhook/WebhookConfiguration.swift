import TollgateAMQP
import TollgateWorker

/// How `tollgate webhook` runs: where notices come from, where they go, how they are signed and
/// how long they are retried.
public struct WebhookConfiguration: Sendable {
    /// One receiver: its name (the bridge's queue is `<prefix>.webhook.<name>`, kept when the URL
    /// changes) and its URL.
    public struct Target: Sendable, Equatable {
        public var name: String
        public var url: String
        public init(name: String, url: String) {
            self.name = name
            self.url = url
        }
    }

    public enum Format: String, Sendable, CaseIterable {
        /// The notice's own JSON body, byte for byte.
        case json
        /// A Slack message (text and blocks).
        case slack
    }

    /// The notice kinds on `<prefix>.escalations` the bridge can follow.
    public static let knownEvents = ["pending", "voted", "resolved", "limited", "revoked"]
    public static let defaultEvents = ["pending", "voted", "resolved", "limited"]

    public var amqpURLs: [String] = ["amqp://guest:guest@127.0.0.1:5672/"]
    public var amqpTLS = AMQPConfiguration.TLSOptions()
    public var prefix = "tollgate"
    public var targets: [Target] = []
    public var format = Format.json
    public var events = defaultEvents
    /// The HMAC key; nil sends unsigned requests.
    public var secret: [UInt8]?
    public var retry = RetryPolicy()
    /// Seconds one POST may take, connecting included.
    public var timeoutSeconds: Int64 = 10
    /// Notices each target's queue hands the bridge before an ack: how many requests' notices
    /// are delivered side by side.
    public var prefetch: UInt16 = 32
    /// The approvals inbox (`tollgate gateway`), for links in Slack messages.
    public var inboxURL: String?

    public init() {}

    public var topology: Topology { Topology(prefix: prefix) }

    public func queueName(of target: Target) -> String { "\(prefix).webhook.\(target.name)" }

    /// `NAME=URL` as a target, or why not.
    public static func parseTarget(_ spec: String) throws(WebhookConfigurationError) -> Target {
        let example = "e.g. --url slack=https://hooks.slack.com/services/T000/B000/XXXX"
        guard let equals = spec.firstIndex(of: "=") else {
            throw WebhookConfigurationError(
                "--url needs a name: NAME=URL (the name is the bridge's queue, <prefix>.webhook.NAME, kept when the URL changes); \(example)"
            )
        }
        let name = String(spec[..<equals])
        let url = String(spec[spec.index(after: equals)...])
        guard !name.isEmpty, name.utf8.count <= 100,
            name.unicodeScalars.allSatisfy({
                ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || $0 == "-" || $0 == "_"
            })
        else {
            throw WebhookConfigurationError(
                "the name in --url '\(spec)' must be letters, digits, - and _ (at most 100): NAME=URL, \(example)"
            )
        }
        let lower = url.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://"), url.count > 8 else {
            throw WebhookConfigurationError(
                "the URL of target \(name) must start with http:// or https:// (got '\(url)')"
            )
        }
        return Target(name: name, url: url)
    }

    /// Checks what flags cannot: at least one target, unique names, sane bounds.
    public func validate() throws(WebhookConfigurationError) {
        if targets.isEmpty {
            throw WebhookConfigurationError("give at least one --url NAME=URL")
        }
        var seen: Set<String> = []
        for target in targets where !seen.insert(target.name).inserted {
            throw WebhookConfigurationError("two targets are named \(target.name): each --url needs its own name")
        }
        for event in events where !Self.knownEvents.contains(event) {
            throw WebhookConfigurationError(
                "--events: unknown notice '\(event)'; known: \(Self.knownEvents.joined(separator: ", "))"
            )
        }
        if events.isEmpty { throw WebhookConfigurationError("--events must name at least one kind of notice") }
        if retry.maxAttempts < 1 { throw WebhookConfigurationError("--max-attempts must be at least 1") }
        if retry.maxAgeMillis < 1000 { throw WebhookConfigurationError("--max-age must be at least 1 s") }
        if retry.initialBackoffMillis < 1 || retry.maxBackoffMillis < retry.initialBackoffMillis {
            throw WebhookConfigurationError("--max-backoff must be at least --initial-backoff, and both above 0")
        }
        if timeoutSeconds < 1 { throw WebhookConfigurationError("--timeout must be at least 1 s") }
        if prefetch < 1 { throw WebhookConfigurationError("--prefetch must be at least 1") }
        if let secret, secret.count < 16 {
            throw WebhookConfigurationError("the secret is \(secret.count) bytes; use at least 16 random bytes")
        }
        if let inboxURL, !(inboxURL.hasPrefix("http://") || inboxURL.hasPrefix("https://")) {
            throw WebhookConfigurationError("--inbox-url must start with http:// or https:// (got '\(inboxURL)')")
        }
    }
}

public struct WebhookConfigurationError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}
