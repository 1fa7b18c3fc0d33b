import CLibPQ
import XCTest

/// Session state in transaction pooling: one client's settings never reach another, tracked
/// SETs follow their client, transaction-scoped state works, and session-scoped state that
/// cannot be carried is refused with an error naming session mode.
final class SessionStateTests: IntegrationTestCase {
    private func proxy(_ general: String) async throws -> ProxyFixture {
        // One event loop: a pool of one is then one server connection for every client.
        try await ProxyFixture(backendPort: TestCluster.shared.port, general: general, workers: 1)
    }

    /// A pgproxy and two clients of the same pool.
    private func twoClients(_ general: String) async throws -> (ProxyFixture, PQConnection, PQConnection) {
        let proxy = try await proxy(general)
        return (proxy, try PQConnection(proxy.conninfo()), try PQConnection(proxy.conninfo()))
    }

    private func show(_ client: PQConnection, _ setting: String) -> String? {
        client.exec("SHOW \(setting)").firstValue
    }

    /// The reference values of a fresh session, read on a direct connection.
    private func defaults() throws -> (searchPath: String, timeout: String) {
        let direct = try PQConnection("host=127.0.0.1 port=\(TestCluster.shared.port) user=app password=app dbname=app")
        return (show(direct, "search_path") ?? "?", show(direct, "statement_timeout") ?? "?")
    }

    func testSettingsDoNotLeakWhenNotTracked() async throws {
        let fresh = try defaults()
        let (proxy, first, second) = try await twoClients("default_pool_size = 1\ntrack_session_settings = false")
        defer { Task { await proxy.stop() } }
        let pid = first.exec("SELECT pg_backend_pid()").firstValue
        XCTAssertTrue(first.exec("SET search_path TO pg_catalog, public").ok)
        XCTAssertTrue(first.exec("SET statement_timeout = '1234ms'").ok)
        // One server connection for both clients: the second must find it as it was.
        XCTAssertEqual(second.exec("SELECT pg_backend_pid()").firstValue, pid)
        XCTAssertEqual(show(second, "search_path"), fresh.searchPath)
        XCTAssertEqual(show(second, "statement_timeout"), fresh.timeout)
        // Not tracked: the setting does not outlive the client's transaction either (documented).
        XCTAssertEqual(show(first, "statement_timeout"), fresh.timeout)
        // Inside a transaction it holds for that transaction.
        XCTAssertTrue(first.exec("BEGIN").ok)
        XCTAssertTrue(first.exec("SET statement_timeout = '2s'").ok)
        XCTAssertEqual(show(first, "statement_timeout"), "2s")
        XCTAssertTrue(first.exec("COMMIT").ok)
        XCTAssertEqual(show(second, "statement_timeout"), fresh.timeout)
    }

    func testTrackedSettingsFollowTheirClientOnly() async throws {
        let fresh = try defaults()
        let (proxy, first, second) = try await twoClients("default_pool_size = 2")
        defer { Task { await proxy.stop() } }
        XCTAssertTrue(first.exec("SET search_path TO pg_catalog, public").ok)
        XCTAssertTrue(first.exec("SET statement_timeout TO '1234ms'").ok)
        var firstPids = Set<String>()
        for round in 0..<6 {
            // The second client runs in between, and in some rounds holds a connection open, so
            // the first runs on both server connections.
            try await proxy.withServerHeld(round % 2 == 1) {
                let result = first.exec("SELECT current_setting('statement_timeout'), current_setting('search_path'), pg_backend_pid()")
                XCTAssertEqual(result.rows.first?[0], "1234ms", "round \(round)")
                XCTAssertEqual(result.rows.first?[1], "pg_catalog, public", "round \(round)")
                if let pid = result.rows.first?[2] ?? nil { firstPids.insert(pid) }
                XCTAssertEqual(show(second, "statement_timeout"), fresh.timeout, "round \(round)")
                XCTAssertEqual(show(second, "search_path"), fresh.searchPath, "round \(round)")
            }
        }
        XCTAssertGreaterThan(firstPids.count, 1)
        // A failed SET and one inside a rolled-back transaction are not carried.
        XCTAssertEqual(first.exec("SET statement_timeout = 'soon'").sqlState, "22023")
        XCTAssertTrue(first.exec("BEGIN").ok)
        XCTAssertTrue(first.exec("SET statement_timeout = '9s'").ok)
        XCTAssertTrue(first.exec("ROLLBACK").ok)
        XCTAssertEqual(show(first, "statement_timeout"), "1234ms")
        XCTAssertEqual(show(second, "statement_timeout"), fresh.timeout)
        // RESET drops it; DISCARD ALL drops everything.
        XCTAssertTrue(first.exec("RESET statement_timeout").ok)
        XCTAssertEqual(show(first, "statement_timeout"), fresh.timeout)
        XCTAssertTrue(first.exec("DISCARD ALL").ok)
        XCTAssertEqual(show(first, "search_path"), fresh.searchPath)
    }

