// Tool calls through the decision core: decisions, malformed and hostile input, redeliveries.
import Foundation
import Testing
@testable import TollgateStore

@testable import TollgateWorker

@Suite("Decision core: tool calls")
struct ToolCallTests {
    @Test("the seed's calls: allow and deny answered, recorded, fed and audited")
    func policyDecisions() throws {
        let h = try GateHarness()
        let allowed = try h.handle(h.call(tool: "search_documents", correlationID: "c-a"))
        #expect(allowed.reply?.decision == "allow")
        #expect(allowed.reply?.resolution == "policy")
        #expect(allowed.reply?.string("rule") == "allow-search-documents")
        #expect(allowed.reply?.string("correlation_id") == "c-a")
        #expect(allowed.reply?.raw.mandatory == true)
        #expect(allowed.feed.map(\.raw.routingKey) == ["allow.search_documents"])
        #expect(allowed.deadLetters.isEmpty)
        let denied = try h.handle(h.call(tool: "delete_database"))
        #expect(denied.reply?.decision == "deny")
        #expect(denied.feed.map(\.raw.routingKey) == ["deny.delete_database"])
        let unmatched = try h.handle(h.call(tool: "write_file"))
        #expect(unmatched.reply?.decision == "allow")
        #expect(unmatched.reply?.json["rule"]?.isNull == true)
        #expect(try h.store.verifyAudit().checked == 3)
        #expect(h.gate.counters.allowed == 2 && h.gate.counters.denied == 1)
    }

