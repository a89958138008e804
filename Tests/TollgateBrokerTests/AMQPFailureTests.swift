import Foundation
import Testing
import TollgateAMQP

@Suite("AMQP failures surface fast and retryable")
struct AMQPFailureTests {
    @Test func connectionClosedByTheBrokerIsRetryable() async throws {
        let name = Broker.uniqueName("killed")
        let c = try Broker.connect(name: name)
        defer { c.close() }
        _ = try Broker.declareReplyQueue(on: c)
        #expect(try Broker.closeConnections(named: name, reason: "tollgate test kill") == 1)
        let start = ContinuousClock.now
        do {
            while try c.nextEvent(timeout: .seconds(10)) != nil {}
            Issue.record("no error after the broker closed the connection")
        } catch {
            #expect(error.kind == .connectionClosed(code: 320, text: error.message), "\(error.debugDescription)")
            #expect(error.message.contains("tollgate test kill"))
            #expect(error.isRetryable)
            #expect(ContinuousClock.now - start < .seconds(5))
        }
        #expect(!c.isOpen)
        do {
            try c.publish(routingKey: "x", body: [1])
            Issue.record("publish on a closed connection succeeded")
        } catch {
            #expect(error.kind == .closed)
            #expect(error.isRetryable)
        }
    }

    @Test func silentBrokerIsDetectedByHeartbeats() async throws {
        let proxy = try SilenceableProxy(targetPort: Broker.url.port)
        defer { proxy.stop() }
        let c = try Broker.connect(heartbeatSeconds: 1, port: proxy.port)
        defer { c.close() }
        #expect(c.heartbeatSeconds == 1)
        #expect(try c.nextEvent(timeout: .milliseconds(1500)) == nil)  // heartbeats keep it alive
        proxy.goSilent()
        let start = ContinuousClock.now
        do {
            while try c.nextEvent(timeout: .seconds(10)) != nil {}
            Issue.record("no error although the broker went silent")
        } catch {
            #expect(error.kind == .heartbeatTimeout, "\(error.debugDescription)")
            #expect(error.isRetryable)
            let took = ContinuousClock.now - start
            #expect(took < .seconds(4), "detected after \(took)")
        }
    }

    @Test func publishOnASilentBrokerFailsRetryably() async throws {
        let proxy = try SilenceableProxy(targetPort: Broker.url.port)
        defer { proxy.stop() }
        let c = try Broker.connect(heartbeatSeconds: 1, port: proxy.port)
        defer { c.close() }
        try c.confirmSelect()
        proxy.goSilent()
        let start = ContinuousClock.now
        do {
            // Keep publishing (as a worker with a full window would not, but a naive one might).
            while ContinuousClock.now - start < .seconds(10) {
                try c.publish(routingKey: "nowhere", body: [UInt8](repeating: 0, count: 256))
                _ = try c.nextEvent(timeout: .milliseconds(1))
            }
            Issue.record("publishing to a silent broker never failed")
        } catch {
            #expect(error.kind == .heartbeatTimeout || error.kind == .socketError, "\(error.debugDescription)")
            #expect(error.isRetryable)
            #expect(ContinuousClock.now - start < .seconds(5))
        }
    }
}
