import TollgateJSON

/// A request to end a standing grant early, published like a vote to the worker that holds it
/// (docs/wire-protocol.md, "Standing grants"): `{"grant_id": "grant-w1-...", "comment"?: "..."}`.
struct GrantRevocation {
    var grantID: String
    var comment: String?
    /// The person a trusted gateway names; ignored from anyone else.
    var approver: String?
    var via: String?

    /// Whether a body on the approvals queue is a revocation (it has `grant_id` and no
    /// `request_id`) rather than a vote.
    static func isRevocation(_ object: JSONObject) -> Bool {
        object["grant_id"] != nil && object["request_id"] == nil
    }

    static func parse(_ object: JSONObject) -> Result<GrantRevocation, InvalidInput> {
        var fields = FieldReader(object)
        let grantID = fields.requiredString("grant_id", maxBytes: 255)
        let comment = fields.optionalString("comment")
        let approver = fields.optionalString("approver", nonEmpty: true)
        let via = fields.optionalString("via")
        if let failure = fields.failure { return .failure(failure) }
        guard let grantID else { return .failure(InvalidInput("grant_id is required")) }
        return .success(
            GrantRevocation(
                grantID: grantID,
                comment: comment,
                approver: approver,
                via: via.map { String($0.prefix(100)) }
            )
        )
    }
}

/// The answer to a revocation that carried `reply_to`.
struct RevocationReply {
    var grantID: String?
    var revoked: Bool
    var error: String?

    func encoded() -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 160)
        w.beginObject()
        w.objectField("grant_id", grantID)
        w.objectField("revoked", revoked)
        if !revoked { w.objectField("error", error) }
        w.endObject()
        return w.bytes
    }
}