    @Test(
        "malformed calls are answered deny/invalid with the reason, fed and dead-lettered",
        arguments: [
            ("not json", "body is not valid JSON"),
            ("[1,2]", "body is a JSON array, not an object"),
            (#"{"tool_name":"x"}"#, "agent_id is missing"),
            (#"{"agent_id":"finance-agent","tool_name":""}"#, "tool_name is empty"),
            (#"{"agent_id":"finance-agent","tool_name":5}"#, "tool_name must be a string, not number"),
            (#"{"agent_id":"finance-agent","tool_name":"x","arguments":[]}"#, "arguments must be an object, not array"),
            (#"{"agent_id":"finance-agent","tool_name":"x","reason":1}"#, "reason must be a string, not number"),
        ]
    )
    func malformed(body: String, reason: String) throws {
        let h = try GateHarness()
        let out = try h.handle(h.call(body: body))
        let reply = try #require(out.reply)
        #expect(reply.decision == "deny")
        #expect(reply.resolution == "invalid")
        #expect(reply.string("reason")?.hasPrefix(reason) == true, "\(reply.string("reason") ?? "nil")")
        #expect(out.feed.count == 1)
        let dead = try #require(out.deadLetters.first)
        #expect(dead.raw.body == Array(body.utf8), "the dead letter keeps the body unchanged")
        #expect(dead.header["x-tollgate-error"]?.hasPrefix(reason) == true)
        #expect(dead.header["x-tollgate-queue"] == "tollgate.toolcalls.w1")
        #expect(h.gate.counters.invalid == 1)
    }

    @Test("a body over the size limit is refused without being parsed")
    func tooLarge() throws {
        let h = try GateHarness { $0.maxMessageBytes = 2048 }
        let big =
            #"{"agent_id":"finance-agent","tool_name":"search_documents","arguments":{"x":""#
            + String(repeating: "a", count: 3000) + #""}}"#
        let out = try h.handle(h.call(body: big))
        #expect(out.reply?.resolution == "invalid")
        #expect(out.reply?.string("reason")?.contains("exceeds the limit of 2048 bytes") == true)
        #expect(out.feed.map(\.raw.routingKey) == ["deny._invalid"])
    }

    @Test("a tool or agent name too long for a routing key is refused as invalid, not published")
    func oversizeNames() throws {
        let h = try GateHarness()
        let longTool = String(repeating: "t", count: 250)
        let out = try h.handle(h.call(tool: longTool))
        #expect(out.reply?.resolution == "invalid")
        #expect(out.reply?.string("reason")?.contains("tool_name is 250 bytes long") == true)
        for message in out.messages { #expect(message.routingKey.utf8.count <= 255) }
        #expect(out.feed.map(\.raw.routingKey) == ["deny._invalid"])
        let longAgent = String(repeating: "a", count: 201)
        let agentOut = try h.handle(h.call(agent: longAgent, tool: "search_documents"))
        #expect(agentOut.reply?.resolution == "invalid")
        #expect(agentOut.reply?.string("reason")?.contains("agent_id is 201 bytes long") == true)
        // At the limit it is a name like any other.
        let atLimit = try h.handle(h.call(tool: String(repeating: "t", count: ToolCall.maxNameBytes)))
        #expect(atLimit.reply?.decision == "allow")
    }

    @Test("the routing key must be the agent id, an empty one included")
    func routingKeyIsAgentID() throws {
        let h = try GateHarness()
        let other = try h.handle(h.call(tool: "search_documents", routingKey: "someone-else"))
        #expect(other.reply?.resolution == "invalid")
        #expect(other.reply?.string("reason")?.contains("routing key 'someone-else' is not the agent_id") == true)
        let empty = try h.handle(h.call(tool: "search_documents", routingKey: ""))
        #expect(empty.reply?.resolution == "invalid", "an empty routing key must not skip the rule")
        #expect(empty.reply?.string("reason")?.contains("routing key '' is not the agent_id") == true)
    }

    @Test("an empty message_id is no idempotency key: two calls, two decisions")
    func emptyMessageID() throws {
        let h = try GateHarness()
        let search = try h.handle(h.call(tool: "search_documents", messageID: ""))
        let delete = try h.handle(h.call(tool: "delete_database", messageID: ""))
        #expect(search.reply?.decision == "allow")
        #expect(delete.reply?.decision == "deny", "the delete must not get the search's allow")
        #expect(search.reply?.string("request_id") != delete.reply?.string("request_id"))
    }

    @Test("x-delivery-count counts only on a message the broker redelivered")
    func deliveryCountOnlyWhenRedelivered() throws {
        let h = try GateHarness()
        // A fresh message whose publisher wrote the header: evaluated as any other.
        let forged = try h.handle(h.call(tool: "search_documents", deliveryCount: 10))
        #expect(forged.reply?.decision == "allow")
        // The broker's count on a redelivery at the limit: poison, not evaluated.
        let poison = try h.handle(h.call(tool: "search_documents", redelivered: true, deliveryCount: 10))
        #expect(poison.reply?.resolution == "invalid")
        #expect(poison.reply?.string("reason")?.hasPrefix("delivered 11 times without being settled") == true)
        #expect(poison.deadLetters.count == 1)
        let below = try h.handle(h.call(tool: "search_documents", redelivered: true, deliveryCount: 9))
        #expect(below.reply?.decision == "allow")
    }

    @Test("a retry with the same message_id gets the same decision, addressed to its own correlation id")
    func retryNewCorrelationID() throws {
        let h = try GateHarness()
        let first = try h.handle(h.call(tool: "delete_database", messageID: "m-x", correlationID: "c-first"))
        let retry = try h.handle(h.call(tool: "delete_database", messageID: "m-x", correlationID: "c-second"))
        let reply = try #require(retry.reply)
        #expect(reply.raw.correlationID == "c-second")
        #expect(reply.string("correlation_id") == "c-second", "the body must name the message it answers")
        #expect(reply.string("request_id") == first.reply?.string("request_id"))
        #expect(reply.decision == "deny")
        #expect(retry.feed.isEmpty, "a fresh retry is not a second decision on the feed")
        #expect(h.gate.counters.duplicates == 1)
        #expect(try h.store.verifyAudit().checked == 1)
    }

    @Test("a redelivered call (committed, maybe not published) is answered, fed and dead-lettered again")
    func redeliveryRedoesEveryPublish() throws {
        let h = try GateHarness()
        var allow = h.call(tool: "search_documents", messageID: "m-1")
        let first = try h.handle(allow)
        allow.redelivered = true
        let again = try h.handle(allow)
        #expect(again.reply?.raw.body == first.reply?.raw.body)
        #expect(again.feed.map(\.raw.body) == first.feed.map(\.raw.body), "the feed copy is redone")
        #expect(again.feed.first?.raw.correlationID == first.feed.first?.raw.correlationID)

        var bad = h.call(body: "nope", messageID: "m-bad")
        let rejected = try h.handle(bad)
        bad.redelivered = true
        let rejectedAgain = try h.handle(bad)
        #expect(rejectedAgain.deadLetters.count == 1, "the dead letter is redone")
        #expect(
            rejectedAgain.deadLetters.first?.header["x-tollgate-error"]
                == rejected.deadLetters.first?.header["x-tollgate-error"]
        )
        #expect(rejectedAgain.reply?.string("request_id") == rejected.reply?.string("request_id"))
    }

    @Test("a redelivered call without message_id is recognised by its content; a fresh twin is a new call")
    func fingerprints() throws {
        let h = try GateHarness()
        var call = h.call(tool: "search_documents", messageID: "", correlationID: "same")
        let first = try h.handle(call)
        let twin = try h.handle(call)
        #expect(twin.reply?.string("request_id") != first.reply?.string("request_id"))
        call.redelivered = true
        let redelivered = try h.handle(call)
        #expect(redelivered.reply?.string("request_id") == twin.reply?.string("request_id"))
        #expect(h.gate.counters.allowed == 2)
    }

    @Test("a call whose own record cannot be read is denied (fail closed), not decided again")
    func unreadableCallRecord() throws {
        let h = try GateHarness()
        let first = try h.handle(h.call(tool: "search_documents", messageID: "m-r"))
        #expect(first.reply?.decision == "allow")
        try h.store.db.execute("UPDATE calls SET decision = 'maybe' WHERE message_id = 'm-r'")
        let retry = try h.handle(h.call(tool: "search_documents", messageID: "m-r"))
        #expect(retry.reply?.decision == "deny")
        #expect(retry.reply?.resolution == "invalid")
        #expect(retry.reply?.string("reason")?.contains("cannot read its record") == true)
        #expect(retry.deadLetters.count == 1)
        #expect(h.logged(.error).contains { $0.contains("fail closed") })
    }

    @Test("the policy's context: context keys at top level, the call's own fields win")
    func policyContext() throws {
        let h = try GateHarness(
            policy: """
                version: "1.0"
                name: env
                rules:
                  - name: prod-deny
                    condition: {field: environment, operator: eq, value: production}
                    action: deny
                    message: "not in production"
                  - name: big
                    condition: {field: arguments.amount, operator: gt, value: 100}
                    action: deny
                    message: "too big"
                """
        )
        #expect(
            try h.handle(h.call(tool: "x", context: #"{"environment":"production"}"#)).reply?.string("rule")
                == "prod-deny"
        )
        #expect(try h.handle(h.call(tool: "x", arguments: #"{"amount":500}"#)).reply?.string("rule") == "big")
        #expect(try h.handle(h.call(tool: "x", context: #"{"tool_name":"y"}"#)).reply?.decision == "allow")
    }
}
