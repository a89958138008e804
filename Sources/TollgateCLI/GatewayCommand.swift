import ArgumentParser
import Foundation
import Logging
import TollgateHTTP

struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Serve the approvals inbox (a web page) and the JSON API where people and bots vote.",
        discussion: """
            Follows the whole fleet: at start it asks every worker for its pending requests, then \
            follows <prefix>.escalations (pending, voted, resolved) with a queue of its own, and \
            keeps the list in memory (a restart asks again).

            Who votes (--auth): `broker` (default) signs people in with their RabbitMQ user and \
            password, checked by logging in as them; their votes go over that connection, so the \
            broker vouches for their user_id, and the password is never stored. `proxy` believes the \
            person named in --user-header, only from --trusted-proxy addresses (oauth2-proxy and the \
            like), and votes as the gateway's own broker user naming the person: list that user in \
            the workers' --trusted-gateway. Bots (--bot-hmac, --bot-token) sign or authenticate each \
            request and name the person in `approver`; they vote like a proxy user.

            The gateway's own broker user is the one of --amqp-url (tollgate-gateway in \
            deploy/rabbitmq/definitions.json). Without --tls-cert it serves plain HTTP: run it behind \
            a TLS proxy, or on 127.0.0.1.

            Examples:
              tollgate gateway --listen 127.0.0.1:8080 --amqp-url amqp://tollgate-gateway:secret@127.0.0.1:5672/
              tollgate gateway --listen 0.0.0.0:8443 --tls-cert gateway.pem --tls-key gateway.key \\
                  --bot-hmac slack=/etc/tollgate/slack.secret
              tollgate gateway --auth proxy --trusted-proxy 127.0.0.1 --user-header X-Forwarded-Email
            """
    )

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var logging: LoggingOptions

    @Option(help: "HOST:PORT to listen on (env TOLLGATE_GATEWAY_LISTEN; default 127.0.0.1:8080).")
    var listen: String?

    @Option(help: "TLS certificate chain, PEM (with --tls-key): serve HTTPS.")
    var tlsCert: String?

    @Option(help: "TLS private key, PEM.")
    var tlsKey: String?

    @Option(help: "broker (people sign in with their RabbitMQ user) or proxy (a single sign-on proxy names them).")
    var auth = "broker"

    @Option(name: .customLong("trusted-proxy"), help: "Address of the single sign-on proxy (--auth proxy); repeatable.")
    var trustedProxies: [String] = []

    @Option(help: "The header the proxy names the person in (--auth proxy; default X-Forwarded-User).")
    var userHeader = "X-Forwarded-User"

    @Option(
        name: .customLong("bot-hmac"),
        help: "A bot that signs its requests: NAME=FILE, the file holding its secret; repeatable."
    )
    var botHMAC: [String] = []

    @Option(
        name: .customLong("bot-token"),
        help: "A bot that sends a bearer token: NAME=FILE, the file holding the token; repeatable."
    )
    var botToken: [String] = []

    @Option(help: "Minutes a signed-in session may stay unused (default 30).")
    var sessionIdleMinutes = 30

    @Option(help: "Votes per minute per person and per bot (default 30).")
    var votesPerMinute = 30

    func makeConfiguration() throws -> GatewayConfiguration {
        var c = GatewayConfiguration()
        let address = listen ?? environment("GATEWAY_LISTEN") ?? "127.0.0.1:8080"
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
            (1...65535).contains(port)
        else { throw ValidationError("--listen must be HOST:PORT, e.g. 127.0.0.1:8080 (got '\(address)')") }
        c.host = String(address[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        c.port = port
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("give both --tls-cert and --tls-key") }
        c.tlsCertificatePath = tlsCert
        c.tlsKeyPath = tlsKey
        c.amqpURLs = broker.resolvedURLs
        c.amqpTLS = broker.tls
        c.prefix = broker.resolvedPrefix
        guard let mode = GatewayConfiguration.Authentication(rawValue: auth) else {
            throw ValidationError("--auth must be broker or proxy, not '\(auth)'")
        }
        c.authentication = mode
        c.trustedProxies = Set(trustedProxies)
        if mode == .proxy, trustedProxies.isEmpty {
            throw ValidationError("--auth proxy needs --trusted-proxy ADDRESS: the header is believed only from there")
        }
        c.userHeader = userHeader
        c.bots = try botHMAC.map { try bot($0, bearer: false) } + botToken.map { try bot($0, bearer: true) }
        c.sessionIdleSeconds = sessionIdleMinutes * 60
        c.votesPerMinute = votesPerMinute
        return c
    }

    private func bot(_ spec: String, bearer: Bool) throws -> BotAuthenticator.Bot {
        let parts = spec.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty else { throw ValidationError("a bot is NAME=FILE, not '\(spec)'") }
        guard let data = FileManager.default.contents(atPath: parts[1]) else {
            throw ValidationError("cannot read the secret of bot \(parts[0]) from \(parts[1])")
        }
        let secret = Array(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines).utf8)
        guard secret.count >= 16 else {
            throw ValidationError(
                "the secret of bot \(parts[0]) is \(secret.count) bytes; use at least 16 random bytes"
            )
        }
        return BotAuthenticator.Bot(name: parts[0], secret: secret, bearer: bearer)
    }

    func run() async throws {
        let configuration = try makeConfiguration()
        let logger = try logging.makeLogger(label: "tollgate.gateway")
        do {
            try await runGateway(configuration: configuration, logger: logger)
        } catch {
            logger.critical("gateway stopped: \(error)")
            throw ExitCode(1)
        }
    }
}
