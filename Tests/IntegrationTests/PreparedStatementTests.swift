import CLibPQ
import Foundation
import PostgresNIO
import XCTest

/// Named prepared statements in transaction pooling: carried across server connections,
/// per client, bounded, and consistent after errors.
final class PreparedStatementTests: IntegrationTestCase {
    private let pgbench = "/usr/lib/postgresql/15/bin/pgbench"

    private func proxy(_ general: String = "") async throws -> ProxyFixture {
        // One event loop: a pool of one is then one server connection for every client.
        try await ProxyFixture(backendPort: TestCluster.shared.port, general: general, sections: ProxyFixture.adminSection, workers: 1)
    }

    private func statementTotals(_ proxy: ProxyFixture) throws -> [String: String] {
        let admin = try proxy.admin()
        let stats = admin.exec("SHOW STATS")
        return stats.records.first { $0["database"] == "app" } ?? [:]
    }

    func testPgbenchPreparedFiftyClientsOverAPoolOfFive() async throws {
        let initialized = try runCommand(pgbench, ["-i", "-q", "-s", "1", "-h", "127.0.0.1", "-p", String(TestCluster.shared.port), "-U", "bench", "bench"])
        XCTAssertEqual(initialized.status, 0, initialized.stderr)
        let proxy = try await proxy("default_pool_size = 5")
        defer { Task { await proxy.stop() } }
        let target = ["-h", "127.0.0.1", "-p", String(proxy.port), "-U", "bench", "-n", "bench"]
        // TPC-B: BEGIN ... END in each transaction, one thread per client (pgbench 15 prepares
        // synchronously, which would block a thread shared with clients holding servers).
        let tpcb = try runCommand(pgbench, ["-M", "prepared", "-c", "50", "-j", "50", "-T", "4"] + target, environment: ["PGPASSWORD": "bench"])
        XCTAssertEqual(tpcb.status, 0, tpcb.stderr)
        XCTAssertTrue(tpcb.stdout.contains("number of failed transactions: 0 (0.000%)"), tpcb.stdout)
        XCTAssertFalse(tpcb.stderr.contains("error"), tpcb.stderr)
        let select = try runCommand(pgbench, ["-M", "prepared", "-S", "-c", "50", "-j", "2", "-T", "3"] + target, environment: ["PGPASSWORD": "bench"])
        XCTAssertEqual(select.status, 0, select.stderr)
        XCTAssertTrue(select.stdout.contains("number of failed transactions: 0 (0.000%)"), select.stdout)
        XCTAssertFalse(select.stderr.contains("error"), select.stderr)
    }

