import CLibPQ
import Foundation
import XCTest

/// The admin console: PgBouncer's result-set shapes, real counts after a known workload, access.
final class AdminConsoleTests: IntegrationTestCase {
    func testStatsCountAKnownWorkload() async throws {
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, sections: ProxyFixture.adminSection, workers: 1)
        let client = try PQConnection(proxy.conninfo(extra: "application_name=known_workload"))
        for _ in 0..<10 { XCTAssertEqual(client.exec("SELECT 1").firstValue, "1") }
        XCTAssertTrue(client.exec("BEGIN").ok)
        XCTAssertTrue(client.exec("SELECT 1").ok)
        XCTAssertTrue(client.exec("COMMIT").ok)
        XCTAssertEqual(client.exec("SELECT 1/0").sqlState, "22012")

        let admin = try proxy.admin()
        let totals = admin.exec("SHOW STATS_TOTALS")
        XCTAssertEqual(totals.columns, ["database", "xact_count", "query_count", "bytes_received", "bytes_sent",
                                        "xact_time", "query_time", "wait_time"])
        XCTAssertEqual(totals.types, [25, 1700, 1700, 1700, 1700, 1700, 1700, 1700])
        let app = try XCTUnwrap(totals.records.first { $0["database"] == "app" })
        // 10 + 1 explicit + 1 failed autocommit transaction; 14 statements.
        XCTAssertEqual(app["xact_count"], "12")
        XCTAssertEqual(app["query_count"], "14")
        // Query messages: 'Q', length, text, NUL: 11 × "SELECT 1" (14 bytes), BEGIN (11), COMMIT (12), "SELECT 1/0" (16).
        XCTAssertEqual(app["bytes_received"], String(11 * 14 + 11 + 12 + 16))
        XCTAssertGreaterThan(Int(app["bytes_sent"] ?? "0") ?? 0, 14 * 6)
        XCTAssertGreaterThan(Int(app["query_time"] ?? "0") ?? 0, 0)

        let stats = admin.exec("SHOW STATS")
        XCTAssertEqual(stats.columns.count, 20)
        XCTAssertEqual(stats.columns.prefix(3), ["database", "total_xact_count", "total_query_count"])
        let appStats = stats.records.first { $0["database"] == "app" }
        XCTAssertEqual(appStats?["total_query_count"], "14")
        // Simple queries only: no Parse or Bind, one server assignment per transaction.
        XCTAssertEqual(appStats?["total_server_assignment_count"], "12")
        XCTAssertEqual(appStats?["total_client_parse_count"], "0")
        XCTAssertEqual(appStats?["total_bind_count"], "0")

        let pools = admin.exec("SHOW POOLS")
        XCTAssertEqual(pools.columns, [
            "database", "user", "cl_active", "cl_waiting", "cl_active_cancel_req", "cl_waiting_cancel_req",
            "sv_active", "sv_active_cancel", "sv_being_canceled", "sv_idle", "sv_used", "sv_tested", "sv_login",
            "maxwait", "maxwait_us", "pool_mode",
        ])
        XCTAssertEqual(pools.types, [25, 25] + Array(repeating: 23, count: 13) + [25])
        let pool = try XCTUnwrap(pools.records.first { $0["database"] == "app" && $0["user"] == "app" })
        XCTAssertEqual(pool["cl_active"], "1")
        XCTAssertEqual(pool["cl_waiting"], "0")
        XCTAssertEqual(pool["sv_active"], "0")
        XCTAssertEqual(pool["sv_idle"], "1")
        XCTAssertEqual(pool["pool_mode"], "transaction")

        let clients = admin.exec("SHOW CLIENTS")
        XCTAssertEqual(clients.columns.prefix(18), [
            "type", "user", "database", "state", "addr", "port", "local_addr", "local_port", "connect_time",
            "request_time", "wait", "wait_us", "close_needed", "ptr", "link", "remote_pid", "tls", "application_name",
        ])
        let row = try XCTUnwrap(clients.records.first { $0["application_name"] == "known_workload" })
        XCTAssertEqual(row["type"], "C")
        XCTAssertEqual(row["state"], "active")
        XCTAssertEqual(row["addr"], "127.0.0.1")
        XCTAssertEqual(row["local_port"], String(proxy.port))
        XCTAssertTrue(row["connect_time"]?.hasSuffix(" UTC") ?? false)
        XCTAssertTrue(clients.records.contains { $0["database"] == "pgproxy" && $0["user"] == "admin" })

