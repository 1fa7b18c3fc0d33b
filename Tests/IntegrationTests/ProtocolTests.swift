import CLibPQ
import XCTest

/// Protocol corners through pgproxy, with libpq and psql, in both pool modes.
final class ProtocolTests: IntegrationTestCase {
    private func withProxy(_ mode: String, _ body: (ProxyFixture) async throws -> Void) async throws {
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, general: "pool_mode = \"\(mode)\"\ndefault_pool_size = 3")
        do { try await body(proxy) } catch { await proxy.stop(); throw error }
        await proxy.stop()
    }

    func testSimpleQueriesInBothModes() async throws {
        for mode in ["transaction", "session"] {
            try await withProxy(mode) { proxy in
                XCTAssertEqual(try proxy.psql("SELECT 1 + 1"), "2")
                let connection = try PQConnection(proxy.conninfo())
                let results = connection.execAll("SELECT 1; SELECT 'two'; CREATE TEMP TABLE IF NOT EXISTS t(x int) ON COMMIT DROP; ")
                XCTAssertEqual(results.map(\.ok), [true, true, true], mode)
                XCTAssertEqual(results[1].firstValue, "two")
                XCTAssertEqual(connection.exec("").status, PGRES_EMPTY_QUERY)
                XCTAssertEqual(connection.exec("   ;  ").status, PGRES_EMPTY_QUERY)
            }
        }
    }

    func testErrorsInsideTransactionsAndAfter() async throws {
        for mode in ["transaction", "session"] {
            try await withProxy(mode) { proxy in
                let connection = try PQConnection(proxy.conninfo())
                XCTAssertTrue(connection.exec("BEGIN").ok)
                let failed = connection.exec("SELECT 1/0")
                XCTAssertEqual(failed.sqlState, "22012")
                XCTAssertEqual(connection.exec("SELECT 1").sqlState, "25P02", "in a failed transaction")
                XCTAssertEqual(connection.transactionStatus, PQTRANS_INERROR)
                XCTAssertTrue(connection.exec("ROLLBACK").ok)
                XCTAssertEqual(connection.exec("SELECT 42").firstValue, "42")
                XCTAssertEqual(connection.exec("SELEC 1").sqlState, "42601")
                XCTAssertEqual(connection.exec("SELECT 43").firstValue, "43")
            }
        }
    }

    func testExtendedProtocolAndPipelines() async throws {
        for mode in ["transaction", "session"] {
            try await withProxy(mode) { proxy in
                let connection = try PQConnection(proxy.conninfo())
                XCTAssertEqual(connection.execParams("SELECT $1::int + $2::int", ["40", "2"]).firstValue, "42")
                XCTAssertEqual(connection.execParams("SELECT $1::text IS NULL", [nil]).firstValue, "t")
                let groups: [[(String, [String?])]] = [
                    [("SELECT $1::int", ["1"]), ("SELECT $1::int * 2", ["2"])],
                    [("SELECT 1/$1::int", ["0"]), ("SELECT 'skipped'", [])],
                    [("SELECT $1::text", ["after the error"])],
                ]
                let results = try connection.pipeline(groups)
                XCTAssertEqual(results[0].map(\.firstValue), ["1", "4", nil])
                XCTAssertEqual(results[1][0].sqlState, "22012")
                XCTAssertEqual(results[1][1].status, PGRES_PIPELINE_ABORTED, "statements after an error up to Sync are skipped")
                XCTAssertEqual(results[2][0].firstValue, "after the error")
                // A named statement used within one transaction.
                XCTAssertTrue(connection.exec("BEGIN").ok)
                XCTAssertTrue(connection.prepare("named", "SELECT $1::int * 10").ok)
                XCTAssertEqual(connection.execPrepared("named", ["7"]).firstValue, "70")
                XCTAssertTrue(connection.exec("COMMIT").ok)
            }
        }
    }

    /// A pipeline's ReadyForQuery messages often arrive in one read; each must count, or the
    /// server stays with the client after its last transaction (pool of one: the next client waits).
    func testAPipelineGivesItsServerBackInTransactionMode() async throws {
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, general: "default_pool_size = 1")
        defer { Task { await proxy.stop() } }
        let first = try PQConnection(proxy.conninfo())
        let second = try PQConnection(proxy.conninfo())
        for round in 0..<5 {
            let groups: [[(String, [String?])]] = (0..<4).map { index in [("SELECT $1::int", [String(index)])] }
            let results = try first.pipeline(groups)
            XCTAssertEqual(results.map { $0.first?.firstValue }, ["0", "1", "2", "3"])
            let other = second.exec("SELECT \(round)", timeout: 5)
            guard other?.firstValue == String(round) else {
                return XCTFail("round \(round): the only server connection stayed with the pipelining client")
            }
        }
    }

    func testNoticesAndNotifications() async throws {
        try await withProxy("session") { proxy in
            let listener = try PQConnection(proxy.conninfo())
            XCTAssertTrue(listener.exec("LISTEN pgproxy_events").ok)
            let sender = try PQConnection(proxy.conninfo())
            XCTAssertTrue(sender.exec("NOTIFY pgproxy_events, 'hello'").ok)
            var received: [(channel: String, payload: String)] = []
            for _ in 0..<50 where received.isEmpty {
                try await Task.sleep(nanoseconds: 20_000_000)
                received = listener.notifications()
            }
            XCTAssertEqual(received.first?.channel, "pgproxy_events")
            XCTAssertEqual(received.first?.payload, "hello")
            XCTAssertTrue(sender.exec("DO $$ BEGIN RAISE NOTICE 'from the server'; END $$").ok)
            XCTAssertTrue(sender.notices.contains { $0.contains("from the server") })
        }
    }

    func testParameterStatusFollowsEachClient() async throws {
        // One server connection shared by two clients with different settings.
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, general: "pool_mode = \"transaction\"\ndefault_pool_size = 1", workers: 1)
        defer { Task { await proxy.stop() } }
        let tokyo = try PQConnection(proxy.conninfo(extra: "options='-c TimeZone=Asia/Tokyo' application_name=tokyo"))
        let paris = try PQConnection(proxy.conninfo(extra: "options='-c TimeZone=Europe/Paris' application_name=paris"))
        for _ in 0..<3 {
            XCTAssertEqual(tokyo.exec("SHOW TimeZone").firstValue, "Asia/Tokyo")
            XCTAssertEqual(paris.exec("SHOW TimeZone").firstValue, "Europe/Paris")
            XCTAssertEqual(tokyo.exec("SELECT current_setting('application_name')").firstValue, "tokyo")
            XCTAssertEqual(paris.exec("SELECT current_setting('application_name')").firstValue, "paris")
        }
        XCTAssertTrue(tokyo.exec("SET DateStyle = 'German'").ok)
        XCTAssertEqual(paris.exec("SHOW DateStyle").firstValue, "ISO, MDY")
        XCTAssertEqual(tokyo.exec("SHOW DateStyle").firstValue, "German, DMY")
        XCTAssertEqual(String(cString: PQparameterStatus(tokyo.raw, "DateStyle")), "German, DMY")
        XCTAssertEqual(String(cString: PQparameterStatus(paris.raw, "TimeZone")), "Europe/Paris")
    }
}
