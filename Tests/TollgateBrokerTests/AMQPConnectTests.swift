import Foundation
import Testing
import TollgateAMQP

@Suite("AMQP connect and login")
struct AMQPConnectTests {
    @Test func connectsAndReportsTheBroker() throws {
        let c = try Broker.connect(name: Broker.uniqueName("connect"))
        defer { c.close() }
        #expect(c.isOpen)
        #expect(c.serverProperties["product"]?.stringValue == "RabbitMQ")
        #expect(c.heartbeatSeconds == 30)
        #expect(c.frameMax == 131_072)
    }

    @Test func wrongPasswordIsAuthenticationFailed() throws {
        let config = AMQPConfiguration(url: Broker.url(user: "finance-agent", password: "not-the-password-x9"))
        do {
            _ = try AMQPConnection(configuration: config, logger: Broker.logger)
            Issue.record("login with a wrong password succeeded")
        } catch {
            #expect(error.kind == .authenticationFailed, "\(error.debugDescription)")
            #expect(!error.isRetryable)
            #expect(error.description.contains("login refused for user 'finance-agent'"))
            #expect(error.description.contains("check the user and password"))
            #expect(!error.description.contains("not-the-password-x9"))
            #expect(!error.debugDescription.contains("not-the-password-x9"))
        }
    }

    @Test func missingVhostIsAccessRefused() throws {
        let config = AMQPConfiguration(url: Broker.url(vhost: "tollgate-no-such-vhost"))
        do {
            _ = try AMQPConnection(configuration: config, logger: Broker.logger)
            Issue.record("login to a missing vhost succeeded")
        } catch {
            #expect(error.kind == .accessRefused, "\(error.debugDescription)")
            #expect(!error.isRetryable)
            #expect(error.description.contains("vhost 'tollgate-no-such-vhost' does not exist or user"))
        }
    }

    @Test func userWithoutPermissionsOnTheVhostIsAccessRefused() throws {
        let config = AMQPConfiguration(url: Broker.url(user: "tollgate-novhost"))
        do {
            _ = try AMQPConnection(configuration: config, logger: Broker.logger)
            Issue.record("tollgate-novhost could open vhost '/': run deploy/broker-users.sh")
        } catch {
            #expect(error.kind == .accessRefused, "\(error.debugDescription)")
            #expect(error.description.contains("vhost '/' does not exist or user 'tollgate-novhost' has no access"))
        }
    }

    @Test func refusedPortSaysToStartTheBroker() throws {
        let config = AMQPConfiguration(url: Broker.url(port: 1), connectTimeout: .seconds(3))
        do {
            _ = try AMQPConnection(configuration: config, logger: Broker.logger)
            Issue.record("something listens on port 1")
        } catch {
            #expect(error.kind == .connectionRefused, "\(error.debugDescription)")
            #expect(error.isRetryable)
            #expect(error.description.contains("no broker at \(Broker.url.host):1"))
            #expect(error.description.contains("deploy/broker.sh start"))
        }
    }

    @Test func unknownHostIsHostNotFound() throws {
        var url = Broker.url
        url.host = "no-such-host.invalid"
        do {
            _ = try AMQPConnection(configuration: AMQPConfiguration(url: url), logger: Broker.logger)
            Issue.record("connected to no-such-host.invalid")
        } catch {
            #expect(error.kind == .hostNotFound, "\(error.debugDescription)")
        }
    }

    @Test func closeIsIdempotentAndLaterCallsFailClosed() throws {
        let c = try Broker.connect()
        c.close()
        c.close()
        #expect(!c.isOpen)
        #expect(throws: AMQPError.self) { try c.queueDeclare(Broker.uniqueName("after-close")) }
        do {
            _ = try c.nextEvent(timeout: .zero)
        } catch {
            #expect(error.kind == .closed)
        }
    }

    @Test func connectionNameIsShownByTheBroker() throws {
        let name = Broker.uniqueName("named")
        let c = try Broker.connect(name: name)
        defer { c.close() }
        let listing = try Broker.rabbitmqctl("list_connections", "--no-table-headers", "client_properties")
        #expect(listing.contains(name))
    }
}

@Suite("AMQP over TLS")
struct AMQPTLSTests {
    static let caPath =
        ProcessInfo.processInfo.environment["TOLLGATE_TEST_AMQP_CA"]
        ?? "/var/lib/rabbitmq/tollgate-tls/ca.pem"

    func tlsConfig(verifyPeer: Bool = true, ca: String? = caPath) throws -> AMQPConfiguration {
        try #require(
            FileManager.default.fileExists(atPath: Self.caPath),
            "no test CA at \(Self.caPath): run deploy/broker.sh start (it sets up the AMQPS listener on 5671)"
        )
        var url = try AMQPURL(parsing: "amqps://localhost:5671/")
        url.user = Broker.url.user
        url.password = Broker.url.password
        return AMQPConfiguration(
            url: url,
            tls: .init(caCertificatePath: ca, verifyPeer: verifyPeer, verifyHostname: verifyPeer),
            connectTimeout: .seconds(5)
        )
    }

    @Test func publishesAndConsumesOverTLS() throws {
        let c = try AMQPConnection(configuration: tlsConfig(), logger: Broker.logger)
        defer { c.close() }
        let q = try Broker.declareReplyQueue(on: c)
        try c.publish(routingKey: q, body: Array("over tls".utf8))
        let got = try Broker.collect(on: c, count: 1, timeout: .seconds(5))
        #expect(got.first.map { String(decoding: $0.body, as: UTF8.self) } == "over tls")
    }

    @Test func untrustedCertificateIsATLSError() throws {
        // Verify the broker against a CA that did not sign its certificate.
        let otherCA = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-other-ca.pem").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=other",
            "-keyout", "/dev/null", "-out", otherCA,
        ]
        p.standardError = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        let config = try tlsConfig(ca: otherCA)
        do {
            _ = try AMQPConnection(configuration: config, logger: Broker.logger)
            Issue.record("TLS connection verified against the wrong CA")
        } catch {
            #expect(error.kind == .tlsError, "\(error.debugDescription)")
        }
    }
}
