// The broker refusing the worker's publishes for a while (basic.nack), as a quorum queue does
// while it elects a leader after a node went down: the worker publishes again, and the calls
// are neither redelivered nor used up by the queue's delivery limit.
import Foundation
import Testing
import TollgateAMQP
import TollgateJSON

@Suite("Publish rejections", .serialized)
struct PublishRejectionTests {
    @Test("replies the broker rejects for seconds are published again: every call answered once, none redelivered")
    func rejectedRepliesArePublishedAgain() throws {
        let scratch = try Scratch()
        let port = freePort()
        let worker = WorkerProcess(scratch: scratch, policies: [seedPolicy], arguments: ["--metrics-port", "\(port)"])
        try worker.start()
        let agent = try TestClient()
        defer { agent.close() }
        // A reply queue that holds six messages and rejects publishes while it is full.
        let full = Broker.uniqueName("full")
        try agent.connection.queueDeclare(
            full,
            durable: true,
            arguments: AMQPTable([
                .init(key: "x-max-length", value: .int64(6)),
                .init(key: "x-overflow", value: .string("reject-publish")),
            ])
        )
        defer { _ = try? agent.connection.queueDelete(full) }
        var ids = Set<String>()
        for n in 0..<12 {
            ids.insert(
                try agent.call(prefix: worker.prefix, agent: "agent-\(n)", tool: "search_documents", replyTo: full)
            )
        }
        // Nobody reads for 3 s: the queue keeps six replies and the broker nacks the others, again
        // and again. (Requeueing each call on a nack would use up its 10 deliveries in
        // milliseconds and answer it as poison.)
        Thread.sleep(forTimeInterval: 3)
        var answers: [String: [String]] = [:]
        let deadline = ContinuousClock.now + .seconds(60)
        while Set(answers.keys) != ids, ContinuousClock.now < deadline {
            guard let got = try agent.connection.basicGet(queue: full, noAck: true) else {
                Thread.sleep(forTimeInterval: 0.05)
                continue
            }
            let body = try JSONValue.parse(got.body)
            let answer = "\(body["decision"]?.stringValue ?? "-")/\(body["resolution"]?.stringValue ?? "-")"
            answers[got.properties.correlationId ?? "-", default: []].append(answer)
        }
        #expect(Set(answers.keys) == ids, "every call answered")
        #expect(answers.values.allSatisfy { $0 == ["allow/policy"] }, "\(answers)")
        let text = httpGet(port: port, "/metrics").body
        #expect(metric(text, "tollgate_redeliveries_total") == 0, "no call went back to its queue")
        #expect(
            metric(text, "tollgate_publish_nacks_total") ?? 0 >= 1,
            "the broker did reject (a nack frame may cover several publishes)"
        )
        #expect(worker.log.contains("publishing them again"))
        #expect(worker.terminate() == 0)
    }
}
