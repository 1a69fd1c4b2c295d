// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "anomaly-detection",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "adworker", targets: ["ADWorker"])
    ],
    dependencies: [
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/yaslab/CSV.swift.git", from: "2.5.2"),
        // The worker's metrics: instrumented through swift-metrics' API, exported by swift-prometheus on /metrics.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // Tests only: APIContractTests reads api/openapi.yaml.
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    ],
    targets: [
        // Pure logic: detection, alert rules, learning, worker decisions, schema plans. No dependencies, no I/O.
        .target(name: "ADCore"),
        // Evaluation corpora (NAB, labelled CSV), NAB scoring, reports and plots: pure logic plus file I/O, no SQL.
        .target(name: "ADEvaluation", dependencies: ["ADCore"]),
        // Every SQL statement the product runs, by concern: scoring, alerting, feedback, retention, schema, evaluation,
        // doctor. (adworker bench's harness keeps the SQL that builds its scratch database beside it, in ADWorker/Bench.)
        .target(
            name: "ADPostgres",
            dependencies: [
                "ADCore",
                "ADEvaluation",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Channels (webhook, Slack, PagerDuty, SMTP email, Alertmanager) and one delivery pass; its SQL is ADPostgres's.
        .target(
            name: "ADAlerting",
            dependencies: [
                "ADCore",
                "ADPostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // MLflow's tracking server and model registry (REST API 2.0): one finished training exported as a run, its
        // artifact and a registered model version. Talks HTTP only; knows nothing of SQL.
        .target(
            name: "ADMLflow",
            dependencies: [
                "ADCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The HTTP API and operator console (Hummingbird): thin doors over the SQL that exists. Every request runs in
        // one transaction as its bearer token's database role; its SQL is ADPostgres's (API/).
        .target(
            name: "ADHTTP",
            dependencies: [
                "ADCore",
                "ADPostgres",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CSV", package: "CSV.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "ADWorker",
            dependencies: [
                "ADCore",
                "ADEvaluation",
                "ADPostgres",
                "ADAlerting",
                "ADMLflow",
                "ADHTTP",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(name: "ADTestSupport", dependencies: ["ADCore"], path: "Tests/ADTestSupport"),
        // Integration-test helpers: scratch databases, worker processes.
        .target(
            name: "ADDBTestSupport",
            dependencies: [
                "ADCore",
                "ADTestSupport",
                "ADPostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/ADDBTestSupport"
        ),
        .testTarget(name: "ADCoreTests", dependencies: ["ADCore", "ADTestSupport"]),
        .testTarget(name: "ADEvaluationTests", dependencies: ["ADCore", "ADEvaluation", "ADTestSupport"]),
        .testTarget(
            name: "ADAlertingTests",
            dependencies: [
                "ADCore",
                "ADPostgres",
                "ADAlerting",
                "ADTestSupport",
                "ADDBTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "ADHTTPTests",
            dependencies: [
                "ADCore",
                "ADPostgres",
                "ADHTTP",
                "ADTestSupport",
                "ADDBTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .testTarget(
            name: "ADMLflowTests",
            dependencies: [
                "ADMLflow",
                "ADTestSupport",
                "ADDBTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "ADPostgresTests",
            dependencies: [
                "ADCore",
                "ADEvaluation",
                "ADPostgres",
                "ADTestSupport",
                "ADDBTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