    func testLibpqPreparesOnceAndExecutesOnEveryServerConnection() async throws {
        let proxy = try await proxy("default_pool_size = 3")
        defer { Task { await proxy.stop() } }
        let client = try PQConnection(proxy.conninfo())
        XCTAssertTrue(client.prepare("double", "SELECT $1::int * 2, pg_backend_pid()").ok)
        var pids = Set<String>()
        for round in 0..<6 {
            // Another client holds a connection in some rounds: the statement runs on others.
            let run = {
                let result = client.execPrepared("double", [String(round)])
                XCTAssertEqual(result.firstValue, String(round * 2), result.message ?? "")
                if let pid = result.rows.first?[1] { pids.insert(pid) }
            }
            try await proxy.withServerHeld(round % 2 == 1) { run() }
        }
        XCTAssertGreaterThan(pids.count, 1, "the statement ran on more than one server connection")

        // A second Parse of the name fails as in PostgreSQL; the statement still works.
        XCTAssertEqual(client.prepare("double", "SELECT 1").sqlState, "42P05")
        XCTAssertEqual(client.execPrepared("double", ["5"]).firstValue, "10")
        // DEALLOCATE forgets it for this client; the name can be prepared again, for other SQL.
        let deallocated = client.exec("DEALLOCATE double")
        XCTAssertTrue(deallocated.ok, deallocated.message ?? "")
        XCTAssertEqual(client.execPrepared("double", ["5"]).sqlState, "26000")
        XCTAssertTrue(client.prepare("double", "SELECT $1::int * 3").ok)
        XCTAssertEqual(client.execPrepared("double", ["5"]).firstValue, "15")
        try await proxy.withServerHeld { XCTAssertEqual(client.execPrepared("double", ["6"]).firstValue, "18") }
        // DEALLOCATE ALL and DISCARD ALL forget every statement of the client.
        XCTAssertTrue(client.prepare("other", "SELECT 'other'").ok)
        XCTAssertTrue(client.exec("DEALLOCATE ALL").ok)
        XCTAssertEqual(client.execPrepared("double", ["1"]).sqlState, "26000")
        XCTAssertEqual(client.execPrepared("other", []).sqlState, "26000")
        XCTAssertTrue(client.prepare("other", "SELECT 'again'").ok)
        XCTAssertTrue(client.exec("DISCARD ALL").ok)
        XCTAssertEqual(client.execPrepared("other", []).sqlState, "26000")
        XCTAssertTrue(client.prepare("other", "SELECT 'third'").ok)
        XCTAssertEqual(client.execPrepared("other", []).firstValue, "third")
        // A statement that fails to prepare leaves no name behind.
        XCTAssertEqual(client.prepare("broken", "SELEC 1").sqlState, "42601")
        XCTAssertEqual(client.execPrepared("broken", []).sqlState, "26000")
        XCTAssertTrue(client.prepare("broken", "SELECT 'fixed'").ok)
        XCTAssertEqual(client.execPrepared("broken", []).firstValue, "fixed")

        let totals = try statementTotals(proxy)
        XCTAssertGreaterThan(Int(totals["total_server_parse_count"] ?? "") ?? 0, 1)
        XCTAssertGreaterThan(Int(totals["total_bind_count"] ?? "") ?? 0, 10)
    }

    func testTwoClientsUseOneNameForDifferentQueriesOnOneServer() async throws {
        let proxy = try await proxy("default_pool_size = 1")
        defer { Task { await proxy.stop() } }
        let first = try PQConnection(proxy.conninfo())
        let second = try PQConnection(proxy.conninfo())
        XCTAssertTrue(first.prepare("s", "SELECT 'first:' || $1::text").ok)
        XCTAssertTrue(second.prepare("s", "SELECT 'second:' || $1::text").ok)
        XCTAssertTrue(first.prepare("only_first", "SELECT 1").ok)
        XCTAssertEqual(first.exec("SELECT pg_backend_pid()").firstValue, second.exec("SELECT pg_backend_pid()").firstValue)
        for round in 0..<5 {
            XCTAssertEqual(first.execPrepared("s", [String(round)]).firstValue, "first:\(round)")
            XCTAssertEqual(second.execPrepared("s", [String(round)]).firstValue, "second:\(round)")
        }
        // Names are per client: the second never sees the first's.
        XCTAssertEqual(second.execPrepared("only_first", []).sqlState, "26000")
        XCTAssertTrue(first.exec("DEALLOCATE s").ok)
        XCTAssertEqual(second.execPrepared("s", ["x"]).firstValue, "second:x")
        XCTAssertEqual(first.execPrepared("s", ["x"]).sqlState, "26000")
    }

    func testStatementsAreEvictedUnderASmallLimit() async throws {
        let proxy = try await proxy("default_pool_size = 1\nprepared_statements_limit = 2")
        defer { Task { await proxy.stop() } }
        let client = try PQConnection(proxy.conninfo())
        for index in 0..<5 { XCTAssertTrue(client.prepare("s\(index)", "SELECT \(index) * $1::int").ok) }
        for round in 1...3 {
            for index in 0..<5 {
                XCTAssertEqual(client.execPrepared("s\(index)", [String(round)]).firstValue, String(index * round))
            }
            let onServer = Int(client.exec("SELECT count(*) FROM pg_prepared_statements").firstValue ?? "") ?? -1
            XCTAssertLessThanOrEqual(onServer, 2, "the server connection keeps at most prepared_statements_limit statements")
        }
        let totals = try statementTotals(proxy)
        XCTAssertGreaterThan(Int(totals["total_prepared_evictions"] ?? "") ?? 0, 5)
    }

