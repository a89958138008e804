// Signed receipts through the decision core: every final allow carries one bound to its exact
// action, nothing else does, and a redelivered call gets the same one.
import Crypto
import Foundation
import Testing
import TollgateJSON

@testable import TollgateStore
@testable import TollgateWorker

@Suite("Decision core: receipts")
struct ReceiptCoreTests {
    static let key = Curve25519.Signing.PrivateKey()

    func harness(_ policy: String = quorumPolicyYAML) throws -> GateHarness {
        try GateHarness(policy: policy) { $0.receipts = ReceiptSigner(key: Self.key, ttlSeconds: 300, workerID: "w1") }
    }

    func verify(
        _ decision: Message,
        _ h: GateHarness,
        tool: String,
        arguments: String
    ) throws -> ReceiptVerifier.Outcome {
        try ReceiptVerifier.verify(
            decision.json,
            publicKey: Self.key.publicKey,
            action: .init(
                agentID: "finance-agent",
                toolName: tool,
                arguments: try JSONValue.parse(Array(arguments.utf8))
            ),
            now: h.now
        )
    }

    @Test("an allowed call's receipt verifies for its action and no other; it expires after the TTL")
    func allowed() throws {
        let h = try harness()
        let arguments = #"{"query": "q", "limit": 5.0, "nested": {"b": [1, 2.5e-7], "a": null}}"#
        let out = try h.handle(h.call(tool: "search_documents", arguments: arguments, messageID: "m1"))
        let decision = try #require(out.reply)
        #expect(decision.decision == "allow")
        let claims = decision.json["receipt"]?["claims"]
        #expect(claims?["request_id"]?.stringValue == decision.string("request_id"))
        #expect(claims?["resolution"]?.stringValue == "policy")
        #expect(claims?["worker_id"]?.stringValue == "w1")
        #expect(
            try verify(decision, h, tool: "search_documents", arguments: arguments)
                == .valid(requestID: decision.string("request_id")!)
        )
        // The same action spelled differently (key order, 5 for 5.0) has the same digest.
        #expect(
            try verify(
                decision,
                h,
                tool: "search_documents",
                arguments: #"{"nested": {"a": null, "b": [1, 2.5e-7]}, "limit": 5, "query": "q"}"#
            ) == .valid(requestID: decision.string("request_id")!)
        )
        guard
            case .refused(.actionDigestMismatch, _) = try verify(
                decision,
                h,
                tool: "search_documents",
                arguments: #"{"query": "other"}"#
            )
        else {
            Issue.record("an edited call must not verify")
            return
        }
        h.advance(seconds: 300)
        guard case .refused(.expired, _) = try verify(decision, h, tool: "search_documents", arguments: arguments)
        else {
            Issue.record("expired")
            return
        }
        // A redelivered call gets the very same receipt.
        var again = h.call(tool: "search_documents", arguments: arguments, messageID: "m1")
        again.redelivered = true
        let repeated = try #require(try h.handle(again).reply)
        #expect(
            repeated.json["receipt"] == decision.json["receipt"],
            "\(String(decoding: repeated.raw.body, as: UTF8.self)) vs \(String(decoding: decision.raw.body, as: UTF8.self))"
        )
    }

    @Test("denials, limits and pending answers carry none; an approval and an allowing timeout do")
    func onlyAllows() throws {
        let h = try harness()
        #expect(try h.handle(h.call(tool: "wipe_disk")).reply?.json["receipt"] == nil)
        let pending = try h.handle(h.call(tool: "transfer_funds", arguments: #"{"amount": 5000}"#))
        #expect(pending.replies(to: "agent-replies").first?.json["receipt"] == nil)
        let id = try #require(pending.notices("pending").first?.string("request_id"))
        _ = try h.handle(h.vote(id, "approve", by: "manager@corp.com"))
        let approved = try #require(
            try h.handle(h.vote(id, "approve", by: "cfo@corp.com")).replies(to: "agent-replies").first
        )
        #expect(approved.json["receipt"]?["claims"]?["resolution"]?.stringValue == "approved")
        #expect(
            try verify(approved, h, tool: "transfer_funds", arguments: #"{"amount": 5000}"#) == .valid(requestID: id)
        )
        let refund = try h.park(tool: "issue_refund")
        h.advance(seconds: 61)
        let timedOut = try h.deadlines().replies(to: "agent-replies").first { $0.string("request_id") == refund }
        #expect(timedOut?.decision == "allow")
        #expect(timedOut?.json["receipt"]?["claims"]?["resolution"]?.stringValue == "timeout")
        let other = try h.park()
        let denied = try h.handle(h.vote(other, "deny", by: "cfo@corp.com", comment: "no"))
        #expect(denied.replies(to: "agent-replies").first?.json["receipt"] == nil)
    }

    @Test("the claims as signed are exactly their RFC 8785 form, and the action digest is that of the canonical action")
    func claimsAreCanonical() throws {
        let h = try harness()
        let arguments = #"{"z": [1, 2.50, {"é": "\n"}], "a": 5e3}"#
        let out = try h.handle(h.call(agent: "finance-agent", tool: "search_documents", arguments: arguments))
        let body = try #require(out.reply).raw.body
        // The raw bytes of "claims" inside the decision, as the worker wrote them.
        let text = String(decoding: body, as: UTF8.self)
        let start = try #require(text.range(of: #""claims":"#)).upperBound
        let end = try #require(text.range(of: #","signature":"#, range: start..<text.endIndex)).lowerBound
        let written = Array(text[start..<end].utf8)
        #expect(written == canonicalJSON(try JSONValue.parse(written)))
        var action = JSONObject()
        action["tool_name"] = .string("search_documents")
        action["arguments"] = try JSONValue.parse(Array(arguments.utf8))
        action["agent_id"] = .string("finance-agent")
        let digest = "sha256:" + Array(SHA256.hash(data: canonicalJSON(.object(action)))).hexString
        #expect(try JSONValue.parse(written)["action_digest"]?.stringValue == digest)
    }

    @Test("without --receipt-key, no receipts")
    func off() throws {
        let h = try GateHarness(policy: quorumPolicyYAML)
        #expect(try h.handle(h.call(tool: "search_documents")).reply?.json["receipt"] == nil)
    }

    @Test("the receipt of an approval with edits is for the edited arguments, not the ones the agent sent")
    func editedArguments() throws {
        let h = try harness(editPolicyYAML)
        let sent = #"{"amount": 5000, "to": "ACME"}"#
        let edited = #"{"amount": 4500, "to": "ACME"}"#
        let id = try h.park(tool: "transfer_funds", arguments: sent)
        let out = try h.handle(h.vote(id, "approve", by: "manager@corp.com", arguments: edited))
        let final = try #require(out.replies(to: "agent-replies").first)
        #expect(try verify(final, h, tool: "transfer_funds", arguments: edited) == .valid(requestID: id))
        guard case .refused(let reason, _) = try verify(final, h, tool: "transfer_funds", arguments: sent) else {
            Issue.record("a receipt for edited arguments verified for the original ones")
            return
        }
        #expect(reason == .actionDigestMismatch)
    }

    @Test("base64url without padding matches Foundation's base64 with the URL alphabet, for every length")
    func base64URL() throws {
        var generator = SystemRandomNumberGenerator()
        for length in 0...70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let expected = Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            #expect(bytes.base64URL == expected, "length \(length)")
            #expect(ReceiptVerifier.base64URLDecode(bytes.base64URL).map(Array.init) == bytes)
        }
    }
}
