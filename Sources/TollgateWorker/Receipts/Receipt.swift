import Crypto
import Foundation
import TollgateJSON
import TollgateStore

/// Signed receipts for allowed calls: a statement a tool executor can verify with the worker's
/// public key before it runs the tool, bound to the exact action (agent, tool, arguments) and
/// valid once, until it expires. The format (docs/wire-protocol.md, "Receipts"):
///
///     {"version": 1, "alg": "Ed25519", "key_id": "<16 hex>",
///      "claims": {"action_digest": "sha256:<hex>", "agent_id": ..., "decision": "allow",
///                 "expires_at": ..., "issued_at": ..., "policy_version": ..., "request_id": ...,
///                 "resolution": ..., "tool_name": ..., "worker_id": ...},
///      "signature": "<base64url of the Ed25519 signature over the RFC 8785 bytes of claims>"}
public struct ReceiptSigner: Sendable {
    let key: Curve25519.Signing.PrivateKey
    public let keyID: String
    public let ttlSeconds: Int
    public let workerID: String

    public init(key: Curve25519.Signing.PrivateKey, ttlSeconds: Int, workerID: String) {
        self.key = key
        self.keyID = ReceiptKeys.keyID(key.publicKey)
        self.ttlSeconds = ttlSeconds
        self.workerID = workerID
    }

    /// `sha256:` and the hex SHA-256 of the RFC 8785 canonical JSON of
    /// `{"agent_id", "tool_name", "arguments"}` (ADR-0030's action digest).
    public static func actionDigest(agentID: String, toolName: String, arguments: JSONValue) -> String {
        // The canonical object written directly: its three keys in RFC 8785 order.
        var action: [UInt8] = []
        action.reserveCapacity(256)
        action.append(contentsOf: #"{"agent_id":"#.utf8)
        appendCanonicalJSON(string: agentID, to: &action)
        action.append(contentsOf: #","arguments":"#.utf8)
        appendCanonicalJSON(arguments, to: &action)
        action.append(contentsOf: #","tool_name":"#.utf8)
        appendCanonicalJSON(string: toolName, to: &action)
        action.append(UInt8(ascii: "}"))
        return "sha256:" + Array(SHA256.hash(data: action)).hexString
    }

    /// The receipt of an allowed call, as JSON to embed in its decision.
    func receipt(for message: DecisionMessage, arguments: JSONValue, at now: Millis) -> [UInt8] {
        receipt(
            requestID: message.requestID ?? "",
            agentID: message.agentID ?? "",
            toolName: message.toolName ?? "",
            arguments: arguments,
            resolution: message.resolution.rawValue,
            policyVersion: message.policyVersion,
            at: now
        )
    }

    /// The receipt of an allowed call (`decision: allow`), as JSON.
    public func receipt(
        requestID: String,
        agentID: String,
        toolName: String,
        argumentsJSON: String,
        resolution: String,
        policyVersion: String?,
        at now: Millis
    ) -> [UInt8] {
        receipt(
            requestID: requestID,
            agentID: agentID,
            toolName: toolName,
            arguments: argumentsJSON == "{}"
                ? .object(JSONObject()) : (try? JSONValue.parse(Array(argumentsJSON.utf8))) ?? .object(JSONObject()),
            resolution: resolution,
            policyVersion: policyVersion,
            at: now
        )
    }

    /// The receipt of an allowed call with its arguments as a value.
    public func receipt(
        requestID: String,
        agentID: String,
        toolName: String,
        arguments: JSONValue,
        resolution: String,
        policyVersion: String?,
        at now: Millis
    ) -> [UInt8] {
        let digest = Self.actionDigest(agentID: agentID, toolName: toolName, arguments: arguments)
        // The claims in canonical form, written directly (their keys in RFC 8785 order); the
        // test `ReceiptCoreTests.claimsAreCanonical` holds this to canonicalJSON.
        let fields: [(String, String?)] = [
            ("action_digest", digest), ("agent_id", agentID), ("decision", "allow"),
            ("expires_at", isoTime(now + Millis(ttlSeconds) * 1000)), ("issued_at", isoTime(now)),
            ("policy_version", policyVersion), ("request_id", requestID), ("resolution", resolution),
            ("tool_name", toolName), ("worker_id", workerID),
        ]
        var signed: [UInt8] = [UInt8(ascii: "{")]
        signed.reserveCapacity(420)
        for (n, (name, value)) in fields.enumerated() {
            if n > 0 { signed.append(UInt8(ascii: ",")) }
            signed.append(UInt8(ascii: "\""))
            signed.append(contentsOf: name.utf8)
            signed.append(contentsOf: #"":"#.utf8)
            if let value {
                appendCanonicalJSON(string: value, to: &signed)
            } else {
                signed.append(contentsOf: "null".utf8)
            }
        }
        signed.append(UInt8(ascii: "}"))
        // Ed25519 signing with a valid key does not fail.
        let signature = (try? key.signature(for: signed)).map { Array($0) } ?? []
        var w = JSONWriter(reservingCapacity: 640)
        w.beginObject()
        w.objectField("version", 1)
        w.objectField("alg", "Ed25519")
        w.objectField("key_id", keyID)
        w.key("claims")
        w.rawValue(signed)
        w.objectField("signature", signature.base64URL)
        w.endObject()
        return w.bytes
    }
}
