import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle
import TollgateWorker

/// The worker's HTTP endpoints, on Hummingbird (the one HTTP stack of the project):
///
/// - `GET /metrics`: Prometheus text (the `tollgate_*` metrics, see docs/operations.md);
/// - `GET /healthz`: 200 while the worker's event loop turns (it turns at least every 250 ms, and
///   every 50 ms while it waits to reconnect), 503 when it has not for 30 s;
/// - `GET /readyz`: 200 when connected, consuming, able to write its database and not draining;
///   503 with the reason otherwise.
public enum HealthEndpoints {
    /// A loop silent this long is reported unhealthy.
    public static let stalledAfterMillis: Int64 = 30_000

    public static func router(
        control: WorkerControl,
        registry: PrometheusCollectorRegistry
    ) -> Router<BasicRequestContext> {
        router(
            millisSinceLastTurn: { control.millisSinceLastTurn(now: $0) },
            notReadyReason: { control.status.notReadyReason },
            registry: registry
        )
    }

    /// The same endpoints for any process with a loop that turns and a reason not to be ready
    /// (`tollgate webhook` too).
    public static func router(
        millisSinceLastTurn: @escaping @Sendable (Int64) -> Int64?,
        notReadyReason: @escaping @Sendable () -> String?,
        registry: PrometheusCollectorRegistry
    ) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("metrics") { _, _ -> Response in
            var bytes: [UInt8] = []
            registry.emit(into: &bytes)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes))
            )
        }
        router.get("healthz") { _, _ -> Response in
            let since = millisSinceLastTurn(monotonicClockMillis())
            if let since, since > stalledAfterMillis {
                return text(.serviceUnavailable, "unhealthy: the event loop has not turned for \(since / 1000) s\n")
            }
            return text(.ok, "ok\n")
        }
        router.get("readyz") { _, _ -> Response in
            if let reason = notReadyReason() { return text(.serviceUnavailable, "not ready: \(reason)\n") }
            return text(.ok, "ready\n")
        }
        return router
    }

    static func text(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(
            status: status,
            headers: [.contentType: "text/plain; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: body))
        )
    }

    /// The endpoints as a Service for the worker's ServiceGroup.
    public static func application(
        address: String = "0.0.0.0",
        port: Int,
        control: WorkerControl,
        registry: PrometheusCollectorRegistry,
        logger: Logger
    ) -> some Service {
        application(
            address: address,
            port: port,
            router: router(control: control, registry: registry),
            logger: logger
        )
    }

    /// The endpoints of `router` as a Service.
    public static func application(
        address: String = "0.0.0.0",
        port: Int,
        router: Router<BasicRequestContext>,
        logger: Logger
    ) -> some Service {
        Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(address, port: port), serverName: "tollgate"),
            logger: logger
        )
    }

    /// Makes swift-metrics record into a Prometheus registry (once per process) and returns it.
    /// Decision durations go into buckets from 0.5 ms to 10 s.
    public static func bootstrapMetrics() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .seconds(2.5), .seconds(10),
        ]
        MetricsSystem.bootstrap(factory)
        return registry
    }
}
