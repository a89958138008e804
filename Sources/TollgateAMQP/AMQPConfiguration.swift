/// Everything needed to open an `AMQPConnection`. Plain values with defaults.
public struct AMQPConfiguration: Sendable {
    /// TLS settings for `amqps://` URLs (rabbitmq-c's OpenSSL socket).
    public struct TLSOptions: Sendable, Hashable {
        /// PEM file of the CA(s) that signed the broker's certificate; nil = the library's default
        /// (no CA loaded: peer verification then fails, so set this or turn `verifyPeer` off).
        public var caCertificatePath: String?
        /// Verify the broker's certificate chain against `caCertificatePath`.
        public var verifyPeer: Bool
        /// Verify that the certificate names `url.host` (DNS names; rabbitmq-c 0.11 does not match IP SANs).
        public var verifyHostname: Bool
        /// Client certificate and key (PEM) for brokers that require one.
        public var clientCertificatePath: String?
        public var clientKeyPath: String?

        public init(
            caCertificatePath: String? = nil,
            verifyPeer: Bool = true,
            verifyHostname: Bool = true,
            clientCertificatePath: String? = nil,
            clientKeyPath: String? = nil
        ) {
            self.caCertificatePath = caCertificatePath
            self.verifyPeer = verifyPeer
            self.verifyHostname = verifyHostname
            self.clientCertificatePath = clientCertificatePath
            self.clientKeyPath = clientKeyPath
        }
    }

    public var url: AMQPURL
    /// Heartbeat interval proposed to the broker (the smaller of both wins); 0 disables heartbeats.
    /// A silent peer is detected after about twice this long.
    public var heartbeatSeconds: Int
    /// Largest frame size proposed (bytes); bodies larger than a frame are split by the library.
    public var frameMax: Int
    /// Channels proposed; this connection uses one.
    public var channelMax: Int
    /// Shown by the broker (management UI, `rabbitmqctl list_connections client_properties`).
    public var connectionName: String?
    public var tls: TLSOptions
    /// TCP connect plus AMQP handshake (login) limit.
    public var connectTimeout: Duration
    /// Limit for each synchronous broker call (declare, bind, qos, consume, cancel, close).
    public var rpcTimeout: Duration
    /// On plain TCP, send a publish's method, header and body frames with one syscall instead of
    /// rabbitmq-c's three (`FrameWriter`). Off only to compare (tollgate-bench relay --no-coalesce).
    public var coalescePublishFrames: Bool = true

    public init(
        url: AMQPURL,
        heartbeatSeconds: Int = 30,
        frameMax: Int = 131_072,
        channelMax: Int = 0,
        connectionName: String? = nil,
        tls: TLSOptions = TLSOptions(),
        connectTimeout: Duration = .seconds(10),
        rpcTimeout: Duration = .seconds(30)
    ) {
        self.url = url
        self.heartbeatSeconds = heartbeatSeconds
        self.frameMax = frameMax
        self.channelMax = channelMax
        self.connectionName = connectionName
        self.tls = tls
        self.connectTimeout = connectTimeout
        self.rpcTimeout = rpcTimeout
    }
}
