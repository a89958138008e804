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
    /// A standing grant the approver makes with the approval.
    var grant: GrantRequest?

    static func parse(_ object: JSONObject) -> Result<Vote, InvalidInput> {
        var fields = FieldReader(object)
        let requestID = fields.requiredString("request_id", maxBytes: 255)
        let decision = fields.required("decision", as: VoteChoice.self)
        let comment = fields.optionalString("comment")
        let approver = fields.optionalString("approver", nonEmpty: true)
        let via = fields.optionalString("via")
        let arguments = fields.optionalObject("arguments")
        let grantObject = fields.optionalObject("grant")
        if let failure = fields.failure { return .failure(failure) }
        guard let requestID, let decision else { return .failure(InvalidInput("request_id and decision are required")) }
        if arguments != nil, decision != .approve {
            return .failure(InvalidInput("arguments (approve with edits) may only come with decision approve"))
        }
        var grant: GrantRequest?
        if let grantObject {
            guard decision == .approve else {
                return .failure(InvalidInput("grant (a standing grant) may only come with decision approve"))
            }
            switch parseGrant(grantObject) {
            case .failure(let problem): return .failure(problem)
            case .success(let parsed): grant = parsed
            }
        }
        return .success(
            Vote(
                requestID: requestID,
                decision: decision,
                comment: comment,
                approver: approver,
                via: via.map { String($0.prefix(100)) },
                arguments: arguments,
                grant: grant
            )
        )
    }

    /// `{"scope": "session" | "agent", "ttl_seconds": N}` with N a whole number above 0.
    static func parseGrant(_ object: JSONObject) -> Result<GrantRequest, InvalidInput> {
        let shape = #"grant must be {"scope": "session" | "agent", "ttl_seconds": N}"#
        guard let scopeText = object["scope"]?.stringValue, let scope = GrantScope(rawValue: scopeText) else {
            return .failure(InvalidInput("\(shape): scope is missing or not session or agent"))
        }
        // (3600.0 is 3600, as in JSON Schema; 3600.5 is not whole.)
        let whole = object["ttl_seconds"]?.doubleValue.flatMap {
            $0 == $0.rounded() && abs($0) < 1e12 ? Int64($0) : nil
        }
        guard let ttl = object["ttl_seconds"]?.intValue ?? whole, ttl >= 1, ttl <= Int64(Int32.max) else {
            return .failure(InvalidInput("\(shape): ttl_seconds must be a whole number of seconds above 0"))
        }
        if let extra = object.keys.first(where: { $0 != "scope" && $0 != "ttl_seconds" }) {
            return .failure(InvalidInput("\(shape): unknown field \(extra)"))
        }
        return .success(GrantRequest(scope: scope, ttlSeconds: Int(ttl)))
    }

    static func salvageRequestID(_ body: [UInt8]) -> String? {
        guard case .success(let object) = parseObject(body) else { return nil }
        return object["request_id"]?.stringValue
    }
}
