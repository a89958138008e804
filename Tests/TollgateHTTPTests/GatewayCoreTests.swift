// The gateway's checks in-process, without a broker or a socket: bot authentication, rate
// limits, what the fleet view keeps, and which methods each path takes.
import Crypto
import Testing
import TollgateJSON

@testable import TollgateHTTP

@Suite("Gateway core")
struct GatewayCoreTests {
    static let secret = Array("0123456789abcdef0123456789abcdef".utf8)
    let bots = BotAuthenticator(bots: [
        .init(name: "slack", secret: secret, bearer: false),
        .init(name: "tickets", secret: Array("token-abcdefghijklmnop".utf8), bearer: true),
    ])

    func signature(_ body: String, at t: Int64, secret: [UInt8] = secret) -> String {
        "t=\(t),v1=\(BotAuthenticator.signature(secret: secret, timestamp: t, body: Array(body.utf8)))"
    }

    func check(
        _ signature: String?,
        body: String = "{}",
        now: Int64 = 1_000_000,
        replay: Bool = false
    )
        -> BotAuthenticator.Outcome
    {
        bots.authenticate(
            bot: "slack",
            authorization: nil,
            signature: signature,
            body: Array(body.utf8),
            now: now,
            allowReplay: replay
        )
    }

    @Test("a signature is HMAC-SHA256 over \"<t>.<body>\", as a client in any language computes it")
    func signatureFormat() {
        let mac = HMAC<SHA256>.authenticationCode(for: Array("42.{}".utf8), using: SymmetricKey(data: Self.secret))
        #expect(
            BotAuthenticator.signature(secret: Self.secret, timestamp: 42, body: Array("{}".utf8))
                == Array(mac).hexString
        )
    }

    @Test("signatures: right once, replayed, stale either way, wrong key, wrong body, malformed header")
    func signatures() {
        let now: Int64 = 1_000_000
        let good = signature("{}", at: now - 10)
        #expect(check(good, now: now) == .bot("slack"))
        #expect(check(good, now: now) == .refused("replayed signature: each signed request is accepted once"))
        #expect(check(good, now: now, replay: true) == .bot("slack"), "reads may repeat")
        #expect(check(signature("{}", at: now - 301), now: now).isRefused("stale signature"))
        #expect(check(signature("{}", at: now + 301), now: now).isRefused("stale signature"))
        #expect(check(signature("{}", at: now - 300), now: now) == .bot("slack"), "300 s is still in time")
        #expect(
            check(signature("{}", at: now, secret: Array("another secret of 32 bytes......".utf8)), now: now)
                == .refused("wrong signature")
        )
        #expect(check(signature("{\"a\":1}", at: now - 1), body: "{\"a\":2}", now: now) == .refused("wrong signature"))
        #expect(check("v1=abc", now: now) == .refused("Tollgate-Signature must be t=<unix>,v1=<hex>"))
        #expect(check(nil, now: now) == .refused("a Tollgate-Signature header is required"))
    }

    @Test(
        "a vote's grant and approver keep to the document's shape, else 400",
        arguments: [
            (#"{"scope": "session", "ttl_seconds": 900}"#, nil as String?),
            (#"{"scope": "agent", "ttl_seconds": 1}"#, nil),
            (#"{"scope": "team", "ttl_seconds": 900}"#, "scope is missing or not session or agent"),
            (#"{"ttl_seconds": 900}"#, "scope is missing"),
            (#"{"scope": "agent", "ttl_seconds": 0}"#, "ttl_seconds must be a whole number"),
            (#"{"scope": "agent", "ttl_seconds": 900.0}"#, "ttl_seconds must be a whole number"),
            (#"{"scope": "agent", "ttl_seconds": "900"}"#, "ttl_seconds must be a whole number"),
            (#"{"scope": "agent", "ttl_seconds": 9, "tools": "*"}"#, "unknown field tools"),
        ]
    )
    func grantShape(_ grant: String, problem: String?) throws {
        let object = try #require(try JSONValue.parse(Array(grant.utf8)).objectValue)
        let found = Gateway.grantShapeProblem(object)
        if let problem {
            #expect(found?.contains(problem) == true, "\(String(describing: found))")
        } else {
            #expect(found == nil)
        }
        #expect(Gateway.approverProblem(["approver": ""]) == "approver must be a non-empty string")
        #expect(Gateway.approverProblem(["approver": .null]) == "approver must be a non-empty string")
        #expect(Gateway.approverProblem(["approver": "manager@corp.com"]) == nil)
        #expect(Gateway.approverProblem([:]) == nil)
    }

    @Test("tokens, and bots nobody configured")
    func tokens() {
        func token(_ bot: String?, _ header: String?) -> BotAuthenticator.Outcome {
            bots.authenticate(bot: bot, authorization: header, signature: nil, body: [], now: 0)
        }
        #expect(token("tickets", "Bearer token-abcdefghijklmnop") == .bot("tickets"))
        #expect(token("tickets", "Bearer token-abcdefghijklmnoq") == .refused("wrong token"))
        #expect(token("tickets", "Basic dXNlcjpwYXNz") == .refused("a bearer token is required"))
        #expect(token("tickets", nil) == .refused("a bearer token is required"))
        #expect(token("nobody", "Bearer x") == .refused("unknown bot (X-Tollgate-Bot)"))
        #expect(token(nil, "Bearer token-abcdefghijklmnop") == .refused("unknown bot (X-Tollgate-Bot)"))
    }

    @Test("rate limits: a burst, then one more per refill, per key")
    func rateLimits() {
        let limiter = RateLimiter(perMinute: 3, burst: 3)
        #expect((0..<3).map { _ in limiter.take("alice") } == [nil, nil, nil])
        let wait = limiter.take("alice")
        #expect(
            wait != nil && wait! >= 1 && wait! <= 20,
            "about 20 s until the next token: \(String(describing: wait))"
        )
        #expect(limiter.take("bob") == nil, "another person has their own bucket")
    }

    static func notice(_ id: String, created: String, worker: String = "w1", approvals: [String] = []) -> JSONObject {
        var o = JSONObject()
        o["request_id"] = .string(id)
        o["agent_id"] = .string("finance-agent")
        o["tool_name"] = .string("transfer_funds")
        o["created_at"] = .string(created)
        o["deadline"] = .string("2026-12-02T09:00:00Z")
        o["timeout_action"] = .string("deny")
        o["approvals"] = .array(approvals.map { .string($0) })
        var via = JSONObject()
        via["routing_key"] = .string(worker)
        o["approve_via"] = .object(via)
        return o
    }

    @Test("the fleet view: newest first, tallies replace, a decided request never comes back")
    func fleetView() {
        let view = FleetView()
        view.upsert(notice: Self.notice("w1-a", created: "2026-12-02T08:00:00Z"))
        view.upsert(notice: Self.notice("w2-b", created: "2026-12-02T08:01:00Z", worker: "w2"))
        #expect(view.pendingList().map(\.requestID) == ["w2-b", "w1-a"])
        #expect(view.pending("w2-b")?.workerID == "w2")
        view.upsert(notice: Self.notice("w1-a", created: "2026-12-02T08:00:00Z", approvals: ["manager@corp.com"]))
        #expect(view.pending("w1-a")?.json["approvals"]?.arrayValue?.count == 1)
        var decided = JSONObject()
        decided["request_id"] = .string("w1-a")
        decided["decision"] = .string("allow")
        decided["resolution"] = .string("approved")
        view.resolve(decision: decided, at: 0)
        #expect(view.pending("w1-a") == nil)
        #expect(view.decided("w1-a")?.json["resolution"]?.stringValue == "approved")
        // A late `voted` notice or a fleet answer taken before the decision does not bring it back.
        view.upsert(notice: Self.notice("w1-a", created: "2026-12-02T08:00:00Z"))
        view.replace(worker: "w1", with: [Self.notice("w1-a", created: "2026-12-02T08:00:00Z")])
        #expect(view.pending("w1-a") == nil)
        #expect(view.history().count == 1, "decided once")
        // A worker's full answer replaces what was known of it, and only of it.
        view.upsert(notice: Self.notice("w1-c", created: "2026-12-02T08:02:00Z"))
        view.replace(worker: "w1", with: [])
        #expect(view.pendingList().map(\.requestID) == ["w2-b"])
    }

    @Test("the fleet view refuses notices without an id or with unreadable times")
    func fleetViewRefusesJunk() {
        let view = FleetView()
        var junk = Self.notice("w1-x", created: "yesterday")
        view.upsert(notice: junk)
        junk = Self.notice("w1-y", created: "2026-12-02T08:00:00Z")
        junk["request_id"] = nil
        view.upsert(notice: junk)
        #expect(view.pendingList().isEmpty)
    }

    @Test(
        "a known path with another method is a 405 with the methods it takes",
        arguments: [
            ("/", ["GET", "HEAD"]), ("/v1/session", ["POST", "DELETE"]), ("/v1/escalations/w1-a", ["GET", "HEAD"]),
            ("/v1/escalations/w1-a/votes", ["POST"]), ("/v1/escalations//votes", nil), ("/v1/nothing", nil),
        ]
    )
    func methods(path: String, methods: [String]?) {
        #expect(MethodCheck<GatewayContext>.methods(for: path)?.map(\.rawValue) == methods)
    }
}

extension BotAuthenticator.Outcome {
    func isRefused(_ prefix: String) -> Bool {
        if case .refused(let why) = self { return why.hasPrefix(prefix) }
        return false
    }
}
