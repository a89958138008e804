// The RabbitMQ definitions of deploy/rabbitmq/definitions.json, imported into the local broker
// (vhost `tollgate`), and what the broker then lets each role do.
import Foundation
import Testing
import TollgateAMQP

@Suite("Deploy permissions", .serialized, .enabled(if: getuid() == 0))
struct DeployPermissionsTests {
    static let imported: Bool = {
        let definitions = packageRoot.appendingPathComponent("deploy/rabbitmq/definitions.json").path
        return system("PATH=$PATH:/usr/sbin rabbitmqctl -q import_definitions '\(definitions)' >/dev/null 2>&1") == 0
    }()

    /// A connection as `user` (password `secret`, as in the definitions) to vhost `tollgate`.
    func connect(_ user: String) throws -> AMQPConnection {
        var url = Broker.url
        url.user = user
        url.password = "secret"
        url.vhost = "tollgate"
        let c = try AMQPConnection(
            configuration: AMQPConfiguration(url: url, connectionName: "permissions test"),
            logger: Broker.logger
        )
        try c.confirmSelect()
        return c
    }

    /// Publishes and waits for the broker: nil when it confirmed, the error when it refused.
    func publish(
        _ user: String,
        exchange: String,
        routingKey: String,
        body: String,
        userID: String? = nil
    ) throws
        -> AMQPError?
    {
        let c = try connect(user)
        defer { c.close() }
        var properties = AMQPProperties()
        properties.userId = userID
        let seq = try c.publish(
            exchange: exchange,
            routingKey: routingKey,
            body: Array(body.utf8),
            properties: properties
        )
        do {
            let end = ContinuousClock.now + .seconds(5)
            while ContinuousClock.now < end {
                if case .publishAck(let n, let multiple)? = try c.nextEvent(timeout: .milliseconds(200)),
                    n == seq || (multiple && n > seq)
                {
                    return nil
                }
            }
            return AMQPError(.timeout, message: "no confirm", context: "publishing")
        } catch {
            return error
        }
    }

    @Test("an agent may publish tool calls but not votes or fleet queries")
    func agent() throws {
        try #require(Self.imported, "rabbitmqctl import_definitions failed")
        let call = #"{"agent_id":"finance-agent","tool_name":"search_documents"}"#
        #expect(
            try publish("finance-agent", exchange: "tollgate.toolcalls", routingKey: "finance-agent", body: call) == nil
        )
        let vote = try publish(
            "finance-agent",
            exchange: "tollgate.approvals",
            routingKey: "w1",
            body: #"{"request_id":"w1-x","decision":"approve"}"#,
            userID: "finance-agent"
        )
        #expect(
            vote?.kind == .accessRefused,
            "an agent's vote must be refused by the broker: \(String(describing: vote))"
        )
        let query = try publish(
            "finance-agent",
            exchange: "tollgate.control",
            routingKey: "",
            body: #"{"query":"pending"}"#
        )
        #expect(query?.kind == .accessRefused)
    }

    @Test("an approver may vote and ask the fleet but not publish tool calls")
    func approver() throws {
        try #require(Self.imported, "rabbitmqctl import_definitions failed")
        let vote = #"{"request_id":"w1-x","decision":"approve"}"#
        #expect(
            try publish(
                "manager@corp.com",
                exchange: "tollgate.approvals",
                routingKey: "w1",
                body: vote,
                userID: "manager@corp.com"
            ) == nil
        )
        #expect(
            try publish("manager@corp.com", exchange: "tollgate.control", routingKey: "", body: #"{"query":"pending"}"#)
                == nil
        )
        let call = try publish(
            "manager@corp.com",
            exchange: "tollgate.toolcalls",
            routingKey: "manager@corp.com",
            body: #"{"agent_id":"manager@corp.com","tool_name":"transfer_funds"}"#
        )
        #expect(call?.kind == .accessRefused, "an approver's tool call must be refused: \(String(describing: call))")
        // And nobody may vote in another person's name.
        let forged = try publish(
            "manager@corp.com",
            exchange: "tollgate.approvals",
            routingKey: "w1",
            body: vote,
            userID: "cfo@corp.com"
        )
        #expect(forged != nil)
    }

    @Test("the webhook bridge may run as tollgate-webhook, and may not vote or call")
    func webhookBridge() throws {
        try #require(Self.imported, "rabbitmqctl import_definitions failed")
        let scratch = try Scratch()
        var url = Broker.url
        url.user = "tollgate-webhook"
        url.password = "secret"
        url.vhost = "tollgate"
        let bridge = BridgeProcess(
            scratch: scratch,
            prefix: "tollgate",
            arguments: ["--url", "permissions-test=http://127.0.0.1:9/hook"],
            amqpURL: url.description(withPassword: true)
        )
        try bridge.start()
        #expect(bridge.terminate() == 0)
        let c = try connect("tollgate-webhook")
        _ = try c.queueDelete("tollgate.webhook.permissions-test")
        c.close()
        let vote = try publish(
            "tollgate-webhook",
            exchange: "tollgate.approvals",
            routingKey: "w1",
            body: #"{"request_id":"w1-x","decision":"approve"}"#
        )
        #expect(vote?.kind == .accessRefused)
    }

    @Test("an observer may publish nothing")
    func observer() throws {
        try #require(Self.imported, "rabbitmqctl import_definitions failed")
        let refused = try publish(
            "tollgate-observer",
            exchange: "tollgate.decisions",
            routingKey: "allow.x",
            body: "{}"
        )
        #expect(refused?.kind == .accessRefused)
    }
}
