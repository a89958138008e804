/// What went wrong talking to RabbitMQ, what the library or broker said, and what to do.
///
/// `description` is one or two sentences for an operator; it never contains the password.
/// `isRetryable` says whether opening a new connection (after a `Backoff` delay) can help:
/// network failures, heartbeat timeouts and broker restarts are retryable; bad credentials,
/// a missing vhost or plugin, and queues declared with other arguments are not.
public struct AMQPError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The AMQP URL could not be parsed.
        case invalidURL
        /// A value the library refused (too long a name, a table too big for a frame, bad TLS files).
        case invalidArgument
        /// Nothing listens at host:port.
        case connectionRefused
        /// The host name does not resolve.
        case hostNotFound
        /// The broker refused the user name or password (403 during login).
        case authenticationFailed
        /// The vhost does not exist or the user has no permission on it (530 during connection.open),
        /// or the broker refused an operation (403 ACCESS_REFUSED).
        case accessRefused
        /// A broker plugin the operation needs is not enabled (declaring an exchange of a type the
        /// broker does not know, e.g. `x-consistent-hash`).
        case pluginNotEnabled(plugin: String)
        /// The broker closed the channel (a soft error: code 404, 405, 406, ...). This wrapper uses one
        /// channel, so the whole connection is closed afterwards.
        case channelClosed(code: UInt16, text: String)
        /// The broker closed the connection (320 CONNECTION_FORCED: an operator closed it or the broker
        /// is shutting down; 5xx: a protocol error).
        case connectionClosed(code: UInt16, text: String)
        /// No data from the broker for two heartbeat intervals: the peer or the network is gone.
        case heartbeatTimeout
        /// The TCP connection failed or was lost (reset, broken pipe, closed by the peer).
        case socketError
        /// TLS handshake or certificate verification failed.
        case tlsError
        /// The broker sent something this wrapper cannot interpret.
        case protocolError
        /// Connect, login or a synchronous call took longer than its limit.
        case timeout
        /// The connection was closed (by `close()` or after an earlier error) and cannot be used.
        case closed
    }

    public var kind: Kind
    /// The rabbitmq-c status (`amqp_status_enum`, negative) when the library reported the error.
    public var libraryStatus: Int32?
    /// The AMQP reply code when the broker reported the error (also in `kind` for closes).
    public var replyCode: UInt16?
    /// The library's or broker's own text.
    public var message: String
    /// What the connection was doing: "connecting to 127.0.0.1:5672", "declaring queue 'q'".
    public var context: String
    /// The broker (`host:port`), user and vhost of the connection, when known. Never the password.
    public var endpoint: String?
    public var user: String?
    public var vhost: String?

    public init(
        _ kind: Kind,
        message: String,
        context: String,
        libraryStatus: Int32? = nil,
        replyCode: UInt16? = nil,
        endpoint: String? = nil,
        user: String? = nil,
        vhost: String? = nil
    ) {
        self.kind = kind
        self.message = message
        self.context = context
        self.libraryStatus = libraryStatus
        self.replyCode = replyCode
        self.endpoint = endpoint
        self.user = user
        self.vhost = vhost
    }

    /// Whether a new connection, after a delay, may succeed.
    public var isRetryable: Bool {
        switch kind {
        case .invalidURL, .invalidArgument, .authenticationFailed, .accessRefused, .pluginNotEnabled:
            return false
        case .channelClosed(let code, _), .connectionClosed(let code, _):
            // 403 access refused, 406 precondition failed (arguments differ, user_id mismatch),
            // 503 command invalid, 530 not allowed, 540 not implemented: the same request fails again.
            return ![403, 406, 503, 530, 540].contains(code)
        case .tlsError:
            // Certificate problems are configuration; a failed handshake may be transient.
            return libraryStatus != AMQPError.sslHostnameVerifyFailed && libraryStatus != AMQPError.sslPeerVerifyFailed
        case .connectionRefused, .hostNotFound, .heartbeatTimeout, .socketError, .protocolError, .timeout, .closed:
            return true
        }
    }

    public var description: String {
        switch kind {
        case .invalidURL:
            return "\(context) failed: \(message)"
        case .invalidArgument:
            return "\(context) failed: \(message)"
        case .connectionRefused:
            return
                "\(context) failed: no broker at \(endpoint ?? "the given host and port") (connection refused): is RabbitMQ running? "
                + "try deploy/broker.sh start"
        case .hostNotFound:
            return "\(context) failed: the host name does not resolve: check the host in the AMQP URL"
        case .authenticationFailed:
            return "\(context) failed: login refused for user '\(user ?? "?")': check the user and password"
        case .accessRefused:
            if context.hasPrefix("connecting") {
                return "\(context) failed: vhost '\(vhost ?? "?")' does not exist or user '\(user ?? "?")' has "
                    + "no access to it (\(message)): create the vhost or grant permissions with "
                    + "`rabbitmqctl set_permissions -p <vhost> <user> '.*' '.*' '.*'`"
            }
            return "\(context) failed: access refused by the broker (\(message)): check the user's permissions"
        case .pluginNotEnabled(let plugin):
            return "the RabbitMQ plugin \(plugin) is not enabled: run `rabbitmq-plugins enable \(plugin)` "
                + "(\(context) failed: \(message))"
        case .channelClosed(let code, let text):
            if code == 406, context.hasPrefix("declaring queue") || context.hasPrefix("declaring exchange") {
                return "\(context) failed: it already exists with different arguments or properties "
                    + "(\(code) \(text)): delete it, or declare it with the same arguments"
            }
            return "the broker closed the channel (\(code) \(text)) while \(context)"
                + (isRetryable ? "; reconnect" : "; retrying the same request will fail again")
        case .connectionClosed(let code, let text):
            return "the broker closed the connection (\(code) \(text)) while \(context)"
                + (isRetryable ? "; reconnect" : "")
        case .heartbeatTimeout:
            return "no data from the broker within two heartbeat intervals while \(context): the broker or the "
                + "network is gone; reconnect"
        case .socketError:
            return "connection lost while \(context): \(message); reconnect"
        case .tlsError:
            return "TLS failed while \(context): \(message): check the CA file, the broker's certificate and the "
                + "host name in the URL"
        case .protocolError:
            return "unexpected data from the broker while \(context): \(message); reconnect"
        case .timeout:
            return "timed out while \(context) (\(message)); check that the broker is reachable and not overloaded"
        case .closed:
            return "the AMQP connection is closed (\(message)); open a new one"
        }
    }

    public var debugDescription: String {
        var s = "AMQPError(\(kind), context: \(context), message: \(message)"
        if let libraryStatus { s += ", libraryStatus: \(libraryStatus)" }
        if let replyCode { s += ", replyCode: \(replyCode)" }
        return s + ")"
    }

    static let sslHostnameVerifyFailed: Int32 = -0x0201
    static let sslPeerVerifyFailed: Int32 = -0x0202
}
