import CLibPQ
import Foundation
import XCTest

/// Pool modes, sizes, waiting, and what a leaving client leaves behind.
final class PoolingTests: IntegrationTestCase {
    func testTransactionModeSharesOneServerConnection() async throws {
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, general: "pool_mode = \"transaction\"\ndefault_pool_size = 1", workers: 1)
        defer { Task { await proxy.stop() } }
        let a = try PQConnection(proxy.conninfo())
        let b = try PQConnection(proxy.conninfo())
        let pidA = a.exec("SELECT pg_backend_pid()").firstValue
        let pidB = b.exec("SELECT pg_backend_pid()").firstValue
        XCTAssertNotNil(pidA)
        XCTAssertEqual(pidA, pidB, "both clients used the single pooled server connection")
        // A transaction keeps its server until it ends.
        XCTAssertTrue(a.exec("BEGIN").ok)
        XCTAssertTrue(a.exec("CREATE TEMP TABLE held(x int) ON COMMIT DROP").ok)
        XCTAssertTrue(a.exec("INSERT INTO held VALUES (1)").ok)
        XCTAssertEqual(a.exec("SELECT count(*) FROM held").firstValue, "1")
        XCTAssertTrue(a.exec("COMMIT").ok)
        XCTAssertEqual(b.exec("SELECT 5").firstValue, "5")
    }

    func testSessionModeKeepsTheServerAndResetsIt() async throws {
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, general: "pool_mode = \"session\"\ndefault_pool_size = 1\nquery_wait_timeout = \"500ms\"", workers: 1)
        defer { Task { await proxy.stop() } }
        do {
            let a = try PQConnection(proxy.conninfo())
            XCTAssertTrue(a.exec("SET search_path TO pg_catalog").ok)
            XCTAssertTrue(a.exec("CREATE TEMP TABLE mine(x int)").ok)
            // The only server is held by `a` for its whole session: `b` waits, then gives up.
            let b = try PQConnection(proxy.conninfo())
            let refused = b.exec("SELECT 1")
            XCTAssertFalse(refused.ok)
            XCTAssertTrue(b.lastError.contains("exhausted") || refused.message?.contains("exhausted") == true, b.lastError)
        }
        // After `a` left, the reset query cleaned the connection for the next client.
        let c = try PQConnection(proxy.conninfo())
        XCTAssertEqual(c.exec("SHOW search_path").firstValue, "\"$user\", public")
        XCTAssertEqual(c.exec("SELECT count(*) FROM pg_class WHERE relname = 'mine' AND relpersistence = 't'").firstValue, "0")
    }

    func testPoolExhaustionGivesAClearErrorInTime() async throws {
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, general: "default_pool_size = 1\nquery_wait_timeout = \"300ms\"", workers: 1)
        defer { Task { await proxy.stop() } }
        let holder = try PQConnection(proxy.conninfo())
        XCTAssertTrue(holder.exec("BEGIN").ok)
        let waiter = try PQConnection(proxy.conninfo())
        let started = Date()
        let outcome = waiter.exec("SELECT 1")
        XCTAssertFalse(outcome.ok)
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        XCTAssertTrue(waiter.lastError.contains("query_wait_timeout"), waiter.lastError)
        XCTAssertTrue(holder.exec("COMMIT").ok)
        let next = try PQConnection(proxy.conninfo())
        XCTAssertEqual(next.exec("SELECT 1").firstValue, "1")
    }

    func testClientLeavingMidTransactionLeavesNothingOpen() async throws {
        let cluster = TestCluster.shared
        try cluster.psql("CREATE TABLE IF NOT EXISTS left_behind(x int); TRUNCATE left_behind")
        let proxy = try await ProxyFixture(backendPort: cluster.port, general: "default_pool_size = 1", workers: 1)
        defer { Task { await proxy.stop() } }
        do {
            let quitter = try PQConnection(proxy.conninfo())
            XCTAssertTrue(quitter.exec("BEGIN").ok)
            XCTAssertTrue(quitter.exec("INSERT INTO left_behind VALUES (1)").ok)
        }  // PQfinish: Terminate in the middle of the transaction
        let next = try PQConnection(proxy.conninfo())
        XCTAssertEqual(next.exec("SELECT count(*) FROM left_behind").firstValue, "0", "the insert was rolled back")
        XCTAssertEqual(next.transactionStatus, PQTRANS_IDLE)
        XCTAssertEqual(next.exec("SELECT now() = statement_timestamp()").firstValue, "t", "not inside the old transaction")
    }

    func testTwoHundredClientsOverFiveConnections() async throws {
        let cluster = TestCluster.shared
        try cluster.psql("SELECT 1", database: "bench")
        let initialized = try runCommand("/usr/bin/pgbench", ["-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p", String(cluster.port), "-U", "bench", "bench"])
        XCTAssertEqual(initialized.status, 0, initialized.stderr)
        let proxy = try await ProxyFixture(backendPort: cluster.port, general: "default_pool_size = 5\nmax_client_connections = 1000")
        defer { Task { await proxy.stop() } }
        for protocolMode in ["simple", "extended"] {
            let result = try runCommand("/usr/bin/pgbench", ["-n", "-c", "200", "-j", "4", "-t", "20", "-M", protocolMode, "-h", "127.0.0.1", "-p", String(proxy.port), "-U", "bench", "bench"],
                environment: ["PGPASSWORD": "bench"])
            XCTAssertEqual(result.status, 0, result.stderr)
            XCTAssertTrue(result.stdout.contains("number of failed transactions: 0"), result.stdout)
            XCTAssertTrue(result.stdout.contains("number of transactions actually processed: 4000/4000"), result.stdout)
        }
        let servers = try cluster.psql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'bench' AND backend_type = 'client backend'", database: "bench")
        XCTAssertLessThanOrEqual(Int(servers) ?? 99, 5, "never more than the pool size")
    }
}

extension PoolingTests {
    func testClientLimitsAreEnforcedAndReleased() async throws {
        let users = """
            [[users]]
            name = "app"
            password = "app"
            max_client_connections = 2
            """
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, users: users)
        defer { Task { await proxy.stop() } }
        var first: PQConnection? = try PQConnection(proxy.conninfo())
        let second = try PQConnection(proxy.conninfo())
        XCTAssertThrowsError(try PQConnection(proxy.conninfo())) { error in
            XCTAssertTrue("\(error)".contains("max_client_connections"), "\(error)")
        }
        XCTAssertEqual(first?.exec("SELECT 1").firstValue, "1")
        first = nil
        try await Task.sleep(nanoseconds: 100_000_000)
        let third = try PQConnection(proxy.conninfo())
        XCTAssertEqual(third.exec("SELECT 3").firstValue, "3")
        XCTAssertEqual(second.exec("SELECT 2").firstValue, "2")
    }
}
