// swift-tools-version:6.0
// libFuzzer target for pgproxy's protocol decoders: `make fuzz` (Fuzz/run.sh) builds it with
// `swift build --sanitize=fuzzer` and runs it on the corpus in Fuzz/corpus.
// The decoder sources are symbolic links into Sources/Proxy (Protocol, Auth and the server login),
// compiled here with coverage
// instrumentation, so the fuzzer exercises the very code the proxy runs.
import PackageDescription

let package = Package(
    name: "pgproxy-fuzz",
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
    ],
    targets: [
        .executableTarget(
            name: "wire-fuzzer",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            path: "Sources/WireFuzzer"
        ),
    ],
    swiftLanguageModes: [.v5]
)
