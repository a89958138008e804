import Testing
import TollgateAMQP

@Suite("AMQP URL, errors and Backoff (no broker needed)")
struct AMQPValueTests {
    struct URLCase: Sendable, CustomTestStringConvertible {
        var text: String
        var host: String, port: Int, user: String, password: String, vhost: String, tls: Bool
        var testDescription: String { text }
    }

    @Test(arguments: [
        URLCase(
            text: "amqp://",
            host: "localhost",
            port: 5672,
            user: "guest",
            password: "guest",
            vhost: "/",
            tls: false
        ),
        URLCase(text: "amqp://h", host: "h", port: 5672, user: "guest", password: "guest", vhost: "/", tls: false),
        URLCase(text: "amqp://h/", host: "h", port: 5672, user: "guest", password: "guest", vhost: "/", tls: false),
        URLCase(text: "amqp://h/%2f", host: "h", port: 5672, user: "guest", password: "guest", vhost: "/", tls: false),
        URLCase(text: "amqp://h/%2F", host: "h", port: 5672, user: "guest", password: "guest", vhost: "/", tls: false),
        URLCase(
            text: "amqp://u:p@h:1234/prod",
            host: "h",
            port: 1234,
            user: "u",
            password: "p",
            vhost: "prod",
            tls: false
        ),
        URLCase(text: "AMQPS://h", host: "h", port: 5671, user: "guest", password: "guest", vhost: "/", tls: true),
        URLCase(text: "amqps://u@h:5000/v", host: "h", port: 5000, user: "u", password: "guest", vhost: "v", tls: true),
        URLCase(
            text: "amqp://manager%40corp.com:p%3Aw%2Fd%40x@broker.local/a%2Fb",
            host: "broker.local",
            port: 5672,
            user: "manager@corp.com",
            password: "p:w/d@x",
            vhost: "a/b",
            tls: false
        ),
        URLCase(
            text: "amqp://[::1]:5673/",
            host: "::1",
            port: 5673,
            user: "guest",
            password: "guest",
            vhost: "/",
            tls: false
        ),
        URLCase(
            text: "amqp://h/v?heartbeat=10",
            host: "h",
            port: 5672,
            user: "guest",
            password: "guest",
            vhost: "v",
            tls: false
        ),
    ])
    func parsesURLs(_ c: URLCase) throws {
        let u = try AMQPURL(parsing: c.text)
        #expect(
            u == AMQPURL(host: c.host, port: c.port, user: c.user, password: c.password, vhost: c.vhost, tls: c.tls)
        )
    }

    @Test(arguments: [
        "http://h", "h:5672", "amqp://h:notaport", "amqp://h:70000", "amqp://h/a/b", "amqp://u:p%zz@h",
        "amqp://[::1", "amqp://u:secret-pw@h:0/",
    ])
    func rejectsBadURLs(_ text: String) {
        do {
            _ = try AMQPURL(parsing: text)
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.kind == .invalidURL)
            #expect(!error.isRetryable)
            #expect(!error.description.contains("secret-pw"))
        }
    }

    @Test func urlDescriptionHidesThePassword() throws {
        let u = try AMQPURL(parsing: "amqps://agent:hunter2@h/prod")
        #expect(u.description == "amqps://agent@h:5671/prod")
        #expect(!"\(u)".contains("hunter2"))
    }

    @Test func retryabilityFollowsTheKind() {
        func e(_ k: AMQPError.Kind) -> AMQPError { AMQPError(k, message: "m", context: "c") }
        #expect(e(.connectionClosed(code: 320, text: "CONNECTION_FORCED")).isRetryable)
        #expect(!e(.connectionClosed(code: 530, text: "NOT_ALLOWED")).isRetryable)
        #expect(e(.channelClosed(code: 404, text: "NOT_FOUND")).isRetryable)
        #expect(!e(.channelClosed(code: 406, text: "PRECONDITION_FAILED")).isRetryable)
        #expect(e(.heartbeatTimeout).isRetryable)
        #expect(e(.socketError).isRetryable)
        #expect(!e(.authenticationFailed).isRetryable)
        #expect(!AMQPError(.tlsError, message: "", context: "", libraryStatus: -0x0202).isRetryable)
    }

    @Test func backoffGrowsToTheCapWithJitterAndResets() {
        var b = Backoff(initial: .milliseconds(100), maximum: .seconds(2), multiplier: 2, jitter: 0)
        let plain = (0..<7).map { _ in b.next() }
        #expect(
            plain == [
                .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800),
                .milliseconds(1600), .seconds(2), .seconds(2),
            ]
        )
        b.reset()
        #expect(b.attempts == 0)
        #expect(b.next() == .milliseconds(100))

        var j = Backoff(initial: .seconds(1), maximum: .seconds(10), jitter: 0.5)
        for _ in 0..<200 {
            j.reset()
            let d = j.next()
            #expect(d >= .milliseconds(500) && d <= .seconds(1))
        }
        for _ in 0..<100 { _ = j.next() }
        #expect(j.next() <= .seconds(10))
    }
}
