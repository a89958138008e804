import Crypto
import Foundation
import TollgateJSON
import TollgateStore

/// What a tool executor checks before it runs a tool: the receipt's signature under the worker's
/// public key, its expiry, that it is for this exact action (and policy version, when asked),
/// and that it was not used before. Reason codes follow the toolkit's ADR-0030 where it has
/// them.
public enum ReceiptVerifier {
    public enum Outcome: Equatable, Sendable {
        case valid(requestID: String)
        case refused(Reason, String)
    }

    public enum Reason: String, Sendable {
        case malformed
        case badSignature = "bad_signature"
        case expired
        case actionDigestMismatch = "action_digest_mismatch"
        case policyVersionMismatch = "policy_version_mismatch"
        case alreadyConsumed = "already_consumed"
        case notAllowed = "not_allowed"
    }

    /// The action the executor is about to run.
    public struct Action: Sendable {
        public var agentID: String
        public var toolName: String
        public var arguments: JSONValue

        public init(agentID: String, toolName: String, arguments: JSONValue) {
            self.agentID = agentID
            self.toolName = toolName
            self.arguments = arguments
        }
    }

    /// Checks `receipt` (the receipt object, or a whole decision that carries one). `consume`
    /// is asked last, with the request id, and answers whether it was unused (and marks it).
    public static func verify(
        _ receipt: JSONValue,
        publicKey: Curve25519.Signing.PublicKey,
        action: Action?,
        policyVersion: String? = nil,
        now: Millis,
        consume: ((String) throws -> Bool)? = nil
    ) throws -> Outcome {
        let object = receipt["receipt"] ?? receipt
        guard case .object(let claims)? = object["claims"], let signatureText = object["signature"]?.stringValue,
            let signature = base64URLDecode(signatureText)
        else { return .refused(.malformed, "no claims and signature: not a Tollgate receipt") }
        guard publicKey.isValidSignature(signature, for: canonicalJSON(.object(claims))) else {
            return .refused(.badSignature, "the signature does not match the claims under this public key")
        }
        let requestID = claims["request_id"]?.stringValue ?? ""
        guard claims["decision"]?.stringValue == "allow" else {
            return .refused(.notAllowed, "the receipt does not allow anything")
        }
        guard let expires = claims["expires_at"]?.stringValue.flatMap(parseISOTime) else {
            return .refused(.malformed, "no expires_at")
        }
        if now >= expires { return .refused(.expired, "expired at \(isoTime(expires))") }
        if let action {
            let digest = ReceiptSigner.actionDigest(
                agentID: action.agentID,
                toolName: action.toolName,
                arguments: action.arguments
            )
            guard claims["action_digest"]?.stringValue == digest else {
                return .refused(.actionDigestMismatch, "the receipt is for another action (agent, tool or arguments)")
            }
        }
        if let policyVersion, claims["policy_version"]?.stringValue != policyVersion {
            return .refused(
                .policyVersionMismatch,
                "issued under \(claims["policy_version"]?.stringValue ?? "no policy version"), not \(policyVersion)"
            )
        }
        if let consume, try !consume(requestID) {
            return .refused(.alreadyConsumed, "request \(requestID) was already used")
        }
        return .valid(requestID: requestID)
    }

    static func base64URLDecode(_ text: String) -> Data? {
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s)
    }
}
