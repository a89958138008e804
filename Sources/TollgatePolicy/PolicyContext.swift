import TollgateJSON

/// What a policy sees for a tool call of the wire protocol.
public enum PolicyContext {
    /// The message's fields a policy sees besides the keys of its `context`.
    public static let toolCallFields = ["tool_name", "agent_id", "reason", "arguments"]

    /// The context for a tool call `{agent_id, tool_name, arguments?, reason?, context?}`: every
    /// key of `context` at the top level (so agent-os policies that test `environment` work
    /// unchanged), then `tool_name`, `agent_id`, `reason` and `arguments`, which win over keys
    /// of the same name in `context` (an agent cannot restate its own tool name there).
    /// Conditions reach into `arguments` with dotted fields (`arguments.amount`).
    public static func forToolCall(_ call: JSONObject) -> JSONObject {
        var result = call["context"]?.objectValue ?? JSONObject()
        for field in toolCallFields {
            if let value = call[field] { result[field] = value }
        }
        return result
    }
}
