import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import TollgateAMQP
import TollgateJSON
import TollgateStore
import TollgateWorker

/// The gateway's HTTP side: the inbox page, the JSON API under `/v1`, and health.
struct Gateway: Sendable {
    let configuration: GatewayConfiguration
    let view: FleetView
    let sessions: SessionStore
    /// The gateway's own connection, for trusted-gateway votes (proxy users, bots).
    let service: ServiceVoter
    let bots: BotAuthenticator
    let personLimiter: RateLimiter
    let signInLimiter: RateLimiter
    /// Keys the CSRF tokens of proxy users (a random key per process).
    let csrfKey = SymmetricKey(size: .bits256)
    let logger: Logger

    static let cookie = "tollgate_session"
    var topology: Topology { Topology(prefix: configuration.prefix) }

    func router() -> Router<GatewayContext> {
        let router = Router(context: GatewayContext.self)
        router.add(middleware: MethodCheck())
        router.get("") { _, _ in Reply.asset(InboxPage.html, type: "text/html; charset=utf-8") }
        router.get("inbox.css") { _, _ in Reply.asset(InboxStyle.css, type: "text/css; charset=utf-8") }
        router.get("inbox.js") { _, _ in Reply.asset(InboxScript.javascript, type: "text/javascript; charset=utf-8") }
        router.get("healthz") { _, _ in HealthEndpoints.text(.ok, "ok\n") }
        router.get("readyz") { _, _ in
            let fleet = view.snapshot
            return fleet.connected
                ? HealthEndpoints.text(.ok, "ready\n")
                : HealthEndpoints.text(.serviceUnavailable, "not ready: \(fleet.problem ?? "not connected")\n")
        }
        router.get("v1/openapi.json") { _, _ in Reply.asset(OpenAPIDocument.json, type: "application/json") }
        router.get("v1/me") { request, context in me(request, context) }
        router.post("v1/session") { request, context in try await signIn(request, context) }
        router.delete("v1/session") { request, context in signOut(request, context) }
        router.get("v1/escalations") { request, context in
            guard reader(request, context) else { return Reply.error(.unauthorized, "not signed in") }
            return escalations()
        }
        router.get("v1/escalations/:id") { request, context in
            guard reader(request, context) else { return Reply.error(.unauthorized, "not signed in") }
            return escalation(context.parameters.get("id") ?? "")
        }
        router.post("v1/escalations/:id/votes") { request, context in try await vote(request, context) }
        router.get("v1/grants") { request, context in
            guard reader(request, context) else { return Reply.error(.unauthorized, "not signed in") }
            return grants()
        }
        router.post("v1/grants/:id/revoke") { request, context in try await revoke(request, context) }
        router.get("v1/history") { request, context in
            guard reader(request, context) else { return Reply.error(.unauthorized, "not signed in") }
            return history()
        }
        return router
    }

    // MARK: Who is calling

    /// The person of a cookie session or a trusted proxy's header; bots authenticate per request.
    func caller(_ request: Request, _ context: GatewayContext) -> Caller? {
        switch configuration.authentication {
        case .broker:
            guard let id = request.cookies[Self.cookie]?.value, let session = sessions.session(id) else { return nil }
            return .brokerUser(session)
        case .proxy:
            guard fromTrustedProxy(context), let name = HTTPField.Name(configuration.userHeader),
                let user = request.headers[name], !user.isEmpty
            else { return nil }
            return .proxyUser(user)
        }
    }

    /// Whether a read may go on: a person (session or proxy) or a bot whose signature (over the
    /// empty body) or token is right.
    func reader(_ request: Request, _ context: GatewayContext) -> Bool {
        if caller(request, context) != nil { return true }
        guard let bot = HTTPField.Name("X-Tollgate-Bot").flatMap({ request.headers[$0] }) else { return false }
        let outcome = bots.authenticate(
            bot: bot,
            authorization: request.headers[.authorization],
            signature: HTTPField.Name("Tollgate-Signature").flatMap { request.headers[$0] },
            body: [],
            now: wallClockMillis() / 1000,
            allowReplay: true
        )
        if case .bot = outcome { return true }
        return false
    }

    func fromTrustedProxy(_ context: GatewayContext) -> Bool {
        guard let address = context.remoteAddress?.ipAddress else { return false }
        return configuration.trustedProxies.contains(address)
    }

    /// The CSRF token a caller must send back in `X-CSRF-Token` with every change.
    func csrfToken(for caller: Caller) -> String {
        switch caller {
        case .brokerUser(let session): session.csrfToken
        case .proxyUser(let user):
            Array(HMAC<SHA256>.authenticationCode(for: Array(user.utf8), using: csrfKey)).hexString
        case .bot: ""
        }
    }

    func csrfValid(_ request: Request, _ caller: Caller) -> Bool {
        guard let name = HTTPField.Name("X-CSRF-Token"), let given = request.headers[name] else { return false }
        return constantTimeEqual(Array(given.utf8), Array(csrfToken(for: caller).utf8))
    }

    private func me(_ request: Request, _ context: GatewayContext) -> Response {
        guard let caller = caller(request, context) else {
            if configuration.authentication == .proxy, !fromTrustedProxy(context) {
                return Reply.error(.forbidden, "this gateway takes people only through its single sign-on proxy")
            }
            return Reply.error(.unauthorized, "not signed in")
        }
        return Reply.json { w in
            w.beginObject()
            w.objectField("user", caller.name)
            w.objectField("auth", configuration.authentication.rawValue)
            w.objectField("csrf_token", csrfToken(for: caller))
            w.endObject()
        }
    }

    // MARK: Reading the fleet

    private func escalations() -> Response {
        let fleet = view.snapshot
        let pending = view.pendingList()
        return Reply.json { w in
            w.beginObject()
            w.key("escalations")
            w.beginArray()
            for entry in pending { w.value(.object(entry.json)) }
            w.endArray()
            w.key("workers")
            w.beginArray()
            for worker in fleet.workers { w.string(worker) }
            w.endArray()
            w.objectField("fleet_ok", fleet.connected && fleet.problem == nil)
            w.objectField("problem", fleet.problem)
            w.objectField("as_of", isoTime(wallClockMillis()))
            w.endObject()
        }
    }

    private func escalation(_ requestID: String) -> Response {
        if let pending = view.pending(requestID) {
            return Reply.json { w in
                w.beginObject()
                w.objectField("status", "pending")
                w.objectField("escalation", JSONValue.object(pending.json))
                w.endObject()
            }
        }
        if let decided = view.decided(requestID) {
            return Reply.json { w in
                w.beginObject()
                w.objectField("status", "decided")
                w.objectField("decision", JSONValue.object(decided.json))
                w.endObject()
            }
        }
        return Reply.error(.notFound, "no pending or recently decided request \(requestID) in the fleet")
    }

    private func grants() -> Response {
        let now = wallClockMillis()
        let grants = view.grantList(now: now)
        return Reply.json { w in
            w.beginObject()
            w.key("grants")
            w.beginArray()
            for grant in grants { w.value(.object(grant.json)) }
            w.endArray()
            w.objectField("as_of", isoTime(now))
            w.endObject()
        }
    }

    private func history() -> Response {
        let decided = view.history()
        return Reply.json { w in
            w.beginObject()
            w.key("decisions")
            w.beginArray()
            for entry in decided { w.value(.object(entry.json)) }
            w.endArray()
            w.endObject()
        }
    }
}
