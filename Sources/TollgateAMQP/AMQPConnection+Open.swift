import CRabbitMQ

#if canImport(Glibc)
import Glibc
#endif

// Opening: socket (TCP or TLS), login, channel.
extension AMQPConnection {
    func open(_ session: Session) throws(AMQPError) {
        let st = session.handle
        let url = configuration.url
        let context = "connecting to \(url.endpoint)"
        func error(_ kind: AMQPError.Kind, _ message: String, status: Int32? = nil, code: UInt16? = nil) -> AMQPError {
            AMQPError(
                kind,
                message: message,
                context: context,
                libraryStatus: status,
                replyCode: code,
                endpoint: url.endpoint,
                user: url.user,
                vhost: url.vhost
            )
        }
        for (what, value) in [("host", url.host), ("user", url.user), ("password", url.password), ("vhost", url.vhost)]
        where value.utf8.contains(0) {
            throw error(.invalidArgument, "the \(what) contains a NUL character")
        }
        guard let socket = url.tls ? amqp_ssl_socket_new(st) : amqp_tcp_socket_new(st) else {
            throw error(.socketError, "could not create a socket")
        }
        if url.tls { try configureTLS(socket, error) }
        var connectTimeout = timeval(configuration.connectTimeout)
        let status = amqp_socket_open_noblock(socket, url.host, Int32(url.port), &connectTimeout)
        let savedErrno = errno
        if status != AMQP_STATUS_OK.rawValue {
            // rabbitmq-c connects without blocking and reports a refused connection as a generic
            // socket error (errno is EINPROGRESS by then); ask the kernel once more to tell them apart.
            var err = savedErrno
            if status == AMQP_STATUS_SOCKET_ERROR.rawValue || status == AMQP_STATUS_TCP_ERROR.rawValue {
                err = Self.probeConnect(host: url.host, port: url.port) ?? savedErrno
            }
            throw error(Self.connectKind(status, err), Self.message(status, err), status: status)
        }
        _ = amqp_set_handshake_timeout(st, &connectTimeout)
        var rpcTimeout = timeval(configuration.rpcTimeout)
        _ = amqp_set_rpc_timeout(st, &rpcTimeout)
        setUserTimeout(amqp_get_sockfd(st))

        arena.recycle()
        var clientProperties = arena.table(clientPropertiesTable())
        let reply = tollgate_amqp_login_plain(
            st,
            url.vhost,
            Int32(configuration.channelMax),
            Int32(configuration.frameMax),
            Int32(configuration.heartbeatSeconds),
            &clientProperties,
            url.user,
            url.password
        )
        try checkLogin(st, reply) { kind, message, status, code in error(kind, message, status: status, code: code) }
        heartbeatSeconds = Int(amqp_get_heartbeat(st))
        frameMax = Int(amqp_get_frame_max(st))
        if let props = amqp_get_server_properties(st) { serverProperties = decodeTable(props.pointee) }
        if !url.tls, configuration.coalescePublishFrames { session.writer = FrameWriter(frameMax: frameMax) }

        _ = amqp_channel_open(st, Self.channel)
        try check(amqp_get_rpc_reply(st), "opening the channel")
        amqp_maybe_release_buffers(st)
    }

    private func configureTLS(
        _ socket: OpaquePointer,
        _ error: (AMQPError.Kind, String, Int32?, UInt16?) -> AMQPError
    ) throws(AMQPError) {
        let tls = configuration.tls
        if let ca = tls.caCertificatePath {
            let status = amqp_ssl_socket_set_cacert(socket, ca)
            guard status == AMQP_STATUS_OK.rawValue else {
                throw error(.invalidArgument, "cannot load the CA file '\(ca)'", status, nil)
            }
        }
        if let cert = tls.clientCertificatePath, let key = tls.clientKeyPath {
            let status = amqp_ssl_socket_set_key(socket, cert, key)
            guard status == AMQP_STATUS_OK.rawValue else {
                throw error(
                    .invalidArgument,
                    "cannot load the client certificate '\(cert)' or key '\(key)'",
                    status,
                    nil
                )
            }
        }
        amqp_ssl_socket_set_verify_peer(socket, tls.verifyPeer ? 1 : 0)
        amqp_ssl_socket_set_verify_hostname(socket, tls.verifyHostname ? 1 : 0)
    }

    /// The errno of a plain TCP connect to host:port (waiting at most 2 s), nil if it connects.
    private static func probeConnect(host: String, port: Int) -> Int32? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>? = nil
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else { return nil }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        if connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 { return nil }
        guard errno == EINPROGRESS else { return errno }
        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&pfd, 1, 2000) == 1 else { return ETIMEDOUT }
        var soError: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &len) == 0 else { return nil }
        return soError == 0 ? nil : soError
    }

    private func clientPropertiesTable() -> AMQPTable {
        var table: AMQPTable = [
            "product": "tollgate",
            "capabilities": .table([
                "publisher_confirms": true,
                "basic.nack": true,
                "consumer_cancel_notify": true,
                "connection.blocked": true,
                "authentication_failure_close": true,
            ]),
        ]
        if let name = configuration.connectionName { table["connection_name"] = .string(name) }
        return table
    }

    /// With heartbeats on, a send that the peer never acknowledges fails after two intervals
    /// instead of the kernel's ~15 minutes (a publish blocked on a vanished broker).
    private func setUserTimeout(_ fd: Int32) {
        guard fd >= 0, configuration.heartbeatSeconds > 0 else { return }
        var ms = UInt32(min(configuration.heartbeatSeconds * 2, 600) * 1000)
        let tcpUserTimeout: Int32 = 18  // TCP_USER_TIMEOUT (Linux), not exported by Glibc's module
        _ = setsockopt(fd, Int32(IPPROTO_TCP), tcpUserTimeout, &ms, socklen_t(MemoryLayout<UInt32>.size))
    }

    private func checkLogin(
        _ st: amqp_connection_state_t,
        _ reply: amqp_rpc_reply_t,
        _ error: (AMQPError.Kind, String, Int32?, UInt16?) -> AMQPError
    ) throws(AMQPError) {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return
        case AMQP_RESPONSE_SERVER_EXCEPTION where reply.reply.id == AMQPMethod.connectionClose:
            let close = reply.reply.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            let text = close.reply_text.string
            var ok = amqp_connection_close_ok_t(dummy: 0)
            _ = amqp_send_method(st, 0, AMQPMethod.connectionCloseOk, &ok)
            switch close.reply_code {
            case 403 where close.method_id != 40:  // 403 on connection.start-ok: bad credentials
                throw error(.authenticationFailed, text, nil, close.reply_code)
            case 403, 530:  // connection.open refused: no such vhost, or no permission on it
                throw error(.accessRefused, text, nil, close.reply_code)
            default:
                throw error(.connectionClosed(code: close.reply_code, text: text), text, nil, close.reply_code)
            }
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            let status = reply.library_error
            // Brokers without authentication_failure_close drop the socket on bad credentials.
            if status == AMQP_STATUS_CONNECTION_CLOSED.rawValue || status == AMQP_STATUS_SOCKET_CLOSED.rawValue {
                throw error(.authenticationFailed, "the broker closed the connection during login", status, nil)
            }
            throw error(Self.kind(status), Self.message(status, errno), status, nil)
        default:
            throw error(.protocolError, "unexpected reply during login", nil, nil)
        }
    }
}
