import XCTest
@testable import Proxy

final class StatementShapeTests: XCTestCase {
    private func shape(_ sql: String) -> StatementShape { StatementShape.scan(sql) }

    func testStatementsThatDifferInConstantsShareAShape() {
        let a = shape("SELECT abalance FROM pgbench_accounts WHERE aid = 48213")
        let b = shape("select  abalance\n  from pgbench_accounts where aid=7 -- a comment")
        XCTAssertEqual(a.fingerprint, shape("SELECT abalance FROM pgbench_accounts WHERE aid = 7").fingerprint)
        XCTAssertEqual(a.fingerprint, b.fingerprint, "spacing, case and comments do not change the shape")
        XCTAssertEqual(shape("SELECT * FROM t WHERE name = 'alice' AND n IN (1, 2.5, 3e10)").fingerprint,
                       shape("SELECT * FROM t WHERE name = 'it''s bob' AND n IN (9, .5, 1E-3)").fingerprint)
        XCTAssertEqual(shape("select E'a\\'b' , $$x$$, $tag$ y $ z $tag$").literalCount, 3)
        XCTAssertEqual(shape("SELECT 1").fingerprint, shape("select 2 /* hi */").fingerprint)
    }

    func testDifferentStatementsDiffer() {
        XCTAssertNotEqual(shape("SELECT a FROM t").fingerprint, shape("SELECT b FROM t").fingerprint)
        XCTAssertNotEqual(shape("SELECT * FROM \"T\"").fingerprint, shape("SELECT * FROM \"t\"").fingerprint)
        XCTAssertEqual(shape("SELECT * FROM T").fingerprint, shape("select * from t").fingerprint)
        XCTAssertNotEqual(shape("SELECT * FROM t FOR UPDATE").fingerprint, shape("SELECT * FROM t").fingerprint)
        XCTAssertNotEqual(shape("SELECT $1").fingerprint, shape("SELECT 1").fingerprint)
    }

    func testLiteralsAndParametersAreReported() {
        var ranges: [String] = []
        let sql = "UPDATE t SET a = 'x', b = 42 WHERE id = $2 AND c = x'ff' AND d = ident1"
        let result = StatementShape.scan(sql) { range in
            let bytes = Array(sql.utf8)[range]
            ranges.append(String(decoding: bytes, as: UTF8.self))
        }
        XCTAssertEqual(ranges, ["'x'", "42", "x'ff'"])
        XCTAssertEqual(result.literalCount, 3)
        XCTAssertEqual(result.parameterCount, 2)
    }

    func testRoleHintsInComments() {
        XCTAssertEqual(shape("/* pgproxy: role=primary */ SELECT 1").roleHint, .primary)
        XCTAssertEqual(shape("SELECT 1 /* route: replica */").roleHint, .replica)
        XCTAssertNil(shape("/* just a comment */ SELECT 1").roleHint)
        XCTAssertEqual(shape("/* route: replica */ SELECT 1").fingerprint, shape("SELECT 1").fingerprint)
    }

    func testUnterminatedInputDoesNotCrash() {
        for sql in ["SELECT 'abc", "SELECT $$abc", "SELECT /* open", "SELECT \"x", "SELECT E'\\", "$", "'", "1e", "$1$"] {
            _ = shape(sql)
        }
    }
}

