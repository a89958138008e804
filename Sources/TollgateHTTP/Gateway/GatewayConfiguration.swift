import TollgateAMQP
import TollgateWorker

/// Everything `tollgate gateway` needs, with its defaults.
public struct GatewayConfiguration: Sendable {
    public enum Authentication: String, Sendable {
        /// People sign in with their RabbitMQ user and password; their votes go over their own
        /// connection, so the broker vouches for them.
        case broker
        /// A single sign-on proxy names the person in a header (only from `trustedProxies`); the
        /// gateway votes as a trusted gateway naming them.
        case proxy
    }

    public var host = "127.0.0.1"
    public var port = 8080
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?
    /// The gateway's own broker user (for following the fleet, and trusted-gateway votes for
    /// proxy users and bots): the workers' `--trusted-gateway`.
    public var amqpURLs: [String] = [WorkerConfiguration.defaultAMQPURL]
    public var amqpTLS = AMQPConfiguration.TLSOptions()
    public var prefix = "tollgate"
    public var authentication = Authentication.broker
    public var trustedProxies: Set<String> = []
    public var userHeader = "X-Forwarded-User"
    public var bots: [BotAuthenticator.Bot] = []
    /// Minutes a signed-in session may stay unused.
    public var sessionIdleSeconds = 30 * 60
    /// Votes per minute per person and per bot (with a burst of the same size).
    public var votesPerMinute = 30
    /// Sign-in attempts per minute per user name.
    public var signInsPerMinute = 10

    public init() {}

    var usesTLS: Bool { tlsCertificatePath != nil }
}
