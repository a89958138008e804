import CRabbitMQ

#if canImport(Glibc)
import Glibc
#endif

// Errors: rabbitmq-c statuses, broker exceptions and closes, mapped to `AMQPError`.
extension AMQPConnection {
    /// Records a failure, tears the connection down and returns the error to throw.
    func fail(_ error: AMQPError) -> AMQPError {
        var error = error
        error.endpoint = configuration.url.endpoint
        error.user = configuration.url.user
        error.vhost = configuration.url.vhost
        switch state {
        case .connecting(let session), .open(let session):
            logger.debug("AMQP connection failed", metadata: [AMQPLogKey.error: "\(error)"])
            move(to: .failed(error), destroying: session)
        case .failed, .closed:
            break
        }
        return error
    }

    func fail(_ kind: AMQPError.Kind, _ message: String, _ context: String) -> AMQPError {
        fail(AMQPError(kind, message: message, context: context))
    }

    func fail(_ status: Int32, _ context: String) -> AMQPError {
        let savedErrno = errno
        return fail(
            AMQPError(
                Self.kind(status),
                message: Self.message(status, savedErrno),
                context: context,
                libraryStatus: status
            )
        )
    }

    /// Checks a synchronous call's reply; a broker exception is answered (close-ok) and thrown.
    func check(
        _ reply: amqp_rpc_reply_t,
        _ context: String,
        exchangeType: String? = nil
    ) throws(AMQPError) {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            throw fail(reply.library_error, context)
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            guard let st = state.session?.handle else { throw fail(.closed, "connection already closed", context) }
            throw closedByBroker(st, reply.reply, context, exchangeType: exchangeType)
        default:
            throw fail(.protocolError, "no reply", context)
        }
    }

    /// Answers a channel.close or connection.close from the broker and returns the error it means.
    func closedByBroker(
        _ st: amqp_connection_state_t,
        _ method: amqp_method_t,
        _ context: String,
        exchangeType: String? = nil
    ) -> AMQPError {
        let code: UInt16
        let text: String
        let channelLevel = method.id == AMQPMethod.channelClose
        if channelLevel {
            let close = method.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            (code, text) = (close.reply_code, close.reply_text.string)
            var ok = amqp_channel_close_ok_t(dummy: 0)
            _ = amqp_send_method(st, Self.channel, AMQPMethod.channelCloseOk, &ok)
            // This wrapper has one channel: without it the connection is useless, so close that too.
            _ = amqp_connection_close(st, AMQP_REPLY_SUCCESS)
        } else {
            let close = method.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            (code, text) = (close.reply_code, close.reply_text.string)
            var ok = amqp_connection_close_ok_t(dummy: 0)
            _ = amqp_send_method(st, 0, AMQPMethod.connectionCloseOk, &ok)
        }
        let kind: AMQPError.Kind
        // An unknown exchange type is 503 COMMAND_INVALID, a connection-level error.
        if code == 503, text.contains("unknown exchange type"), let type = exchangeType,
            let plugin = Self.plugin(forExchangeType: type)
        {
            kind = .pluginNotEnabled(plugin: plugin)
        } else if code == 403 {
            kind = .accessRefused
        } else if channelLevel {
            kind = .channelClosed(code: code, text: text)
        } else {
            kind = .connectionClosed(code: code, text: text)
        }
        return fail(AMQPError(kind, message: text, context: context, replyCode: code))
    }

    /// The plugin that provides a non-standard exchange type, for the error message.
    static func plugin(forExchangeType type: String) -> String? {
        switch type {
        case "x-consistent-hash": "rabbitmq_consistent_hash_exchange"
        case "x-delayed-message": "rabbitmq_delayed_message_exchange"
        case "x-random": "rabbitmq_random_exchange"
        case "x-modulus-hash": "rabbitmq_sharding"
        case "x-recent-history": "rabbitmq_recent_history_exchange"
        default: nil
        }
    }

    static func kind(_ status: Int32) -> AMQPError.Kind {
        switch status {
        case AMQP_STATUS_HEARTBEAT_TIMEOUT.rawValue: .heartbeatTimeout
        case AMQP_STATUS_TIMEOUT.rawValue: .timeout
        case AMQP_STATUS_HOSTNAME_RESOLUTION_FAILED.rawValue: .hostNotFound
        case AMQP_STATUS_INVALID_PARAMETER.rawValue, AMQP_STATUS_TABLE_TOO_BIG.rawValue, AMQP_STATUS_BAD_URL.rawValue:
            .invalidArgument
        case AMQP_STATUS_BAD_AMQP_DATA.rawValue, AMQP_STATUS_UNKNOWN_CLASS.rawValue,
            AMQP_STATUS_UNKNOWN_METHOD.rawValue, AMQP_STATUS_WRONG_METHOD.rawValue,
            AMQP_STATUS_UNEXPECTED_STATE.rawValue, AMQP_STATUS_INCOMPATIBLE_AMQP_VERSION.rawValue,
            AMQP_STATUS_BROKER_UNSUPPORTED_SASL_METHOD.rawValue, AMQP_STATUS_UNSUPPORTED.rawValue:
            .protocolError
        case AMQP_STATUS_SSL_ERROR.rawValue, AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED.rawValue,
            AMQP_STATUS_SSL_PEER_VERIFY_FAILED.rawValue, AMQP_STATUS_SSL_CONNECTION_FAILED.rawValue,
            AMQP_STATUS_SSL_SET_ENGINE_FAILED.rawValue:
            .tlsError
        default: .socketError
        }
    }

    static func connectKind(_ status: Int32, _ err: Int32) -> AMQPError.Kind {
        let k = kind(status)
        if k == .socketError, err == ECONNREFUSED { return .connectionRefused }
        return k
    }

    static func message(_ status: Int32, _ err: Int32) -> String {
        let text = libraryMessage(status)
        let socketish =
            status == AMQP_STATUS_SOCKET_ERROR.rawValue || status == AMQP_STATUS_TCP_ERROR.rawValue
            || status == AMQP_STATUS_CONNECTION_CLOSED.rawValue
        if socketish, err != 0, let e = strerror(err) { return "\(text) (\(String(cString: e)))" }
        return text
    }
}
