import XCTest

@testable import Proxy

final class CancelRegistryTests: XCTestCase {
    /// The batch is refilled from the system after 64 numbers: a broken refill would repeat them.
    func testRandomBatchRefillsWithFreshNumbers() {
        var batch = RandomBatch()
        let numbers = (0..<200).map { _ in batch.next() }
        XCTAssertEqual(Set(numbers).count, numbers.count, "200 random 64-bit numbers, none repeated")
        XCTAssertFalse(numbers.contains(0))
    }

    func testSystemRandomBytesFillsTheWholeBuffer() {
        var bytes = [UInt8](repeating: 0, count: 4096)
        bytes.withUnsafeMutableBytes { SystemRandomBytes.fill($0) }
        // 4096 random bytes take nearly all 256 values; a buffer left unfilled would hold one.
        XCTAssertGreaterThan(Set(bytes).count, 200)
        XCTAssertFalse(bytes.suffix(64).allSatisfy { $0 == 0 }, "the end of the buffer is filled too")
    }
}
