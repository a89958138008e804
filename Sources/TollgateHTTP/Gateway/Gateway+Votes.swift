import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import TollgateJSON
import TollgateWorker

// Votes: from a signed-in person (their own broker connection), from a person named by a trusted
// proxy, or from a bot (signature or token); the last two go through the gateway's connection as
// a trusted gateway naming the person.
extension Gateway {
    func vote(_ request: Request, _ context: GatewayContext) async throws -> Response {
        var request = request
        let requestID = context.parameters.get("id") ?? ""
        let body = Array(buffer: try await request.collectBody(upTo: context.maxUploadSize))
        let who: Caller
        switch admitted(request, context, body: body) {
        case .failure(let refusal): return refusal
        case .success(let caller): who = caller
        }
        let ballot: VoterConnection.Ballot
        switch parseBallot(body, requestID: requestID, caller: who) {
        case .failure(let refusal): return refusal
        case .success(let parsed): ballot = parsed
        }
        return await send(ballot, for: who, subject: requestID)
    }

    /// `POST /v1/grants/{grant_id}/revoke` `{"comment"?: "...", "approver"?: "..."}`: ends a
    /// standing grant early, authorised by the worker like a vote.
    func revoke(_ request: Request, _ context: GatewayContext) async throws -> Response {
        var request = request
        let grantID = context.parameters.get("id") ?? ""
        let body = Array(buffer: try await request.collectBody(upTo: context.maxUploadSize))
        let who: Caller
        switch admitted(request, context, body: body) {
        case .failure(let refusal): return refusal
        case .success(let caller): who = caller
        }
        let object: JSONObject
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            object = JSONObject()
        } else if let parsed = parseJSONObject(body) {
            object = parsed
        } else {
            return Reply.error(.badRequest, #"the body must be a JSON object: {"comment": "..."} or empty"#)
        }
        if object["comment"] != nil, object["comment"]?.isNull == false, object["comment"]?.stringValue == nil {
            return Reply.error(.badRequest, "comment must be a string")
        }
        if let problem = Self.approverProblem(object) { return Reply.error(.badRequest, problem) }
        guard let worker = view.grant(grantID)?.workerID ?? workerID(ofGrant: grantID) else {
            return Reply.error(.notFound, "'\(grantID)' is not a Tollgate grant id")
        }
        var ballot = VoterConnection.Ballot(
            requestID: "",
            worker: worker,
            decision: "",
            comment: object["comment"]?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines)
        )
        ballot.revokes = grantID
        switch who {
        case .brokerUser: break
        case .proxyUser(let user):
            ballot.approver = user
            ballot.via = "single sign-on proxy"
        case .bot(let name):
            guard let approver = object["approver"]?.stringValue, !approver.isEmpty else {
                return Reply.error(.badRequest, "a bot must name the person who revokes in approver")
            }
            ballot.approver = approver
            ballot.via = "bot \(name)"
        }
        return await send(ballot, for: who, subject: grantID)
    }

    /// Publishes a vote or revocation on the caller's connection (a person signed in with the
    /// broker) or the gateway's own (proxy users, bots) and answers with the worker's answer.
    private func send(_ ballot: VoterConnection.Ballot, for who: Caller, subject: String) async -> Response {
        let connection: VoterConnection
        if case .brokerUser(let session) = who {
            connection = session.voter
        } else {
            do {
                connection = try await service.connection()
            } catch {
                return Reply.error(.badGateway, "the gateway cannot reach the broker: \(error)")
            }
        }
        switch await connection.vote(ballot) {
        case .answered(let answer):
            let revoking = ballot.revokes != nil
            logger.info(
                revoking ? "gateway: revocation answered" : "gateway: vote answered",
                metadata: [
                    revoking ? "grant_id" : "request_id": "\(subject)", "by": "\(who.name)",
                    "accepted": "\(answer[revoking ? "revoked" : "accepted"]?.boolValue ?? false)",
                ]
            )
            var reply = answer
            reply[revoking ? "grant_id" : "request_id"] = .string(subject)
            if revoking, answer["revoked"]?.boolValue == true { view.revoke(grantID: subject) }
            return Reply.json(object: reply)
        case .noAnswer:
            return Reply.error(
                .gatewayTimeout,
                "the worker holding the \(ballot.revokes == nil ? "request" : "grant") (\(ballot.worker)) did not answer within 10 s; the message waits in its queue"
            )
        case .failed(let why):
            return Reply.error(.badGateway, why)
        }
    }

    /// The caller of a vote or revocation, within the per-person rate limit.
    private func admitted(_ request: Request, _ context: GatewayContext, body: [UInt8]) -> Checked<Caller> {
        switch authenticate(request, context, body: body) {
        case .failure(let refusal): return .failure(refusal)
        case .success(let caller):
            if let wait = personLimiter.take(caller.name) {
                return .failure(
                    Reply.error(
                        .tooManyRequests,
                        "too many votes from \(caller.name); try again in \(wait) s",
                        retryAfter: wait
                    )
                )
            }
            return .success(caller)
        }
    }

    /// The caller of a vote: a session or proxy user (with a valid CSRF token), or a bot.
    private func authenticate(_ request: Request, _ context: GatewayContext, body: [UInt8]) -> Checked<Caller> {
        let bot = HTTPField.Name("X-Tollgate-Bot").flatMap { request.headers[$0] }
        if bot != nil || request.headers[.authorization] != nil {
            let signature = HTTPField.Name("Tollgate-Signature").flatMap { request.headers[$0] }
            switch bots.authenticate(
                bot: bot,
                authorization: request.headers[.authorization],
                signature: signature,
                body: body,
                now: wallClockMillis() / 1000
            ) {
            case .bot(let name): return .success(.bot(name))
            case .refused(let why): return .failure(Reply.error(.unauthorized, why))
            }
        }
        guard let caller = caller(request, context) else {
            return .failure(Reply.error(.unauthorized, "not signed in"))
        }
        guard csrfValid(request, caller) else {
            return .failure(Reply.error(.forbidden, "missing or wrong CSRF token"))
        }
        return .success(caller)
    }

    /// `{"decision": "approve"|"deny", "comment"?: "...", "approver"?: "...", "arguments"?: {...},
    /// "grant"?: {...}}` for a request the fleet holds (`arguments`: approve with edits; `grant`: a
    /// standing grant; the worker checks both against the policy).
    private func parseBallot(_ body: [UInt8], requestID: String, caller: Caller) -> Checked<VoterConnection.Ballot> {
        guard let object = parseJSONObject(body) else {
            return .failure(
                Reply.error(.badRequest, #"the body must be a JSON object: {"decision": "approve", "comment": "..."}"#)
            )
        }
        guard let decision = object["decision"]?.stringValue, decision == "approve" || decision == "deny" else {
            return .failure(Reply.error(.badRequest, #"decision must be "approve" or "deny""#))
        }
        let comment = object["comment"]?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines)
        if object["comment"] != nil, object["comment"]?.isNull == false, object["comment"]?.stringValue == nil {
            return .failure(Reply.error(.badRequest, "comment must be a string"))
        }
        if decision == "deny", comment?.isEmpty ?? true {
            return .failure(Reply.error(.badRequest, "a comment is required to deny"))
        }
        if decision == "deny", object["arguments"] != nil || object["grant"] != nil {
            return .failure(
                Reply.error(
                    .badRequest,
                    "arguments and grant may only come with approve (approve with edits, a standing grant)"
                )
            )
        }
        var arguments: JSONObject?
        switch object["arguments"] {
        case nil, .null?: break
        case .object(let edited)? where decision == "approve": arguments = edited
        case .object?:
            return .failure(Reply.error(.badRequest, "arguments (approve with edits) may only come with approve"))
        case _?: return .failure(Reply.error(.badRequest, "arguments must be a JSON object"))
        }
        var grant: JSONObject?
        switch object["grant"] {
        case nil, .null?: break
        case .object(let asked)? where decision == "approve":
            if let problem = Self.grantShapeProblem(asked) { return .failure(Reply.error(.badRequest, problem)) }
            grant = asked
        case .object?: return .failure(Reply.error(.badRequest, "grant (a standing grant) may only come with approve"))
        case _?:
            return .failure(
                Reply.error(.badRequest, #"grant must be a JSON object: {"scope": "session", "ttl_seconds": 3600}"#)
            )
        }
        if let problem = Self.approverProblem(object) { return .failure(Reply.error(.badRequest, problem)) }
        guard let worker = view.pending(requestID)?.workerID ?? workerID(ofRequest: requestID) else {
            return .failure(Reply.error(.notFound, "'\(requestID)' is not a Tollgate request id"))
        }
        guard view.pending(requestID) != nil || view.decided(requestID) != nil else {
            return .failure(Reply.error(.notFound, "no pending request \(requestID) in the fleet"))
        }
        var ballot = VoterConnection.Ballot(requestID: requestID, worker: worker, decision: decision, comment: comment)
        ballot.arguments = arguments
        ballot.grant = grant
        switch caller {
        case .brokerUser:
            break
        case .proxyUser(let user):
            ballot.approver = user
            ballot.via = "single sign-on proxy"
        case .bot(let name):
            guard let approver = object["approver"]?.stringValue, !approver.isEmpty else {
                return .failure(Reply.error(.badRequest, "a bot must name the person who decided in approver"))
            }
            ballot.approver = approver
            ballot.via = "bot \(name)"
        }
        return .success(ballot)
    }
}

extension Gateway {
    /// Why a vote's `grant` is not `{"scope": "session" | "agent", "ttl_seconds": N}` (N a whole
    /// number of seconds above 0, nothing else), or nil: the OpenAPI document's shape, checked
    /// here so that a malformed one is a 400 rather than the worker's refusal.
    static func grantShapeProblem(_ grant: JSONObject) -> String? {
        let shape = #"grant must be {"scope": "session" | "agent", "ttl_seconds": N}"#
        guard let scope = grant["scope"]?.stringValue, scope == "session" || scope == "agent" else {
            return "\(shape): scope is missing or not session or agent"
        }
        // (An integer, as the document says: stricter than the worker, which also takes 900.0.)
        guard let ttl = grant["ttl_seconds"]?.intValue, ttl >= 1, ttl <= Int64(Int32.max) else {
            return "\(shape): ttl_seconds must be a whole number of seconds above 0"
        }
        if let extra = grant.keys.first(where: { $0 != "scope" && $0 != "ttl_seconds" }) {
            return "\(shape): unknown field \(extra)"
        }
        return nil
    }

    /// Why a body's `approver` is not a non-empty string (when present), or nil.
    static func approverProblem(_ object: JSONObject) -> String? {
        guard let approver = object["approver"] else { return nil }
        guard let name = approver.stringValue, !name.isEmpty else { return "approver must be a non-empty string" }
        return nil
    }
}

/// A value, or the refusal to answer with: what checking a request gives.
enum Checked<Value> {
    case success(Value)
    case failure(Response)
}
