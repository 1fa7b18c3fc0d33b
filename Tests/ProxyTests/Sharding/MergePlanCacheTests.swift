import XCTest

@testable import Proxy

final class MergePlanCacheTests: XCTestCase {
    func testPlansAreKeptByTheirTextAndBounded() {
        let cache = MergePlanCache(limit: 2)
        guard case .plan(let first, let text)? = Optional(cache.plan(for: "SELECT id FROM users ORDER BY id LIMIT 5")),
              case .plan(let again, _)? = Optional(cache.plan(for: "SELECT id FROM users ORDER BY id LIMIT 5")),
              case .plan(let other, _)? = Optional(cache.plan(for: "SELECT id FROM users ORDER BY id LIMIT 7"))
        else { return XCTFail("these statements can be merged") }
        XCTAssertEqual(first, again)
        XCTAssertEqual(first.limit, 5)
        XCTAssertEqual(other.limit, 7, "another LIMIT is another plan")
        XCTAssertTrue(text.contains("LIMIT 5"), text)
        guard case .refused(let reason) = cache.plan(for: "SELECT a FROM t GROUP BY a HAVING count(*) > 1") else {
            return XCTFail("HAVING is refused, also from the cache")
        }
        XCTAssertTrue(reason.contains("HAVING"), reason)
        guard case .refused = cache.plan(for: "SELECT a FROM t GROUP BY a HAVING count(*) > 1") else { return XCTFail("kept refusal") }
    }
}
