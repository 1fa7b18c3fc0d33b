import CLibPQ
import Foundation
import XCTest

/// Servers that die: the affected client gets a class 08 error, others carry on, the pool heals.
final class BackendFailureTests: IntegrationTestCase {
    func testTerminatedBackendFailsOnlyItsClient() async throws {
        let cluster = TestCluster.shared
        let proxy = try await ProxyFixture(backendPort: cluster.port, general: "pool_mode = \"session\"\ndefault_pool_size = 4")
        defer { Task { await proxy.stop() } }
        let victim = try PQConnection(proxy.conninfo(extra: "application_name=victim"))
        let bystander = try PQConnection(proxy.conninfo(extra: "application_name=bystander"))
        let victimPID = try XCTUnwrap(victim.exec("SELECT pg_backend_pid()").firstValue)
        XCTAssertEqual(bystander.exec("SELECT 1").firstValue, "1")
        XCTAssertTrue(victim.exec("BEGIN").ok)
        XCTAssertEqual(try cluster.psql("SELECT pg_terminate_backend(\(victimPID))"), "t")
        try await Task.sleep(nanoseconds: 200_000_000)
        let failed = victim.exec("SELECT 1")
        XCTAssertFalse(failed.ok)
        XCTAssertTrue(victim.lastError.contains("server connection lost") || failed.sqlState?.hasPrefix("08") == true || failed.sqlState == "57P01", victim.lastError)
        XCTAssertEqual(bystander.exec("SELECT 2").firstValue, "2", "other clients are untouched")
        let again = try PQConnection(proxy.conninfo())
        XCTAssertEqual(again.exec("SELECT 3").firstValue, "3", "the pool opened a replacement")
    }

    func testImmediateStopAndRestart() async throws {
        let cluster = try TestCluster()
        defer { cluster.destroy() }
        let proxy = try await ProxyFixture(backendPort: cluster.port, general: "default_pool_size = 2\nquery_wait_timeout = \"2s\"")
        defer { Task { await proxy.stop() } }
        let client = try PQConnection(proxy.conninfo())
        XCTAssertTrue(client.exec("BEGIN").ok)
        XCTAssertEqual(client.exec("SELECT 1").firstValue, "1")
        try cluster.stop("immediate")
        let failed = client.exec("SELECT 2")
        XCTAssertFalse(failed.ok)
        XCTAssertTrue(client.lastError.contains("server connection lost") || failed.sqlState?.hasPrefix("08") == true, client.lastError)
        // While the server is down, new clients get a clear error rather than a hang.
        let downResult = try runCommand("/usr/bin/psql", ["-XAtc", "SELECT 1", proxy.conninfo()])
        XCTAssertNotEqual(downResult.status, 0)
        XCTAssertTrue(downResult.stderr.contains("could not connect to server"), downResult.stderr)
        try cluster.start()
        XCTAssertEqual(try proxy.psql("SELECT 42"), "42", "the pool heals once the server is back")
    }

    func testBackendDownAtStartup() async throws {
        let port = freeLowPort()
        let cluster = TestCluster(unstartedOnPort: port)
        defer { cluster.destroy() }
        let proxy = try await ProxyFixture(backendPort: port)
        defer { Task { await proxy.stop() } }
        XCTAssertThrowsError(try proxy.psql("SELECT 1")) { error in
            XCTAssertTrue("\(error)".contains("could not connect to server"), "\(error)")
        }
        try cluster.create()
        XCTAssertEqual(try proxy.psql("SELECT 7"), "7")
    }
}
