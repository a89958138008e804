// swift-tools-version:6.0
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
let strict: [SwiftSetting] = []

let package = Package(
    name: "tollgate",
    platforms: [.macOS(.v14)],
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
        .target(name: "TollgateJSON", swiftSettings: strict),
        .target(
            name: "TollgatePolicy",
            dependencies: [
                "TollgateJSON",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "TollgateAMQP",
            dependencies: [
                "CRabbitMQ",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "TollgateStore",
            dependencies: [
                "CSQLite",
                "TollgateJSON",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "TollgateWorker",
            dependencies: [
                "TollgateJSON", "TollgatePolicy", "TollgateAMQP", "TollgateStore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "TollgateCLI",
            dependencies: [
                "TollgateJSON", "TollgatePolicy", "TollgateAMQP", "TollgateStore", "TollgateWorker",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(name: "tollgate", dependencies: ["TollgateCLI"], swiftSettings: strict),
        .executableTarget(
            name: "tollgate-bench",
            dependencies: [
                "TollgateJSON", "TollgatePolicy", "TollgateAMQP", "TollgateStore", "TollgateWorker",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "TollgatePolicyTests",
            dependencies: ["TollgatePolicy", "TollgateJSON", "TollgateCLI"],
            resources: [.copy("Fixtures")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "TollgateStoreTests",
            dependencies: ["TollgateStore", "TollgateJSON"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "TollgateWorkerTests",
            dependencies: ["TollgateWorker", "TollgateStore", "TollgatePolicy", "TollgateJSON"],
            swiftSettings: strict
        ),
        // Needs a live RabbitMQ (deploy/broker.sh start); see README.
        .testTarget(
            name: "TollgateBrokerTests",
            dependencies: [
                "TollgateAMQP", "TollgateWorker", "TollgateStore", "TollgatePolicy", "TollgateJSON", "TollgateCLI",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)
