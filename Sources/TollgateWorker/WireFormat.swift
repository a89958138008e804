import Foundation
import TollgateJSON
import TollgatePolicy
import TollgateStore

// The bodies of the wire protocol (docs/wire-protocol.md), read and written with TollgateJSON.

/// A tool call as an agent publishes it.
struct ToolCall {
    /// The body as received, for the policy context.
    var body: JSONObject
    var agentID: String
    var toolName: String
    var arguments: JSONObject?
    var reason: String?
    var context: JSONObject?

    /// `context.session_id` when it is a string: budgets are kept per agent and session.
    var sessionID: String {
        context?["session_id"]?.stringValue ?? ""
    }

    /// Reads and checks a body. The error says what is wrong in words an agent's author can act on.
    static func parse(_ body: [UInt8]) -> Result<ToolCall, InvalidInput> {
        let object: JSONObject
        switch parseObject(body) {
        case .failure(let problem): return .failure(problem)
        case .success(let parsed): object = parsed
        }
        var problems: [String] = []
        func requiredString(_ key: String) -> String? {
            switch object[key] {
            case nil, .null?:
                problems.append("\(key) is missing")
            case .string(let text)? where !text.isEmpty:
                return text
            case .string?:
                problems.append("\(key) is empty")
            case let other?:
                problems.append("\(key) must be a string, not \(other.typeName)")
            }
            return nil
        }
        func optionalObject(_ key: String) -> JSONObject? {
            switch object[key] {
            case nil, .null?: return nil
            case .object(let inner)?: return inner
            case let other?:
                problems.append("\(key) must be an object, not \(other.typeName)")
                return nil
            }
        }
        let agentID = requiredString("agent_id")
        let toolName = requiredString("tool_name")
        let arguments = optionalObject("arguments")
        let context = optionalObject("context")
        var reason: String?
        switch object["reason"] {
        case nil, .null?: break
        case .string(let text)?: reason = text
        case let other?: problems.append("reason must be a string, not \(other.typeName)")
        }
        guard problems.isEmpty, let agentID, let toolName else {
            return .failure(InvalidInput(problems.joined(separator: "; ")))
        }
        return .success(
            ToolCall(
                body: object,
                agentID: agentID,
                toolName: toolName,
                arguments: arguments,
                reason: reason,
                context: context
            )
        )
    }

    /// What policy conditions see (the call's own fields win over `context` keys).
    func policyContext() -> JSONObject { PolicyContext.forToolCall(body) }

    /// Best-effort names from a body that failed `parse`, for the reply and the audit record.
    static func salvage(_ body: [UInt8]) -> (agentID: String?, toolName: String?) {
        guard case .success(let object) = parseObject(body) else { return (nil, nil) }
        return (object["agent_id"]?.stringValue, object["tool_name"]?.stringValue)
    }
}

/// A vote as an approval bot publishes it.
struct Vote {
    var requestID: String
    /// `approve` or `deny`.
    var decision: String
    var comment: String?
    /// The person a trusted gateway names; ignored from anyone else.
    var approver: String?

    static func parse(_ body: [UInt8]) -> Result<Vote, InvalidInput> {
        let object: JSONObject
        switch parseObject(body) {
        case .failure(let problem): return .failure(problem)
        case .success(let parsed): object = parsed
        }
        var problems: [String] = []
        var requestID: String?
        switch object["request_id"] {
        case .string(let text)? where !text.isEmpty: requestID = text
        case nil, .null?: problems.append("request_id is missing")
        case let other?: problems.append("request_id must be a non-empty string, not \(other.typeName)")
        }
        var decision: String?
        switch object["decision"] {
        case .string(let text)? where text == "approve" || text == "deny": decision = text
        case nil, .null?: problems.append("decision is missing (approve or deny)")
        case let other?: problems.append("decision must be \"approve\" or \"deny\", not \(other)")
        }
        var comment: String?
        switch object["comment"] {
        case nil, .null?: break
        case .string(let text)?: comment = text
        case let other?: problems.append("comment must be a string, not \(other.typeName)")
        }
        var approver: String?
        switch object["approver"] {
        case nil, .null?: break
        case .string(let text)? where !text.isEmpty: approver = text
        case let other?: problems.append("approver must be a non-empty string, not \(other)")
        }
        guard problems.isEmpty, let requestID, let decision else {
            return .failure(InvalidInput(problems.joined(separator: "; ")))
        }
        return .success(Vote(requestID: requestID, decision: decision, comment: comment, approver: approver))
    }

