import XCTest

@testable import Proxy

final class BackendLatencyTests: XCTestCase {
    /// The p99 plugins see settles near the true 99th percentile and follows a change of load.
    func testTheStreamingP99FollowsTheDistribution() {
        let backend = Backend(id: 0, config: DatabaseConfig(name: "app", host: "127.0.0.1"))
        // 1..1000 µs, shuffled deterministically: the 99th percentile is 990 µs.
        var generator = SplitMix(seed: 42)
        for _ in 0..<50_000 { backend.record(latencyMicros: Int(generator.next() % 1000) + 1) }
        XCTAssertEqual(backend.latencyP99Milliseconds, 0.990, accuracy: 0.04)
        // Ten times slower: the estimate moves up within a few thousand statements.
        for _ in 0..<20_000 { backend.record(latencyMicros: (Int(generator.next() % 1000) + 1) * 10) }
        XCTAssertEqual(backend.latencyP99Milliseconds, 9.90, accuracy: 0.4)
    }
}

/// A small deterministic generator (SplitMix64), so the test does not depend on a seed of the system's.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