    /// Drivers prepare what they run often (psycopg 3 after 5 runs, JDBC after prepareThreshold):
    /// a SET run as a named prepared statement is tracked when it runs, a custom dotted setting too.
    func testPreparedAndCustomSettingsFollowTheirClientOnly() async throws {
        let fresh = try defaults()
        let (proxy, first, second) = try await twoClients("default_pool_size = 2")
        defer { Task { await proxy.stop() } }
        XCTAssertTrue(first.prepare("set_path", "SET search_path TO pg_catalog, public").ok)
        XCTAssertEqual(show(first, "search_path"), fresh.searchPath, "preparing a SET does not run it")
        XCTAssertTrue(first.execPrepared("set_path", []).ok)
        XCTAssertTrue(first.exec("SET app.tenant_id = 'tenant-a'").ok)
        for round in 0..<4 {
            try await proxy.withServerHeld(round % 2 == 1) {
                let mine = first.exec("SELECT current_setting('search_path'), current_setting('app.tenant_id', true)")
                XCTAssertEqual(mine.rows.first?[0], "pg_catalog, public", "round \(round)")
                XCTAssertEqual(mine.rows.first?[1], "tenant-a", "round \(round)")
                let theirs = second.exec("SELECT current_setting('search_path'), coalesce(current_setting('app.tenant_id', true), '')")
                XCTAssertEqual(theirs.rows.first?[0], fresh.searchPath, "round \(round)")
                XCTAssertEqual(theirs.rows.first?[1], "", "round \(round)")
            }
        }
        // SET ROLE is not carried, and does not drop the tracked settings.
        XCTAssertTrue(first.exec("SET ROLE app").ok)
        XCTAssertEqual(first.exec("SELECT current_setting('app.tenant_id', true)").firstValue, "tenant-a")
    }

    func testTransactionScopedStateWorks() async throws {
        let fresh = try defaults()
        let proxy = try await proxy("default_pool_size = 1")
        defer { Task { await proxy.stop() } }
        let client = try PQConnection(proxy.conninfo())
        let other = try PQConnection(proxy.conninfo())
        XCTAssertTrue(client.exec("BEGIN").ok)
        XCTAssertTrue(client.exec("SET LOCAL statement_timeout = '5s'").ok)
        XCTAssertEqual(show(client, "statement_timeout"), "5s")
        XCTAssertTrue(client.exec("SELECT pg_advisory_xact_lock(4242)").ok)
        XCTAssertTrue(client.exec("CREATE TEMP TABLE scratch(x int) ON COMMIT DROP").ok)
        XCTAssertTrue(client.exec("INSERT INTO scratch VALUES (1), (2)").ok)
        XCTAssertEqual(client.exec("SELECT sum(x) FROM scratch").firstValue, "3")
        XCTAssertTrue(client.exec("COMMIT").ok)
        XCTAssertEqual(show(client, "statement_timeout"), fresh.timeout)
        XCTAssertEqual(other.exec("SELECT pg_try_advisory_xact_lock(4242)").firstValue, "t", "the transaction's lock ended with it")
        XCTAssertEqual(other.exec("SELECT count(*) FROM pg_class WHERE relname = 'scratch'").firstValue, "0")
    }

    func testSessionScopedStateAndSQLPrepareAreRefusedNamingSessionMode() async throws {
        let proxy = try await proxy("default_pool_size = 2")
        defer { Task { await proxy.stop() } }
        let client = try PQConnection(proxy.conninfo())
        for sql in [
            "LISTEN pgproxy_channel", "CREATE TEMP TABLE kept(x int)", "SELECT pg_advisory_lock(7)",
            "select pg_try_advisory_lock_shared(7)", "DECLARE held CURSOR WITH HOLD FOR SELECT 1",
            "SELECT 1; LISTEN other", "PREPARE p AS SELECT 1", "EXECUTE p", "SELECT 1; PREPARE q AS SELECT 2",
        ] {
            let refused = client.exec(sql)
            XCTAssertEqual(refused.sqlState, "0A000", sql)
            XCTAssertTrue(refused.message?.contains("session") == true, "\(sql): \(refused.message ?? "")")
        }
        // Through the extended protocol too.
        let extended = client.execParams("LISTEN pgproxy_extended", [])
        XCTAssertEqual(extended.sqlState, "0A000", extended.message ?? "")
        // pgproxy remembers the last harmless unnamed Parse text: a different text of the same
        // length, and a refused one sent again, are still read for commands.
        for sql in ["SELECT 1", "SELECT 1", "LISTEN a", "LISTEN a", "SELECT 1", "LISTEN a"] {
            let result = client.execParams(sql, [])
            if sql.hasPrefix("LISTEN") {
                XCTAssertEqual(result.sqlState, "0A000", "\(sql): \(result.message ?? "")")
            } else {
                XCTAssertEqual(result.firstValue, "1", sql)
            }
        }
        XCTAssertEqual(client.exec("SELECT 'usable'").firstValue, "usable")
        XCTAssertEqual(client.exec("SELECT 'listen; advisory' AS text").firstValue, "listen; advisory")

        let session = try await ProxyFixture(backendPort: TestCluster.shared.port, general: "pool_mode = \"session\"")
        defer { Task { await session.stop() } }
        let sessionClient = try PQConnection(session.conninfo())
        XCTAssertTrue(sessionClient.exec("LISTEN pgproxy_channel").ok)
        XCTAssertTrue(sessionClient.exec("CREATE TEMP TABLE kept(x int)").ok)
        XCTAssertEqual(sessionClient.exec("SELECT pg_advisory_lock(7)").status, PGRES_TUPLES_OK)
        XCTAssertTrue(sessionClient.exec("PREPARE p AS SELECT 7").ok)
        XCTAssertEqual(sessionClient.exec("EXECUTE p").firstValue, "7")
    }
}
