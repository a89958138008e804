// `tollgate gateway` over a real broker and worker: sign-in, CSRF, bots (signatures and tokens),
// bad requests, rate limits, and votes that decide requests end to end.
import Crypto
import Foundation
import Testing
import TollgateJSON
import TollgateStore

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One HTTP exchange with a local server.
struct HTTPAnswer {
    var status: Int
    var body: String
    var headers: [String: String]
    var json: JSONValue { (try? JSONValue.parse(body)) ?? .null }
}

func http(
    _ method: String,
    port: Int,
    _ path: String,
    body: String? = nil,
    headers: [String: String] = [:],
    session: CookieJar? = nil
) -> HTTPAnswer {
    var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
    request.httpMethod = method
    request.httpBody = body.map { Data($0.utf8) }
    if body != nil { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
    for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
    if let cookie = session?.cookie { request.setValue(cookie, forHTTPHeaderField: "Cookie") }
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var answer = HTTPAnswer(status: 0, body: "", headers: [:])
    URLSession.shared.dataTask(with: request) { data, response, _ in
        let http = response as? HTTPURLResponse
        var headers: [String: String] = [:]
        for (key, value) in http?.allHeaderFields ?? [:] { headers["\(key)".lowercased()] = "\(value)" }
        answer = HTTPAnswer(
            status: http?.statusCode ?? 0,
            body: data.map { String(decoding: $0, as: UTF8.self) } ?? "",
            headers: headers
        )
        done.signal()
    }.resume()
    _ = done.wait(timeout: .now() + 20)
    if let session, let set = answer.headers["set-cookie"], let pair = set.split(separator: ";").first {
        session.cookie = pair.hasSuffix("=") ? nil : String(pair)
    }
    return answer
}

/// A browser-like client's cookie: the session cookie the gateway set last (none after sign-out).
final class CookieJar: @unchecked Sendable {
    var cookie: String?
}

/// A `tollgate gateway` process.
final class GatewayProcess {
    let port = freePort()
    let process = Process()
    let logPath: String

    /// `deadNodeFirst`: a broker address where nothing listens comes before the real one.
    init(
        scratch: Scratch,
        prefix: String,
        vhost: String? = nil,
        deadNodeFirst: Bool = false,
        arguments: [String] = []
    ) throws {
        logPath = scratch.path("gateway-\(port).log")
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        var url = Broker.url
        url.user = "tollgate-gateway"
        url.password = "secret"
        if let vhost { url.vhost = vhost }
        var dead = url
        dead.port = freePort()
        process.executableURL = URL(fileURLWithPath: tollgateBinary)
        process.arguments =
            [
                "gateway", "--prefix", prefix, "--listen", "127.0.0.1:\(port)",
                "--amqp-url", url.description(withPassword: true), "--log-level", "debug",
            ] + arguments
        if deadNodeFirst {
            process.arguments?.insert(contentsOf: ["--amqp-url", dead.description(withPassword: true)], at: 5)
        }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        try process.run()
        let end = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < end {
            if http("GET", port: port, "/readyz").status == 200 { return }
            guard process.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw BrokerTestError("the gateway did not get ready: \(log)")
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}

/// A worker that trusts the gateway, and a gateway in front of it.
final class GatewayFixture {
    let scratch: Scratch
    let worker: WorkerProcess
    let gateway: GatewayProcess
    let agent: TestClient
    static let botSecret = "0123456789abcdef0123456789abcdef"

    init(gatewayArguments: [String] = [], deadNodeFirst: Bool = false) throws {
        scratch = try Scratch()
        let policy = try scratch.write(
            "gateway.yaml",
            """
            version: "1.0"
            name: gateway
            rules:
              - name: transfer
                condition: {field: tool_name, operator: eq, value: transfer_funds}
                action: escalate
                message: "transfers need the manager"
                escalation: {approvers: [manager@corp.com], timeout_seconds: 120}
              - name: quorum
                condition: {field: tool_name, operator: eq, value: wire_abroad}
                action: escalate
                message: "two of three"
                escalation: {approvers: [manager@corp.com, cfo@corp.com, compliance@corp.com], required_approvals: 2}
            """
        )
        worker = WorkerProcess(
            scratch: scratch,
            policies: [policy],
            arguments: ["--trusted-gateway", "tollgate-gateway"]
        )
        try worker.start()
        let secret = try scratch.write("bot.secret", Self.botSecret)
        let token = try scratch.write("bot.token", "token-abcdefghijklmnopqrstuvwxyz")
        gateway = try GatewayProcess(
            scratch: scratch,
            prefix: worker.prefix,
            deadNodeFirst: deadNodeFirst,
            arguments: ["--bot-hmac", "slack=\(secret)", "--bot-token", "tickets=\(token)"] + gatewayArguments
        )
        agent = try TestClient()
    }

    deinit { agent.close() }

    /// Parks a call and waits until the gateway lists it; returns its request id.
    func park(_ tool: String = "transfer_funds", agent agentID: String = "finance-agent") throws -> String {
        let id = try agent.call(
            prefix: worker.prefix,
            agent: agentID,
            tool: tool,
            arguments: #"{"amount": 5000, "to": "vendor-123"}"#
        )
        let requestID = try #require(try agent.reply(to: id).string("request_id"))
        let end = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < end {
            if http("GET", port: gateway.port, "/v1/escalations/\(requestID)", headers: botHeaders(body: "")).status
                != 404
            {
                break
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return requestID
    }

    func signature(_ body: String, at t: Int64 = Int64(Date().timeIntervalSince1970)) -> String {
        let mac = HMAC<SHA256>.authenticationCode(
            for: Array("\(t).\(body)".utf8),
            using: SymmetricKey(data: Array(Self.botSecret.utf8))
        )
        return "t=\(t),v1=\(Array(mac).hexString)"
    }

    func botHeaders(body: String, at t: Int64 = Int64(Date().timeIntervalSince1970)) -> [String: String] {
        ["X-Tollgate-Bot": "slack", "Tollgate-Signature": signature(body, at: t)]
    }

    /// Signs in with a fresh cookie jar; returns the store and the CSRF token.
    func signIn(_ user: String, password: String = "secret") -> (CookieJar, String?, HTTPAnswer) {
        let session = CookieJar()
        let answer = http(
            "POST",
            port: gateway.port,
            "/v1/session",
            body: #"{"user":\#(jsonString(user)),"password":\#(jsonString(password))}"#,
            session: session
        )
        return (session, answer.json["csrf_token"]?.stringValue, answer)
    }
}

@Suite("Gateway", .serialized)
struct GatewayTests {
    @Test("a bot vote, signed, reaches the worker and decides a request end to end; the audit names person and bot")
    func botDecides() throws {
        let f = try GatewayFixture()
        let requestID = try f.park()
        let body = #"{"decision":"approve","comment":"approved in Slack","approver":"manager@corp.com"}"#
        let answer = http(
            "POST",
            port: f.gateway.port,
            "/v1/escalations/\(requestID)/votes",
            body: body,
            headers: f.botHeaders(body: body)
        )
        #expect(answer.status == 200, "\(answer.body)")
        #expect(answer.json["accepted"]?.boolValue == true)
        #expect(answer.json["status"]?.stringValue == "allow")
        let final = try f.agent.finalDecision(to: f.agent.messages().last?.correlationID ?? "")
        #expect(final.string("resolution") == "approved")
        #expect(final["approvers"]?.arrayValue?.compactMap(\.stringValue) == ["manager@corp.com"])
        let audit = try runTollgate(["audit", "export", "--db", f.worker.databasePath]).output
        #expect(audit.contains("via trusted gateway tollgate-gateway (bot slack)"), "\(audit)")
        // The gateway saw it decided.
        Thread.sleep(forTimeInterval: 0.5)
        let decided = http("GET", port: f.gateway.port, "/v1/escalations/\(requestID)", headers: f.botHeaders(body: ""))
        #expect(decided.json["status"]?.stringValue == "decided", "\(decided.body)")
    }

    @Test(
        "bot authentication: a wrong, stale or replayed signature and a wrong token are refused",
        arguments: ["wrong", "stale", "replayed", "token", "no-approver", "unknown-bot"]
    )
    func botRefusals(kind: String) throws {
        let f = try GatewayFixture()
        let requestID = try f.park()
        let path = "/v1/escalations/\(requestID)/votes"
        let body = #"{"decision":"approve","approver":"manager@corp.com"}"#
        let answer: HTTPAnswer
        switch kind {
        case "wrong":
            answer = http(
                "POST",
                port: f.gateway.port,
                path,
                body: body,
                headers: [
                    "X-Tollgate-Bot": "slack", "Tollgate-Signature": "t=\(Int64(Date().timeIntervalSince1970)),v1=00",
                ]
            )
            #expect(answer.json["error"]?.stringValue == "wrong signature")
        case "stale":
            answer = http(
                "POST",
                port: f.gateway.port,
                path,
                body: body,
                headers: f.botHeaders(body: body, at: Int64(Date().timeIntervalSince1970) - 600)
            )
            #expect(answer.json["error"]?.stringValue?.hasPrefix("stale signature") == true)
        case "replayed":
            let deny = #"{"decision":"deny","comment":"no","approver":"cfo@corp.com"}"#
            let headers = f.botHeaders(body: deny)
            let first = http("POST", port: f.gateway.port, path, body: deny, headers: headers)
            #expect(first.status == 200, "\(first.body)")
            answer = http("POST", port: f.gateway.port, path, body: deny, headers: headers)
            #expect(answer.json["error"]?.stringValue?.hasPrefix("replayed signature") == true)
        case "token":
            answer = http(
                "POST",
                port: f.gateway.port,
                path,
                body: body,
                headers: ["X-Tollgate-Bot": "tickets", "Authorization": "Bearer nope"]
            )
            #expect(answer.json["error"]?.stringValue == "wrong token")
            let good = http(
                "POST",
                port: f.gateway.port,
                path,
                body: body,
                headers: ["X-Tollgate-Bot": "tickets", "Authorization": "Bearer token-abcdefghijklmnopqrstuvwxyz"]
            )
            #expect(good.status == 200 && good.json["accepted"]?.boolValue == true, "\(good.body)")
        case "no-approver":
            let plain = #"{"decision":"approve"}"#
            answer = http("POST", port: f.gateway.port, path, body: plain, headers: f.botHeaders(body: plain))
            #expect(answer.status == 400)
            #expect(answer.json["error"]?.stringValue == "a bot must name the person who decided in approver")
            return
        default:
            answer = http(
                "POST",
                port: f.gateway.port,
                path,
                body: body,
                headers: ["X-Tollgate-Bot": "nobody", "Tollgate-Signature": f.signature(body)]
            )
            #expect(answer.json["error"]?.stringValue == "unknown bot (X-Tollgate-Bot)")
        }
        if kind != "token" { #expect(answer.status == 401, "\(answer.body)") }
    }

    @Test(
        "broker sign-in: wrong password refused; votes need the CSRF token; a rejected vote says why; sign-out ends the session"
    )
    func signInAndVote() throws {
        let f = try GatewayFixture()
        let requestID = try f.park()
        let (_, _, wrong) = f.signIn("manager@corp.com", password: "nope")
        #expect(wrong.status == 401 && wrong.json["error"]?.stringValue == "wrong user name or password")
        #expect(!f.gateway.log.contains("nope"), "the password is never logged")

        let (agentSession, agentCSRF, agentAnswer) = f.signIn("finance-agent")
        #expect(agentAnswer.status == 200)
        let path = "/v1/escalations/\(requestID)/votes"
        let refused = http(
            "POST",
            port: f.gateway.port,
            path,
            body: #"{"decision":"approve"}"#,
            headers: ["X-CSRF-Token": agentCSRF ?? ""],
            session: agentSession
        )
        #expect(refused.json["accepted"]?.boolValue == false)
        #expect(
            refused.json["error"]?.stringValue?.contains("finance-agent is the agent that made the request") == true,
            "\(refused.body)"
        )

        let (session, csrf, signedIn) = f.signIn("manager@corp.com")
        #expect(signedIn.status == 200)
        #expect(signedIn.headers["set-cookie"]?.contains("HttpOnly") == true)
        #expect(signedIn.headers["set-cookie"]?.contains("SameSite=Strict") == true)
        let me = http("GET", port: f.gateway.port, "/v1/me", session: session)
        #expect(me.json["user"]?.stringValue == "manager@corp.com")
        let noToken = http("POST", port: f.gateway.port, path, body: #"{"decision":"approve"}"#, session: session)
        #expect(noToken.status == 403 && noToken.json["error"]?.stringValue == "missing or wrong CSRF token")
        let noComment = http(
            "POST",
            port: f.gateway.port,
            path,
            body: #"{"decision":"deny"}"#,
            headers: ["X-CSRF-Token": csrf ?? ""],
            session: session
        )
        #expect(noComment.status == 400 && noComment.json["error"]?.stringValue == "a comment is required to deny")
        let approved = http(
            "POST",
            port: f.gateway.port,
            path,
            body: #"{"decision":"approve","comment":"ok"}"#,
            headers: ["X-CSRF-Token": csrf ?? ""],
            session: session
        )
        #expect(
            approved.json["accepted"]?.boolValue == true && approved.json["status"]?.stringValue == "allow",
            "\(approved.body)"
        )
        let final = try f.agent.finalDecision(to: f.agent.messages().first?.correlationID ?? "")
        #expect(
            final["approvers"]?.arrayValue?.compactMap(\.stringValue) == ["manager@corp.com"],
            "the broker vouched for the voter"
        )
        let out = http(
            "DELETE",
            port: f.gateway.port,
            "/v1/session",
            headers: ["X-CSRF-Token": csrf ?? ""],
            session: session
        )
        #expect(out.status == 204)
        #expect(http("GET", port: f.gateway.port, "/v1/me", session: session).status == 401)
    }

    @Test(
        "bad requests get clear 4xx answers with a JSON error body",
        arguments: [
            ("GET", "/v1/escalations", nil as String?, 401),
            ("GET", "/v1/nothing", nil, 404),
            ("POST", "/v1/session", "not json", 400),
            ("POST", "/v1/session", #"{"user":5}"#, 400),
            ("PUT", "/v1/escalations", nil, 405),
            ("GET", "/v1/escalations/x/votes", nil, 405),
        ]
    )
    func badRequests(method: String, path: String, body: String?, status: Int) throws {
        let f = try GatewayFixture()
        let answer = http(method, port: f.gateway.port, path, body: body)
        #expect(answer.status == status, "\(answer.body)")
        #expect(answer.json["error"]?.stringValue != nil, "\(answer.body)")
        if status == 405 { #expect(answer.headers["allow"] != nil) }
    }

    @Test("malformed votes and unknown requests are refused with the reason")
    func badVotes() throws {
        let f = try GatewayFixture()
        let requestID = try f.park()
        func post(_ path: String, _ body: String) -> HTTPAnswer {
            http("POST", port: f.gateway.port, path, body: body, headers: f.botHeaders(body: body))
        }
        let unknown = post(
            "/v1/escalations/w1-00000000-0000-7000-8000-000000000000/votes",
            #"{"decision":"approve","approver":"a"}"#
        )
        #expect(unknown.status == 404, "\(unknown.body)")
        // (A different body: the same body signed in the same second would be a replay.)
        let notAnID = post("/v1/escalations/hello/votes", #"{"decision":"approve","approver":"b"}"#)
        #expect(notAnID.status == 404)
        let badDecision = post("/v1/escalations/\(requestID)/votes", #"{"decision":"maybe","approver":"a"}"#)
        #expect(
            badDecision.status == 400
                && badDecision.json["error"]?.stringValue == #"decision must be "approve" or "deny""#
        )
        let notJSON = post("/v1/escalations/\(requestID)/votes", "{")
        #expect(notJSON.status == 400)
        #expect(f.worker.isRunning && f.gateway.process.isRunning)
    }

    @Test("votes are rate limited per person and per bot")
    func rateLimits() throws {
        let f = try GatewayFixture(gatewayArguments: ["--votes-per-minute", "3"])
        let requestID = try f.park("wire_abroad")
        var statuses: [Int] = []
        for n in 0..<5 {
            let body = #"{"decision":"deny","comment":"no \#(n)","approver":"compliance@corp.com"}"#
            statuses.append(
                http(
                    "POST",
                    port: f.gateway.port,
                    "/v1/escalations/\(requestID)/votes",
                    body: body,
                    headers: f.botHeaders(body: body)
                ).status
            )
        }
        #expect(statuses.prefix(3).allSatisfy { $0 == 200 }, "\(statuses)")
        #expect(statuses.suffix(2).allSatisfy { $0 == 429 }, "\(statuses)")
    }

    @Test("the list follows the fleet: new requests appear, tallies move, decided ones leave into the history")
    func followsTheFleet() throws {
        let f = try GatewayFixture()
        let requestID = try f.park("wire_abroad")
        let list = http("GET", port: f.gateway.port, "/v1/escalations", headers: f.botHeaders(body: ""))
        let entry = list.json["escalations"]?.arrayValue?.first { $0["request_id"]?.stringValue == requestID }
        #expect(entry?["arguments"]?["to"]?.stringValue == "vendor-123")
        #expect(entry?["worker_id"]?.stringValue == "w1")
        #expect(list.json["fleet_ok"]?.boolValue == true)
        let manager = try TestClient(user: "manager@corp.com")
        defer { manager.close() }
        try manager.vote(prefix: f.worker.prefix, requestID: requestID, decision: "approve")
        var approvals: [String] = []
        for _ in 0..<50 {
            let one = http("GET", port: f.gateway.port, "/v1/escalations/\(requestID)", headers: f.botHeaders(body: ""))
            approvals = one.json["escalation"]?["approvals"]?.arrayValue?.compactMap(\.stringValue) ?? []
            if !approvals.isEmpty { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(approvals == ["manager@corp.com"], "the voted notice moved the tally")
        let cfo = try TestClient(user: "cfo@corp.com")
        defer { cfo.close() }
        try cfo.vote(prefix: f.worker.prefix, requestID: requestID, decision: "approve")
        var history = HTTPAnswer(status: 0, body: "", headers: [:])
        for _ in 0..<50 {
            history = http("GET", port: f.gateway.port, "/v1/history", headers: f.botHeaders(body: ""))
            if history.body.contains(requestID) { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        let decided = history.json["decisions"]?.arrayValue?.first { $0["request_id"]?.stringValue == requestID }
        #expect(decided?["resolution"]?.stringValue == "approved", "\(history.body)")
        let after = http("GET", port: f.gateway.port, "/v1/escalations", headers: f.botHeaders(body: ""))
        #expect(!after.body.contains(requestID))
    }

    @Test("the OpenAPI document is served and parses")
    func openAPI() throws {
        let f = try GatewayFixture()
        let doc = http("GET", port: f.gateway.port, "/v1/openapi.json")
        #expect(doc.status == 200)
        #expect(doc.json["openapi"]?.stringValue?.hasPrefix("3.") == true)
        #expect(doc.json["paths"]?["/v1/escalations/{request_id}/votes"] != nil)
    }

    @Test(
        "with the users and permissions of deploy/rabbitmq/definitions.json, the gateway follows the fleet and people and bots decide",
        .enabled(if: getuid() == 0)
    )
    func deployPermissions() throws {
        try #require(DeployPermissionsTests.imported, "rabbitmqctl import_definitions failed")
        let scratch = try Scratch()
        let policy = try scratch.write(
            "p.yaml",
            """
            version: "1.0"
            name: deployed
            rules:
              - name: transfer
                condition: {field: tool_name, operator: eq, value: transfer_funds}
                action: escalate
                escalation: {approvers: [manager@corp.com], timeout_seconds: 120}
            """
        )
        func url(_ user: String) -> String {
            var url = Broker.url
            url.user = user
            url.password = "secret"
            url.vhost = "tollgate"
            return url.description(withPassword: true)
        }
        // The shards of earlier runs' workers would take a share of the calls on the hash ring:
        // remove them first (and this run's at the end).
        Self.removeGatewayTestQueues()
        defer { Self.removeGatewayTestQueues() }
        let workerID = "wgw\(UInt16.random(in: 0...UInt16.max))"
        let worker = WorkerProcess(
            scratch: scratch,
            policies: [policy],
            workerID: workerID,
            prefix: "tollgate",
            arguments: ["--trusted-gateway", "tollgate-gateway"]
        )
        worker.amqpURL = url("tollgate-worker")
        try worker.start()
        defer { _ = worker.terminate() }
        let secret = try scratch.write("bot.secret", GatewayFixture.botSecret)
        let gateway = try GatewayProcess(
            scratch: scratch,
            prefix: "tollgate",
            vhost: "tollgate",
            arguments: ["--bot-hmac", "slack=\(secret)"]
        )
        func park() throws -> String {
            let answer = try runTollgate([
                "call", "--agent", "finance-agent", "--tool", "transfer_funds", "--json", "--amqp-url",
                url("finance-agent"),
            ])
            let line = try #require(answer.output.split(separator: "\n").first { $0.contains("request_id") })
            let requestID = try #require(try JSONValue.parse(Array(line.utf8))["request_id"]?.stringValue)
            #expect(requestID.hasPrefix(workerID + "-"), "\(answer.output)")
            return requestID
        }
        // A person signed in with their broker user: the broker vouches for them.
        let first = try park()
        let jar = CookieJar()
        let signedIn = http(
            "POST",
            port: gateway.port,
            "/v1/session",
            body: #"{"user":"manager@corp.com","password":"secret"}"#,
            session: jar
        )
        #expect(signedIn.status == 200, "\(signedIn.body)")
        let csrf = signedIn.json["csrf_token"]?.stringValue ?? ""
        var listed = false
        for _ in 0..<50 where !listed {
            listed = http("GET", port: gateway.port, "/v1/escalations/\(first)", session: jar).status == 200
            if !listed { Thread.sleep(forTimeInterval: 0.1) }
        }
        #expect(listed, "the gateway follows the fleet with its deployed permissions: \(gateway.log)")
        let vote = http(
            "POST",
            port: gateway.port,
            "/v1/escalations/\(first)/votes",
            body: #"{"decision":"approve","comment":"ok"}"#,
            headers: ["X-CSRF-Token": csrf],
            session: jar
        )
        #expect(vote.json["accepted"]?.boolValue == true && vote.json["status"]?.stringValue == "allow", "\(vote.body)")
        // A bot, through the gateway's own user as a trusted gateway.
        let second = try park()
        let body = #"{"decision":"deny","comment":"not this vendor","approver":"manager@corp.com"}"#
        let t = Int64(Date().timeIntervalSince1970)
        let mac = HMAC<SHA256>.authenticationCode(
            for: Array("\(t).\(body)".utf8),
            using: SymmetricKey(data: Array(GatewayFixture.botSecret.utf8))
        )
        let botVote = http(
            "POST",
            port: gateway.port,
            "/v1/escalations/\(second)/votes",
            body: body,
            headers: ["X-Tollgate-Bot": "slack", "Tollgate-Signature": "t=\(t),v1=\(Array(mac).hexString)"]
        )
        #expect(
            botVote.json["accepted"]?.boolValue == true && botVote.json["status"]?.stringValue == "deny",
            "\(botVote.body)"
        )
    }

    @Test("with the first broker address down, people still sign in and bots still vote, through the next")
    func nextNode() throws {
        let f = try GatewayFixture(deadNodeFirst: true)
        let requestID = try f.park()
        let (_, _, signedIn) = f.signIn("cfo@corp.com")
        #expect(signedIn.status == 200, "\(signedIn.body)")
        let body = #"{"decision":"approve","comment":"ok","approver":"manager@corp.com"}"#
        let vote = http(
            "POST",
            port: f.gateway.port,
            "/v1/escalations/\(requestID)/votes",
            body: body,
            headers: f.botHeaders(body: body)
        )
        #expect(vote.json["status"]?.stringValue == "allow", "\(vote.body)")
        #expect(f.gateway.log.contains("a broker node did not answer; trying the next"))
    }

    @Test(
        "--auth proxy: the header is believed only from the trusted proxy; a proxy user's vote names them in the audit"
    )
    func proxyAuth() throws {
        // Not trusted: the header from 127.0.0.1 names nobody.
        let elsewhere = try GatewayFixture(gatewayArguments: ["--auth", "proxy", "--trusted-proxy", "10.9.9.9"])
        let requestID = try elsewhere.park()
        let me = http("GET", port: elsewhere.gateway.port, "/v1/me", headers: ["X-Forwarded-User": "manager@corp.com"])
        #expect(me.status == 403, "\(me.body)")
        let sneaky = http(
            "POST",
            port: elsewhere.gateway.port,
            "/v1/escalations/\(requestID)/votes",
            body: #"{"decision":"approve"}"#,
            headers: ["X-Forwarded-User": "manager@corp.com", "X-CSRF-Token": "x"]
        )
        #expect(sneaky.status == 401, "\(sneaky.body)")
        #expect(
            try runTollgate(["audit", "export", "--db", elsewhere.worker.databasePath]).output.contains(
                "\"voter\":\"manager@corp.com\""
            ) == false
        )

        // Trusted: the person the proxy names votes, with the CSRF token of /v1/me.
        let f = try GatewayFixture(gatewayArguments: ["--auth", "proxy", "--trusted-proxy", "127.0.0.1"])
        let id = try f.park()
        let who = http("GET", port: f.gateway.port, "/v1/me", headers: ["X-Forwarded-User": "manager@corp.com"])
        #expect(who.json["user"]?.stringValue == "manager@corp.com" && who.json["auth"]?.stringValue == "proxy")
        let csrf = who.json["csrf_token"]?.stringValue ?? ""
        let noToken = http(
            "POST",
            port: f.gateway.port,
            "/v1/escalations/\(id)/votes",
            body: #"{"decision":"approve"}"#,
            headers: ["X-Forwarded-User": "manager@corp.com"]
        )
        #expect(noToken.status == 403)
        let vote = http(
            "POST",
            port: f.gateway.port,
            "/v1/escalations/\(id)/votes",
            body: #"{"decision":"approve","comment":"ok","approver":"cfo@corp.com"}"#,
            headers: ["X-Forwarded-User": "manager@corp.com", "X-CSRF-Token": csrf]
        )
        #expect(vote.json["status"]?.stringValue == "allow", "\(vote.body)")
        let final = try f.agent.finalDecision(to: f.agent.messages().first?.correlationID ?? "")
        #expect(
            final["approvers"]?.arrayValue?.compactMap(\.stringValue) == ["manager@corp.com"],
            "the proxy's person, not the body's approver"
        )
        let audit = try runTollgate(["audit", "export", "--db", f.worker.databasePath]).output
        #expect(audit.contains("via trusted gateway tollgate-gateway (single sign-on proxy)"), "\(audit)")
    }

    @Test("over TLS (--tls-cert, --tls-key): the page and API answer on https, and the session cookie is Secure")
    func tls() throws {
        let scratch = try Scratch()
        let cert = scratch.path("gateway.pem")
        let key = scratch.path("gateway.key")
        let made = system(
            "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout '\(key)' -out '\(cert)' >/dev/null 2>&1"
        )
        try #require(made == 0, "openssl could not make a test certificate")
        let worker = WorkerProcess(
            scratch: scratch,
            policies: [try scratch.write("p.yaml", "version: \"1.0\"\nname: t\nrules: []\n")]
        )
        try worker.start()
        defer { _ = worker.terminate() }
        let port = freePort()
        var url = Broker.url
        url.user = "tollgate-gateway"
        url.password = "secret"
        let gateway = Process()
        gateway.executableURL = URL(fileURLWithPath: tollgateBinary)
        gateway.arguments = [
            "gateway", "--prefix", worker.prefix, "--listen", "127.0.0.1:\(port)", "--tls-cert", cert, "--tls-key", key,
            "--amqp-url", url.description(withPassword: true),
        ]
        gateway.standardOutput = FileHandle.nullDevice
        gateway.standardError = FileHandle.nullDevice
        try gateway.run()
        defer {
            gateway.terminate()
            gateway.waitUntilExit()
        }
        func curl(_ arguments: [String]) -> String {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            p.arguments = ["-s", "--cacert", cert, "-D", "-"] + arguments
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            guard (try? p.run()) != nil else { return "" }
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }
        var ready = ""
        for _ in 0..<100 where !ready.contains("ready") {
            ready = curl(["https://127.0.0.1:\(port)/readyz"])
            if !ready.contains("ready") { Thread.sleep(forTimeInterval: 0.1) }
        }
        #expect(ready.hasPrefix("HTTP/1.1 200"), "\(ready)")
        #expect(curl(["https://127.0.0.1:\(port)/"]).contains("<title>Tollgate approvals</title>"))
        let signIn = curl([
            "-X", "POST", "-H", "Content-Type: application/json", "-d",
            #"{"user":"manager@corp.com","password":"secret"}"#,
            "https://127.0.0.1:\(port)/v1/session",
        ])
        let cookie = signIn.split(separator: "\r\n").first { $0.lowercased().hasPrefix("set-cookie:") } ?? ""
        #expect(
            cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "\(signIn)"
        )
        // Plain HTTP on the TLS port gets nothing useful.
        #expect(http("GET", port: port, "/readyz").status != 200)
    }

    /// Deletes the queues of this suite's workers on vhost `tollgate` (`tollgate.*.wgw<n>`).
    static func removeGatewayTestQueues() {
        func rabbitmqctl(_ arguments: [String]) -> String {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/sbin/rabbitmqctl")
            p.arguments = ["-q", "-p", "tollgate"] + arguments
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            p.standardInput = FileHandle.nullDevice
            guard (try? p.run()) != nil else { return "" }
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }
        let ours = rabbitmqctl(["list_queues", "name"]).split(separator: "\n").filter { name in
            ["toolcalls", "approvals", "owner", "lock"].contains { name.hasPrefix("tollgate.\($0).wgw") }
        }
        for queue in ours { _ = rabbitmqctl(["delete_queue", String(queue)]) }
    }
}
