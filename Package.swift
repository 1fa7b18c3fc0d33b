// swift-tools-version:6.0
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    // Runtime exclusivity checks cost a few percent on the per-message path; debug builds keep them.
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "pgproxy",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "pgproxy", targets: ["pgproxy"]),
        .library(name: "Proxy", targets: ["Proxy"]),
        // Built-in plugins: loaded with dlopen like any other, found next to the executable.
        .library(name: "pgproxy_read_write_split", type: .dynamic, targets: ["ReadWriteSplit"]),
        .library(name: "pgproxy_hash_sharder", type: .dynamic, targets: ["HashSharder"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", exact: "0.6.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", exact: "2.4.1"),
    ],
    targets: [
        .target(name: "PluginABI", path: "Sources/PluginABI"),
        // accept4 and eventfd for pgproxy's own event loop (Transport/EpollLoop).
        .target(name: "CSockets", path: "Sources/CSockets"),
        // TLS for clients on pgproxy's own event loops, with the system's OpenSSL (libssl-dev).
        .target(name: "CTLS", path: "Sources/CTLS", linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]),
        // libpg_query (Debian libpg-query-dev) behind a small C summary of a statement.
        .target(
            name: "SQLAnalysis",
            dependencies: ["PluginABI"],
            path: "Sources/SQLAnalysis",
            linkerSettings: [.linkedLibrary("pg_query")]
        ),
        .target(name: "PluginSupport", dependencies: ["PluginABI"], path: "Sources/plugins/PluginSupport", swiftSettings: swiftSettings),
        .target(name: "ReadWriteSplit", dependencies: ["PluginABI", "PluginSupport"], path: "Sources/plugins/ReadWriteSplit", swiftSettings: swiftSettings),
        .target(name: "HashSharder", dependencies: ["PluginABI", "PluginSupport"], path: "Sources/plugins/HashSharder", swiftSettings: swiftSettings),
        .systemLibrary(name: "CLibPQ", path: "Sources/CLibPQ"),
        .target(
            name: "Proxy",
            dependencies: [
                "PluginABI",
                "SQLAnalysis",
                "CSockets",
                "CTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "pgproxy",
            dependencies: [
                "Proxy",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ProxyTests",
            dependencies: [
                "Proxy",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "Proxy",
                "CLibPQ",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v5]
)
