import CLibPQ
import Foundation
import XCTest

final class ShutdownTests: IntegrationTestCase {
    func testShutdownLetsTheRunningTransactionFinish() async throws {
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, general: "shutdown_timeout = \"10s\"")
        let busy = try PQConnection(proxy.conninfo())
        let idle = try PQConnection(proxy.conninfo())
        XCTAssertEqual(idle.exec("SELECT 1").firstValue, "1")
        XCTAssertTrue(busy.exec("BEGIN").ok)
        XCTAssertTrue(PQsendQuery(busy.raw, "SELECT pg_sleep(0.5), 'done'") == 1)
        let shutdown = Task { await proxy.stop() }
        try await Task.sleep(nanoseconds: 100_000_000)
        // New connections are refused while draining.
        XCTAssertThrowsError(try PQConnection(proxy.conninfo()))
        var results: [PQOutcome] = []
        while let result = PQgetResult(busy.raw) {
            results.append(PQConnection.outcome(result))
            PQclear(result)
        }
        XCTAssertEqual(results.first?.rows.first?.last ?? nil, "done", "the running statement finished")
        XCTAssertTrue(busy.exec("COMMIT").ok, "the transaction could finish")
        await shutdown.value
        XCTAssertFalse(idle.exec("SELECT 1").ok, "clients are closed once their transaction is done")
    }
}