    /// An error in a pipeline skips the rest up to Sync, pgproxy's own Parse included: the
    /// statement is prepared again when next needed.
    func testAPipelineWithAnErrorInTheMiddle() async throws {
        let proxy = try await proxy("default_pool_size = 1\nprepared_statements_limit = 1")
        defer { Task { await proxy.stop() } }
        let client = try PQConnection(proxy.conninfo())
        let outcomes = try client.pipelineSteps([
            .prepare("a", "SELECT 'a' || $1::text"), .execPrepared("a", ["1"]), .sync,
            .prepare("b", "SELECT 'b' || $1::text"), .execPrepared("b", ["1"]), .sync,
            // "a" was evicted for "b": pgproxy prepares it again after the failing statement,
            // and the server skips that Parse with everything else up to Sync.
            .query("SELECT 1/$1::int", ["0"]), .execPrepared("a", ["2"]), .sync,
            .execPrepared("a", ["3"]), .execPrepared("b", ["3"]), .sync,
            .query("SELECT $1::int", ["4"]), .execPrepared("a", ["4"]), .sync,
        ])
        let summary = outcomes.map { $0.firstValue ?? $0.sqlState ?? "\($0.status)" }
        XCTAssertEqual(outcomes[0].status, PGRES_COMMAND_OK)
        XCTAssertEqual(outcomes[1].firstValue, "a1", "\(summary)")
        XCTAssertEqual(outcomes[4].firstValue, "b1", "\(summary)")
        XCTAssertEqual(outcomes[6].sqlState, "22012", "\(summary)")
        XCTAssertEqual(outcomes[7].status, PGRES_PIPELINE_ABORTED, "\(summary)")
        XCTAssertEqual(outcomes[9].firstValue, "a3", "\(summary)")
        XCTAssertEqual(outcomes[10].firstValue, "b3", "\(summary)")
        XCTAssertEqual(outcomes[12].firstValue, "4", "\(summary)")
        XCTAssertEqual(outcomes[13].firstValue, "a4", "\(summary)")
        XCTAssertEqual(client.exec("SELECT 'still in step'").firstValue, "still in step")
    }

    private struct Triple: PostgresPreparedStatement {
        static let sql = "SELECT $1::int * 3 AS value, pg_backend_pid() AS pid"
        typealias Row = (Int, Int)
        var value: Int
        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings()
            bindings.append(value)
            return bindings
        }
        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    func testPostgresNIOStatementsAcrossServerConnections() async throws {
        let proxy = try await proxy("default_pool_size = 2")
        defer { Task { await proxy.stop() } }
        let connection = try await NIOClient.connect(port: proxy.port, user: "app", password: "app")
        var pids = Set<Int>()
        for round in 0..<6 {
            try await proxy.withServerHeld(round % 2 == 1) {
                for try await (value, pid) in try await connection.execute(Triple(value: round), logger: NIOClient.logger) {
                    XCTAssertEqual(value, round * 3)
                    pids.insert(pid)
                }
            }
        }
        XCTAssertGreaterThan(pids.count, 1)
        // The older API: prepare, execute, deallocate (a protocol Close), prepare again.
        let prepared = try await connection.prepare(query: "SELECT $1::text || '!'").get()
        let rows = try await prepared.execute([PostgresData(string: "hi")]).get()
        XCTAssertEqual(try rows.first?.decode(String.self), "hi!")
        try await prepared.deallocate().get()
        let again = try await connection.prepare(query: "SELECT $1::text || '?'").get()
        let answer = try await again.execute([PostgresData(string: "ok")]).get()
        XCTAssertEqual(try answer.first?.decode(String.self), "ok?")
        try await connection.close()
    }
}