        let servers = admin.exec("SHOW SERVERS")
        let server = try XCTUnwrap(servers.records.first)
        XCTAssertEqual(server["type"], "S")
        XCTAssertEqual(server["state"], "idle")
        XCTAssertEqual(server["port"], String(TestCluster.shared.port))
        let backendPID = try TestCluster.shared.psql("SELECT pid FROM pg_stat_activity WHERE application_name = 'known_workload'")
        XCTAssertEqual(server["remote_pid"], backendPID)

        let databases = admin.exec("SHOW DATABASES")
        XCTAssertEqual(databases.columns, ["name", "host", "port", "database", "force_user", "pool_size", "min_pool_size",
                                           "reserve_pool", "pool_mode", "max_connections", "current_connections",
                                           "paused", "disabled"])
        XCTAssertEqual(databases.records.first { $0["name"] == "app" }?["current_connections"], "1")
        XCTAssertEqual(admin.exec("SHOW LISTS").rows.count, 12)
        XCTAssertEqual(admin.exec("SHOW USERS").records.map { $0["name"] ?? "" }.sorted(),
                       ["app", "bench", "md5_user", "plain_user", "trust_user"])
        XCTAssertTrue(admin.exec("SHOW CONFIG").records.contains { $0["key"] == "default_pool_size" && $0["changeable"] == "yes" })
        XCTAssertEqual(admin.exec("SHOW VERSION").firstValue?.hasPrefix("pgproxy "), true)
        let backends = admin.exec("SHOW BACKENDS").records
        XCTAssertEqual(backends.first { $0["database"] == "app" }?["state"], "up")
        await proxy.stop()
    }

    func testUnknownCommandsAndProtocolLimits() async throws {
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, sections: ProxyFixture.adminSection)
        let admin = try proxy.admin()
        let unknown = admin.exec("SHOW FOO")
        XCTAssertEqual(unknown.sqlState, "42601")
        XCTAssertEqual(unknown.message, "invalid command 'SHOW FOO', use SHOW HELP;")
        let hint = String(cString: PQresultErrorField(PQexec(admin.raw, "FROB"), Int32(UInt8(ascii: "H"))))
        XCTAssertTrue(hint.contains("SHOW POOLS") && hint.contains("RELOAD") && hint.contains("KILL_CLIENT id"), hint)
        XCTAssertTrue(admin.exec("show help").ok)
        XCTAssertTrue(admin.notices.contains { $0.contains("Console usage") && $0.contains("SHOW POOLS") }, "\(admin.notices)")
        // Two statements in one message run in order; lower case works.
        let both = admin.execAll("show version; show lists")
        XCTAssertEqual(both.count, 2)
        XCTAssertEqual(both.last?.rows.count, 12)
        // The extended protocol is refused without losing the session.
        let extended = admin.execParams("SHOW POOLS", [])
        XCTAssertEqual(extended.sqlState, "0A000")
        XCTAssertEqual(admin.exec("SHOW VERSION").status, PGRES_TUPLES_OK)
        await proxy.stop()
    }

    func testOnlyTheAdminUserGetsIn() async throws {
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, sections: ProxyFixture.adminSection)
        for database in ["pgproxy", "pgbouncer"] {
            XCTAssertNoThrow(try PQConnection(proxy.conninfo(user: "admin", database: database)))
            XCTAssertThrowsError(try PQConnection(proxy.conninfo(user: "app", database: database))) { error in
                XCTAssertTrue("\(error)".contains("not allowed to use the admin console"), "\(error)")
            }
        }
        XCTAssertThrowsError(try PQConnection(proxy.conninfo(user: "admin", password: "wrong", database: "pgproxy"))) { error in
            XCTAssertTrue("\(error)".contains("password authentication failed"), "\(error)")
        }
        await proxy.stop()

        let closed = try await ProxyFixture(backendPort: TestCluster.shared.port)
        XCTAssertThrowsError(try PQConnection(closed.conninfo(user: "app", database: "pgproxy"))) { error in
            XCTAssertTrue("\(error)".contains("admin console is not enabled"), "\(error)")
        }
        await closed.stop()
    }
}
