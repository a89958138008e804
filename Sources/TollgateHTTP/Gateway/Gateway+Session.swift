import Foundation
import Hummingbird
import NIOCore
import TollgateAMQP
import TollgateJSON

// Broker sign-in: the gateway checks a person's RabbitMQ user and password by logging in as
// them, keeps that connection for their votes (the broker vouches for their user_id), and never
// stores or logs the password.
extension Gateway {
    func signIn(_ request: Request, _ context: GatewayContext) async throws -> Response {
        guard configuration.authentication == .broker else {
            return Reply.error(.notFound, "this gateway signs people in through its single sign-on proxy")
        }
        var request = request
        let body = try await request.collectBody(upTo: context.maxUploadSize)
        guard let object = parseJSONObject(Array(buffer: body)), let user = object["user"]?.stringValue, !user.isEmpty,
            let password = object["password"]?.stringValue
        else {
            return Reply.error(.badRequest, #"send {"user": "...", "password": "..."}"#)
        }
        guard !user.contains("\0"), !password.contains("\0"), user.utf8.count <= 255, password.utf8.count <= 1024 else {
            return Reply.error(.badRequest, "a user name or password with a NUL character, or longer than AMQP allows")
        }
        if let wait = signInLimiter.take("sign-in:\(user)") {
            return Reply.error(
                .tooManyRequests,
                "too many sign-in attempts for \(user); try again in \(wait) s",
                retryAfter: wait
            )
        }
        let logins = try configuration.amqpURLs.map { address in
            var url = try AMQPURL(parsing: address)
            url.user = user
            url.password = password
            return url
        }
        let voter: VoterConnection
        do {
            voter = try await VoterConnection.open(
                trying: logins,
                tls: configuration.amqpTLS,
                topology: topology,
                logger: logger
            )
        } catch let error as AMQPError where error.kind == .authenticationFailed || error.kind == .accessRefused {
            logger.notice("gateway: sign-in refused", metadata: ["user": "\(user)"])
            return Reply.error(.unauthorized, "wrong user name or password")
        } catch {
            logger.warning("gateway: sign-in failed", metadata: ["user": "\(user)", "error": "\(error)"])
            return Reply.error(
                .serviceUnavailable,
                "the gateway cannot reach the broker to check the sign-in: \(error)"
            )
        }
        let session = Session(user: user, voter: voter)
        sessions.add(session)
        logger.info("gateway: signed in", metadata: ["user": "\(user)"])
        var response = Reply.json { w in
            w.beginObject()
            w.objectField("user", user)
            w.objectField("csrf_token", session.csrfToken)
            w.endObject()
        }
        response.setCookie(sessionCookie(session.id, maxAge: nil))
        return response
    }

    func signOut(_ request: Request, _ context: GatewayContext) -> Response {
        guard configuration.authentication == .broker else {
            return Reply.error(
                .notFound,
                "this gateway signs people in through its single sign-on proxy: sign out there"
            )
        }
        guard let caller = caller(request, context) else { return Reply.error(.unauthorized, "not signed in") }
        guard csrfValid(request, caller) else { return Reply.error(.forbidden, "missing or wrong CSRF token") }
        if case .brokerUser(let session) = caller {
            sessions.end(session.id)
            logger.info("gateway: signed out", metadata: ["user": "\(session.user)"])
        }
        var response = Response(status: .noContent)
        response.setCookie(sessionCookie("", maxAge: 0))
        return response
    }

    /// `HttpOnly`, `SameSite=Strict`, and `Secure` when the gateway serves TLS.
    private func sessionCookie(_ value: String, maxAge: Int?) -> Cookie {
        Cookie(
            name: Self.cookie,
            value: value,
            maxAge: maxAge,
            path: "/",
            secure: configuration.usesTLS,
            httpOnly: true,
            sameSite: .strict
        )
    }
}
