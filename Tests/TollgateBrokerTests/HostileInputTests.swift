// Bad input that used to get through (issue 15), over a real RabbitMQ: each test failed against
// the worker before the fix.
import Foundation
import Testing
import TollgateAMQP

@Suite("Hostile input")
struct HostileInputTests {
    @Test("a stream of calls with a 250-byte tool name is refused and the worker stays up")
    func oversizeToolNames() throws {
        let scratch = try Scratch()
        let worker = WorkerProcess(scratch: scratch, policies: [seedPolicy])
        try worker.start()
        let agent = try TestClient()
        defer { agent.close() }
        let observer = try TestClient()
        defer { observer.close() }
        try observer.observe(worker.topology.decisions, label: "feed")
        var ids: [String] = []
        for _ in 0..<20 {
            ids.append(try agent.call(prefix: worker.prefix, agent: "a", tool: String(repeating: "t", count: 250)))
        }
        let good = try agent.call(prefix: worker.prefix, agent: "a", tool: "search_documents")
        try agent.awaitAll(Set(ids + [good]))
        for id in ids {
            let reply = try agent.reply(to: id)
            #expect(reply.string("resolution") == "invalid")
            #expect(reply.string("reason")?.contains("tool_name is 250 bytes long") == true)
        }
        #expect(try agent.reply(to: good).string("decision") == "allow")
        #expect(worker.isRunning, "\(worker.log.suffix(600))")
        let feed = try observer.await("feed", count: 21)
        #expect(feed.filter { $0.delivery.routingKey == "deny._invalid" }.count == 20)
        worker.terminate()
    }

    @Test("a forged direct reply-to address costs one reconnect, and no other agent loses its answer")
    func forgedDirectReplyTo() throws {
        let scratch = try Scratch()
        let worker = WorkerProcess(scratch: scratch, policies: [seedPolicy])
        try worker.start()
        let agent = try TestClient()
        defer { agent.close() }
        try agent.observe(worker.topology.decisions, label: "feed")
        // RabbitMQ answers a publish to this address with 541 INTERNAL_ERROR and closes the
        // whole connection (found by tools/proof/fuzz_amqp.py).
        let forged = try agent.call(
            prefix: worker.prefix,
            agent: "agent-a",
            tool: "search_documents",
            replyTo: "amq.rabbitmq.reply-to.g2dkAAAAAAAAAAAA.x"
        )
        var innocent: Set<String> = []
        for n in 0..<5 {
            innocent.insert(try agent.call(prefix: worker.prefix, agent: "agent-b\(n)", tool: "search_documents"))
        }
        let replies = try agent.awaitAll(innocent, timeout: .seconds(30))
        #expect(Set(replies.compactMap(\.correlationID)) == innocent, "every other agent is answered")
        #expect(replies.allSatisfy { $0.string("decision") == "allow" })
        // The forged call is decided once all the same: on the feed.
        let feed = try agent.await("feed", count: 6, timeout: .seconds(15))
        #expect(feed.contains { $0.correlationID == forged })
        #expect(worker.log.contains("not replying to a direct reply-to address whose publish closed the connection"))
        #expect(worker.log.components(separatedBy: "broker connection lost or refused").count - 1 <= 2)
        #expect(worker.isRunning)
        worker.terminate()
    }

    @Test("an empty message_id is not an idempotency key; an empty routing key is refused")
    func emptyProperties() throws {
        let scratch = try Scratch()
        let worker = WorkerProcess(scratch: scratch, policies: [seedPolicy])
        try worker.start()
        let agent = try TestClient()
        defer { agent.close() }
        let search = try agent.call(prefix: worker.prefix, tool: "search_documents", messageID: "")
        let delete = try agent.call(prefix: worker.prefix, tool: "delete_database", messageID: "")
        #expect(try agent.reply(to: search).string("decision") == "allow")
        #expect(try agent.reply(to: delete).string("decision") == "deny", "the delete got the search's answer")
        let unkeyed = try agent.call(prefix: worker.prefix, tool: "search_documents", routingKey: "")
        let reply = try agent.reply(to: unkeyed)
        #expect(reply.string("resolution") == "invalid")
        #expect(reply.string("reason")?.contains("routing key '' is not the agent_id") == true)
        worker.terminate()
    }

    @Test("a publisher's x-delivery-count header is not trusted; the broker's count still is")
    func forgedDeliveryCount() throws {
        let scratch = try Scratch()
        let worker = WorkerProcess(scratch: scratch, policies: [seedPolicy], arguments: ["--delivery-limit", "3"])
        try worker.start()
        let agent = try TestClient()
        defer { agent.close() }
        var p = AMQPProperties()
        p.replyTo = agent.replyQueue
        p.correlationId = "forged"
        p.messageId = "m-forged"
        p.headers = ["x-delivery-count": .int64(10)]
        try agent.connection.publish(
            exchange: worker.topology.toolcalls,
            routingKey: "finance-agent",
            body: Array(#"{"agent_id":"finance-agent","tool_name":"search_documents"}"#.utf8),
            properties: p,
            mandatory: true
        )
        let reply = try agent.reply(to: "forged")
        #expect(reply.string("decision") == "allow", "\(reply.json)")
        worker.terminate()
    }
}
