import TollgateJSON
import TollgateStore

/// A vote as an approval bot publishes it (docs/wire-protocol.md, "Vote").
struct Vote {
    var requestID: String
    var decision: VoteChoice
    var comment: String?
    /// The person a trusted gateway names; ignored from anyone else.
    var approver: String?
    /// How a trusted gateway reached the person ("bot slack", "single sign-on proxy"): for the
    /// audit entry only.
    var via: String?
    /// Approve with edits: the corrected arguments the approver approves instead of the pending ones.
    var arguments: JSONObject?

    static func parse(_ body: [UInt8]) -> Result<Vote, InvalidInput> {
        let object: JSONObject
        switch parseObject(body) {
        case .failure(let problem): return .failure(problem)
        case .success(let parsed): object = parsed
        }
        var fields = FieldReader(object)
        let requestID = fields.requiredString("request_id", maxBytes: 255)
        let decision = fields.required("decision", as: VoteChoice.self)
        let comment = fields.optionalString("comment")
        let approver = fields.optionalString("approver", nonEmpty: true)
        let via = fields.optionalString("via")
        let arguments = fields.optionalObject("arguments")
        if let failure = fields.failure { return .failure(failure) }
        guard let requestID, let decision else { return .failure(InvalidInput("request_id and decision are required")) }
        if arguments != nil, decision != .approve {
            return .failure(InvalidInput("arguments (approve with edits) may only come with decision approve"))
        }
        return .success(
            Vote(
                requestID: requestID,
                decision: decision,
                comment: comment,
                approver: approver,
                via: via.map { String($0.prefix(100)) },
                arguments: arguments
            )
        )
    }

    static func salvageRequestID(_ body: [UInt8]) -> String? {
        guard case .success(let object) = parseObject(body) else { return nil }
        return object["request_id"]?.stringValue
    }
}
