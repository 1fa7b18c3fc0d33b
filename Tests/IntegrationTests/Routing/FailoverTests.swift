import Foundation
import XCTest

/// Health checks, bans and primary detection against real streaming replicas: a replica stopped
/// under load, and a replica promoted after its primary went away.
final class FailoverTests: IntegrationTestCase {
    func testAReplicaStoppedUnderLoadIsBannedAndReadsCarryOn() async throws {
        let set = try ReplicaSet(replicas: 2)
        defer { set.destroy() }
        try set.primary.psql("CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 100)")
        try set.waitForReplay()
        let proxy = try await ProxyFixture(
            backendPort: set.primary.port,
            general: "load_balancing = \"round_robin\"\nhealthcheck_interval = \"500ms\"\nban_time = \"60s\"\nquery_wait_timeout = \"10s\"",
            sections: "[[plugins]]\nname = \"read_write_split\"\n" + ProxyFixture.adminSection, databases: set.databases())
        defer { Task { await proxy.stop() } }
        let stopped = set.replicas[0]
        let script = NSTemporaryDirectory() + "pgproxy-read-\(UUID().uuidString).sql"
        try "SELECT id, pg_is_in_recovery() FROM t WHERE id = 7;\n".write(toFile: script, atomically: true, encoding: .utf8)
        defer { unlink(script) }
        let conninfo = proxy.conninfo()

        // Load across the stop: reads in flight on the stopped replica may fail.
        let load = Task { try runCommand("/usr/bin/pgbench", ["-n", "-c", "4", "-T", "4", "-f", script, conninfo], environment: ["PGPASSWORD": "app"]) }
        try await Task.sleep(nanoseconds: 1_500_000_000)
        try stopped.stop("fast")
        _ = try await load.value

        // Once banned, the stopped replica gets nothing and no read fails.
        let admin = try proxy.admin()
        var state = ""
        for _ in 0..<40 {
            let rows = admin.exec("SHOW BACKENDS").records
            state = rows.first { $0["port"] == String(stopped.port) }?["state"] ?? ""
            if state == "banned" { break }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        XCTAssertEqual(state, "banned")
        let after = try runCommand("/usr/bin/pgbench", ["-n", "-c", "4", "-t", "200", "-f", script, conninfo], environment: ["PGPASSWORD": "app"])
        XCTAssertEqual(after.status, 0, after.stdout + after.stderr)
        XCTAssertTrue(after.stdout.contains("number of transactions actually processed: 800/800"), after.stdout)
        XCTAssertTrue(after.stdout.contains("number of failed transactions: 0"), after.stdout)
        let client = try PQConnection(conninfo)
        for _ in 0..<20 {
            let row = client.exec("SELECT inet_server_port(), pg_is_in_recovery()")
            XCTAssertEqual(row.rows.first ?? [], [String(set.replicas[1].port), "t"])
        }
    }

    func testAPromotedReplicaTakesTheWritesWithoutARestart() async throws {
        let set = try ReplicaSet(replicas: 1)
        defer { set.destroy() }
        try set.primary.psql("CREATE TABLE w (port int)")
        try set.waitForReplay()
        var replicated = ""
        for _ in 0..<100 where replicated != "t" {
            replicated = try set.replicas[0].psql("SELECT to_regclass('w') IS NOT NULL")
            if replicated != "t" { try await Task.sleep(nanoseconds: 100_000_000) }
        }
        XCTAssertEqual(replicated, "t", "the replica must have replayed CREATE TABLE before the promotion")
        let proxy = try await ProxyFixture(
            backendPort: set.primary.port, general: "healthcheck_interval = \"1s\"\nhealthcheck_timeout = \"500ms\"",
            sections: "[[plugins]]\nname = \"read_write_split\"", databases: set.databases(primaryRole: "auto", replicaRole: "auto"))
        defer { Task { await proxy.stop() } }
        let client = try PQConnection(proxy.conninfo())
        var first = client.exec("INSERT INTO w VALUES (inet_server_port()) RETURNING port")
        for _ in 0..<30 where !first.ok {
            // The first health check classifies the hosts.
            try await Task.sleep(nanoseconds: 100_000_000)
            first = client.exec("INSERT INTO w VALUES (inet_server_port()) RETURNING port")
        }
        XCTAssertEqual(first.firstValue, String(set.primary.port), first.message ?? "")

        try set.primary.stop("immediate")
        try set.replicas[0].promote()
        let promotedAt = Date()
        var landed: String?
        var lastError = ""
        var writer = try PQConnection(proxy.conninfo())
        while Date().timeIntervalSince(promotedAt) < 10 {
            if !writer.isOK { writer = try PQConnection(proxy.conninfo()) }
            let row = writer.exec("INSERT INTO w VALUES (inet_server_port()) RETURNING port")
            if row.ok {
                landed = row.firstValue ?? nil
                break
            }
            lastError = row.message ?? ""
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        let took = Date().timeIntervalSince(promotedAt)
        if landed == nil { lastError += "; w on the promoted replica: " + ((try? set.replicas[0].psql("SELECT count(*) FROM pg_class WHERE relname = 'w'")) ?? "?") + ", in recovery: " + ((try? set.replicas[0].psql("SELECT pg_is_in_recovery()")) ?? "?") }
        XCTAssertEqual(landed, String(set.replicas[0].port), "writes must reach the promoted replica; last error: \(lastError)")
        XCTAssertLessThan(took, 3.0, "within one health check interval plus a second")
    }
}