    static func salvageRequestID(_ body: [UInt8]) -> String? {
        guard case .success(let object) = parseObject(body) else { return nil }
        return object["request_id"]?.stringValue
    }
}

/// A body that must be one JSON object.
func parseObject(_ body: [UInt8]) -> Result<JSONObject, InvalidInput> {
    let value: JSONValue
    do {
        value = try JSONValue.parse(body)
    } catch {
        return .failure(InvalidInput("body is not valid JSON: \(error)"))
    }
    guard case .object(let object) = value else {
        return .failure(InvalidInput("body is a JSON \(value.typeName), not an object"))
    }
    return .success(object)
}

/// Why an input was rejected as malformed.
struct InvalidInput: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A decision on a tool call, as published to `reply_to`, `tollgate.decisions` and (for
/// escalated calls) `resolved.<tool>`.
struct DecisionMessage {
    var requestID: String?
    var correlationID: String?
    var agentID: String?
    var toolName: String?
    /// `allow`, `deny` or `pending`.
    var decision: String
    var resolution: String
    var rule: String?
    var reason: String
    var approvers: [String] = []
    var deadline: Millis?
    var policyVersion: String?

    var isFinal: Bool { decision != "pending" }

    func encoded() -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 384)
        w.beginObject()
        w.objectField("request_id", requestID)
        w.objectField("correlation_id", correlationID)
        w.objectField("agent_id", agentID)
        w.objectField("tool_name", toolName)
        w.objectField("decision", decision)
        w.objectField("final", isFinal)
        w.objectField("resolution", resolution)
        w.objectField("rule", rule)
        w.objectField("reason", reason)
        w.key("approvers")
        w.beginArray()
        for approver in approvers { w.string(approver) }
        w.endArray()
        w.objectField("deadline", deadline.map(isoTime))
        w.objectField("policy_version", policyVersion)
        w.endObject()
        return w.bytes
    }
}

/// The notice of a parked call, for approval bots (`pending.<tool>` on `tollgate.escalations`).
struct EscalationNotice {
    var requestID: String
    var agentID: String
    var toolName: String
    var argumentsJSON: String
    var reason: String?
    var rule: String?
    var message: String
    var createdAt: Millis
    var deadline: Millis
    var timeoutAction: String
    var requiredApprovals: Int
    var requiredDenials: Int
    var approvers: [String]
    var approveViaExchange: String
    var approveViaRoutingKey: String
    var policyVersion: String

    func encoded() -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 640)
        w.beginObject()
        w.objectField("request_id", requestID)
        w.objectField("agent_id", agentID)
        w.objectField("tool_name", toolName)
        w.key("arguments")
        w.rawValue(argumentsJSON.utf8)
        w.objectField("reason", reason)
        w.objectField("rule", rule)
        w.objectField("message", message)
        w.objectField("created_at", isoTime(createdAt))
        w.objectField("deadline", isoTime(deadline))
        w.objectField("timeout_action", timeoutAction)
        w.key("quorum")
        w.beginObject()
        w.objectField("required_approvals", requiredApprovals)
        w.objectField("required_denials", requiredDenials)
        w.key("approvers")
        w.beginArray()
        for approver in approvers { w.string(approver) }
        w.endArray()
        w.endObject()
        w.key("approve_via")
        w.beginObject()
        w.objectField("exchange", approveViaExchange)
        w.objectField("routing_key", approveViaRoutingKey)
        w.endObject()
        w.objectField("policy_version", policyVersion)
        w.endObject()
        return w.bytes
    }
}

/// The answer to a vote that carried `reply_to`.
struct VoteReply {
    var requestID: String?
    var accepted: Bool
    /// `pending`, `allow` or `deny` when accepted.
    var status: String?
    var error: String?

    func encoded() -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 160)
        w.beginObject()
        w.objectField("request_id", requestID)
        w.objectField("accepted", accepted)
        if accepted {
            w.objectField("status", status)
        } else {
            w.objectField("error", error)
        }
        w.endObject()
        return w.bytes
    }
}

extension JSONValue {
    /// The JSON type's name, for error messages.
    var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int, .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

/// `2026-11-25T08:15:00Z` (UTC, whole seconds) for a time in milliseconds.
func isoTime(_ millis: Millis) -> String {
    var seconds = time_t(millis / 1000)
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
    return
        "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
}

/// Now, in milliseconds since the epoch.
func nowMillis() -> Millis {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Millis(spec.tv_sec) * 1000 + Millis(spec.tv_nsec / 1_000_000)
}
