import XCTest
@testable import Proxy
import PluginABI

final class RoutingCacheTests: XCTestCase {
    private func lookUp(_ cache: RoutingCache, _ sql: String) -> StatementInfo {
        var text = sql
        return text.withUTF8 { bytes in
            let raw = UnsafeRawBufferPointer(bytes)
            return cache.info(text: raw, shape: StatementShape.scan(raw))
        }
    }

    func testAShapeIsParsedOnceAndHitAfter() {
        let cache = RoutingCache(limit: 100)
        let first = lookUp(cache, "SELECT abalance FROM pgbench_accounts WHERE aid = 1")
        let second = lookUp(cache, "select abalance from pgbench_accounts where aid = 99")
        XCTAssertTrue(first === second)
        XCTAssertEqual(first.kind, PGPROXY_STMT_READ)
        let write = lookUp(cache, "UPDATE pgbench_accounts SET abalance = 1 WHERE aid = 2")
        XCTAssertEqual(write.kind, PGPROXY_STMT_WRITE)
        XCTAssertEqual(cache.count, 2)
        XCTAssertEqual(cache.hits, 1)
        XCTAssertEqual(cache.misses, 2)
    }

    /// The table grows past its first size and stays bounded by the limit, dropping the least
    /// recently used eighth when full; every entry stays findable through growth and eviction.
    func testGrowsThenEvictsTheLeastRecentlyUsed() {
        let cache = RoutingCache(limit: 2000)
        let kept = "SELECT 1 FROM kept_table"
        for round in 0..<2300 {
            _ = lookUp(cache, "SELECT c\(round) FROM t")
            if round % 100 == 0 { _ = lookUp(cache, kept) }
        }
        XCTAssertLessThanOrEqual(cache.count, 2000)
        XCTAssertGreaterThan(cache.evictions, 0)
        XCTAssertEqual(cache.count + Int(cache.evictions), 2301)
        let hits = cache.hits
        _ = lookUp(cache, kept)
        XCTAssertEqual(cache.hits, hits + 1, "a shape used all along survives eviction")
        _ = lookUp(cache, "SELECT c2299 FROM t")
        XCTAssertEqual(cache.hits, hits + 2, "the newest shape is there")
        _ = lookUp(cache, "SELECT c1 FROM t")
        XCTAssertEqual(cache.hits, hits + 2, "one of the oldest is gone")
    }

    func testAFingerprintCollisionIsAMissNotAWrongAnswer() {
        let cache = RoutingCache(limit: 100)
        let read = "SELECT * FROM t WHERE a = 1"
        let readInfo = lookUp(cache, read)
        // Another statement given the same fingerprint (but other literal counts): not the cached analysis.
        var other = "DELETE FROM t"
        let otherInfo = other.withUTF8 { bytes -> StatementInfo in
            let raw = UnsafeRawBufferPointer(bytes)
            var shape = StatementShape.scan(raw)
            shape.fingerprint = readInfo.fingerprint
            return cache.info(text: raw, shape: shape)
        }
        XCTAssertFalse(otherInfo === readInfo)
        XCTAssertEqual(otherInfo.kind, PGPROXY_STMT_WRITE)
        XCTAssertEqual(cache.misses, 2)
        XCTAssertEqual(cache.count, 1, "the newer statement took the slot")
    }
}
