import TollgateJSON
import TollgatePolicy

/// A tool call as an agent publishes it (docs/wire-protocol.md, "Tool call").
struct ToolCall {
    /// The longest `agent_id` and `tool_name`, in bytes. Both end up in routing keys
    /// (`<decision>.<tool_name>`, `resolved.<tool_name>`, the agent id as a consistent-hash key),
    /// which AMQP limits to 255 bytes: longer names are refused as invalid input.
    static let maxNameBytes = 200

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
        var fields = FieldReader(object)
        let agentID = fields.requiredString("agent_id", maxBytes: maxNameBytes)
        let toolName = fields.requiredString("tool_name", maxBytes: maxNameBytes)
        let arguments = fields.optionalObject("arguments")
        let context = fields.optionalObject("context")
        let reason = fields.optionalString("reason")
        if let failure = fields.failure { return .failure(failure) }
        guard let agentID, let toolName else { return .failure(InvalidInput("agent_id and tool_name are required")) }
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

    /// The arguments as JSON text (`{}` when absent), as stored and announced.
    var argumentsJSON: String {
        arguments.map { String(decoding: JSONValue.object($0).serialized(), as: UTF8.self) } ?? "{}"
    }

    /// Best-effort names from a body that failed `parse`, for the reply and the audit record:
    /// only strings short enough to be a name.
    static func salvage(_ body: [UInt8]) -> (agentID: String?, toolName: String?) {
        guard case .success(let object) = parseObject(body) else { return (nil, nil) }
        func name(_ key: String) -> String? {
            guard let text = object[key]?.stringValue, !text.isEmpty, text.utf8.count <= maxNameBytes else {
                return nil
            }
            return text
        }
        return (name("agent_id"), name("tool_name"))
    }
}
