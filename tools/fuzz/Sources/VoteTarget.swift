// The fuzz target for a body on the approvals queue: a vote (with edits, with a standing grant)
// or a grant revocation, parsed as the worker does. It checks:
//   - a refused body says why;
//   - an accepted vote names a request id within 255 bytes, brings edited arguments or a grant
//     only with approve, and a grant's lifetime is a whole number of seconds in range;
//   - an accepted revocation names a grant id within 255 bytes; `via` is cut to 100 characters.

import TollgateJSON

@testable import TollgateWorker

@Sendable func fuzzVote(_ bytes: [UInt8]) {
    _ = Vote.salvageRequestID(bytes)
    guard case .success(let object) = parseObject(bytes) else { return }
    if GrantRevocation.isRevocation(object) {
        switch GrantRevocation.parse(object) {
        case .failure(let problem): require(!problem.description.isEmpty, "a revocation was refused without a reason")
        case .success(let revocation):
            requireName(revocation.grantID, "grant_id", maxBytes: 255)
            require((revocation.via?.count ?? 0) <= 100, "via of \(revocation.via?.count ?? 0) characters")
        }
        return
    }
    switch Vote.parse(object) {
    case .failure(let problem): require(!problem.description.isEmpty, "a vote was refused without a reason")
    case .success(let vote):
        requireName(vote.requestID, "request_id", maxBytes: 255)
        require(vote.arguments == nil || vote.decision == .approve, "edits with \(vote.decision)")
        if let grant = vote.grant {
            require(vote.decision == .approve, "a grant with \(vote.decision)")
            require(grant.ttlSeconds >= 1 && grant.ttlSeconds <= Int(Int32.max), "a grant of \(grant.ttlSeconds) s")
        }
        require((vote.via?.count ?? 0) <= 100, "via of \(vote.via?.count ?? 0) characters")
        require(vote.approver.map { !$0.isEmpty } ?? true, "an empty approver was accepted")
    }
}
