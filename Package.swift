// swift-tools-version:6.1
import PackageDescription

// Tollgate: a RabbitMQ worker that gates AI agents' tool calls with
// agent-os-compatible YAML policies, human escalations and an audit trail.
//
// Targets by concern:
//   TollgateJSON    JSON values with Python's semantics (no dependencies)
//   TollgatePolicy  the policy engine: loading, validation, evaluation (no AMQP, no SQLite)
//   TollgateAMQP    the only Swift code that touches librabbitmq (CRabbitMQ)
//   TollgateStore   the only Swift code that touches SQLite (CSQLite)
//   TollgateWorker  joins engine, broker and store into `tollgate worker`
//   TollgateCLI     the command line, callable from tests
//
// Linux only (Debian 12 is what CI runs): the AMQP module uses Glibc socket options and the
// worker builds on librabbitmq and libsqlite3 from Debian's packages.

let package = Package(
    name: "tollgate",
    products: [
        .executable(name: "tollgate", targets: ["tollgate"]),
        .executable(name: "tollgate-bench", targets: ["tollgate-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // One HTTP stack for every endpoint (metrics, health, the approvals gateway): Hummingbird 2
        // on SwiftNIO, without its optional traits (swift-configuration, full Foundation).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // TLS for the gateway (--tls-cert/--tls-key); also what HummingbirdTLS builds on.
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // Header names for the gateway (Hummingbird re-exports only HTTPFields itself).
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        // The webhook bridge's HTTP client: on the same SwiftNIO and NIOSSL as the rest (see
        // docs/webhooks.md for why not URLSession).
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CRabbitMQ",
            pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"])]
        ),
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .target(name: "TollgateJSON"),
        .target(
            name: "TollgatePolicy",
            dependencies: [
                "TollgateJSON",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "TollgateAMQP",
            dependencies: [
                "CRabbitMQ",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "TollgateStore",
            dependencies: [
                "CSQLite",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "TollgateWorker",
            dependencies: [
                "TollgateJSON", "TollgatePolicy", "TollgateAMQP", "TollgateStore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The HTTP endpoints: /metrics, /healthz, /readyz of the worker (and the gateway).
        .target(
            name: "TollgateHTTP",
            dependencies: [
                "TollgateWorker", "TollgateStore", "TollgateJSON", "TollgateAMQP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // `tollgate webhook`: escalation notices POSTed, signed, retried, to chat tools and tickets.
        .target(
            name: "TollgateWebhook",
            dependencies: [
                "TollgateAMQP", "TollgateJSON", "TollgateWorker",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "TollgateCLI",
            dependencies: [
                "TollgateJSON", "TollgatePolicy", "TollgateAMQP", "TollgateStore", "TollgateWorker", "TollgateHTTP",
                "TollgateWebhook",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(name: "tollgate", dependencies: ["TollgateCLI"]),
        .executableTarget(
            name: "tollgate-bench",
            dependencies: [
                "TollgateJSON", "TollgatePolicy", "TollgateAMQP", "TollgateStore", "TollgateWorker",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "TollgatePolicyTests",
            dependencies: ["TollgatePolicy", "TollgateJSON", "TollgateCLI"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "TollgateStoreTests",
            dependencies: ["TollgateStore", "TollgateJSON"]
        ),
        .testTarget(name: "TollgateJSONTests", dependencies: ["TollgateJSON"]),
        .testTarget(name: "TollgateAMQPTests", dependencies: ["TollgateAMQP"]),
        // The decision core in-process: a temporary store, hand-built inputs, a fixed clock.
        .testTarget(
            name: "TollgateWorkerTests",
            dependencies: [
                "TollgateWorker", "TollgateStore", "TollgatePolicy", "TollgateJSON",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
            ]
        ),
        // The gateway's checks in-process: bot signatures, rate limits, the fleet view, routes.
        .testTarget(name: "TollgateHTTPTests", dependencies: ["TollgateHTTP", "TollgateJSON"]),
        // The bridge's parts without sockets: signatures, Slack messages, retries, order.
        .testTarget(name: "TollgateWebhookTests", dependencies: ["TollgateWebhook", "TollgateJSON"]),
        // Needs a live RabbitMQ (deploy/broker.sh start); see README.
        .testTarget(
            name: "TollgateBrokerTests",
            dependencies: [
                "TollgateAMQP", "TollgateWorker", "TollgateStore", "TollgatePolicy", "TollgateJSON", "TollgateCLI",
                "TollgateWebhook",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// The coverage-guided fuzz targets (tools/fuzz/Sources): only when tools/fuzz/run.sh asks for
// them (TOLLGATE_FUZZ=1), built with the sanitizers in a build folder of their own; `@testable`
// reaches the worker's parsers, so they build in debug.
if Context.environment["TOLLGATE_FUZZ"] == "1" {
    package.products.append(.executable(name: "tollgate-fuzz", targets: ["tollgate-fuzz"]))
    package.targets.append(
        .executableTarget(
            name: "tollgate-fuzz",
            dependencies: ["TollgateJSON", "TollgatePolicy", "TollgateWorker"],
            path: "tools/fuzz/Sources"
        )
    )
}
