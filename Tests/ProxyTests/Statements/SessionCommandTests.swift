@testable import Proxy
import XCTest

final class SessionCommandTests: XCTestCase {
    private func scan(_ sql: String) -> [SessionCommand] {
        var sql = sql
        return sql.withUTF8 { SessionCommand.scan(UnsafeRawBufferPointer($0)) }
    }

    func testUsualStatementsAreNothing() {
        for sql in [
            "SELECT abalance FROM pgbench_accounts WHERE aid = 4;", "select 1", "  INSERT INTO t VALUES (1)",
            "UPDATE t SET x = 1", "BEGIN", "COMMIT;", "", "   ", "SELECT 'set x = 1; listen y'",
            "SELECT $$; PREPARE p AS SELECT 1$$", "SELECT 1 -- ; LISTEN x", "SELECT 1 /* ; DISCARD ALL */",
            "SET LOCAL statement_timeout = 5", "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", "PREPARE TRANSACTION 'x'",
            "SELECT pg_advisory_xact_lock(1)", "CREATE TEMP TABLE t(x int) ON COMMIT DROP", "CREATE TABLE settings(x int)",
            "DECLARE c CURSOR FOR SELECT 1", "select E'\\'; DISCARD ALL --'",
            "SELECT advisory_lock_id FROM locks", "SELECT 'pg_advisory_lock is documented'", "select set_config('role', $1, true)",
        ] {
            XCTAssertEqual(scan(sql), [], sql)
        }
    }

    func testSessionCommands() {
        XCTAssertEqual(scan("PREPARE p AS SELECT 1"), [.prepare])
        XCTAssertEqual(scan("execute p(1)"), [.execute])
        XCTAssertEqual(scan("DEALLOCATE p"), [.deallocate("p")])
        XCTAssertEqual(scan("deallocate prepare \"P_1\""), [.deallocate("P_1")])
        XCTAssertEqual(scan("DEALLOCATE ALL"), [.deallocate(nil)])
        XCTAssertEqual(scan("DISCARD ALL"), [.discardAll])
        XCTAssertEqual(scan("DISCARD PLANS"), [])
        XCTAssertEqual(scan("RESET statement_timeout"), [.reset("statement_timeout")])
        XCTAssertEqual(scan("RESET ALL"), [.reset(nil)])
        XCTAssertEqual(scan("SET ROLE admin"), [.untracked])
        XCTAssertEqual(scan("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE"), [.untracked])
        XCTAssertEqual(scan("SELECT pg_catalog.set_config('search_path', '', false)"), [.untracked])
        XCTAssertEqual(scan("BEGIN; SET work_mem = '8MB'; ROLLBACK"), [.untracked], "a SET among other statements is not replayed")
        XCTAssertEqual(scan("SET app.tenant_id = 42"), [.set(name: "app.tenant_id", statement: "SET app.tenant_id = 42")])
        XCTAssertEqual(scan("SET XML OPTION DOCUMENT"), [.set(name: "xmloption", statement: "SET XML OPTION DOCUMENT")])
        XCTAssertEqual(scan("SET search_path TO a, b"), [.set(name: "search_path", statement: "SET search_path TO a, b")])
        XCTAssertEqual(scan("set session statement_timeout = '1s';"), [.set(name: "statement_timeout", statement: "set session statement_timeout = '1s'")])
        XCTAssertEqual(scan("SET TIME ZONE 'UTC'"), [.set(name: "timezone", statement: "SET TIME ZONE 'UTC'")])
        XCTAssertEqual(scan("SET SCHEMA 'app'"), [.set(name: "search_path", statement: "SET SCHEMA 'app'")])
        XCTAssertEqual(scan("SELECT 1; SET work_mem = '8MB'; SELECT 2"), [.untracked])
    }

    func testStateTransactionPoolingCannotCarry() {
        for sql in [
            "LISTEN x", "select 1; listen y", "CREATE TEMP TABLE t(x int)", "create temporary table t(x int) on commit delete rows",
            "DECLARE c CURSOR WITH HOLD FOR SELECT 1", "SELECT pg_advisory_lock(1)", "SELECT PG_TRY_ADVISORY_LOCK_SHARED (1)",
            "create temp view v as select 1", "CREATE GLOBAL TEMPORARY TABLE g(x int)",
        ] {
            guard case .sessionState = scan(sql).first else { return XCTFail(sql) }
        }
    }

    func testSingleStatements() {
        func single(_ sql: String) -> Bool {
            var sql = sql
            return sql.withUTF8 { SessionCommand.isSingleStatement(UnsafeRawBufferPointer($0)) }
        }
        XCTAssertTrue(single("DEALLOCATE p"))
        XCTAssertTrue(single("DEALLOCATE p; "))
        XCTAssertFalse(single("DEALLOCATE p; SELECT 1"))
        XCTAssertTrue(SessionCommand.dropsStatements("DISCARD ALL"))
        XCTAssertFalse(SessionCommand.dropsStatements("RESET ALL"))
        XCTAssertFalse(SessionCommand.dropsStatements(nil))
    }
}
