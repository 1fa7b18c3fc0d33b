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

    /// Words, blanks and punctuation go through a byte table; the letters that can open a
    /// prefixed string (E, X, B, N) and digits inside words take the long way.
    func testWordsNextToLiteralPrefixesAndDigits() {
        XCTAssertEqual(shape("SELECT e'x', B'1' FROM t").fingerprint, shape("select E'y', b'0' from T").fingerprint)
        XCTAssertEqual(shape("SELECT e'x' FROM t").literalCount, 1)
        XCTAssertEqual(shape("SELECT ex, e, next FROM t").literalCount, 0, "words starting with e are words")
        XCTAssertNotEqual(shape("SELECT ex FROM t").fingerprint, shape("SELECT e FROM t").fingerprint)
        XCTAssertNotEqual(shape("SELECT * FROM t1").fingerprint, shape("SELECT * FROM t2").fingerprint, "digits inside a word are the word's")
        XCTAssertEqual(shape("SELECT * FROM t1 WHERE a=1").fingerprint, shape("SELECT * FROM T1 WHERE a = 99").fingerprint)
        XCTAssertNotEqual(shape("SELECT ab").fingerprint, shape("SELECT a b").fingerprint)
        XCTAssertEqual(shape("SELECT naïve, été FROM t").fingerprint, shape("select NAïVE ,  été from T").fingerprint)
        XCTAssertNotEqual(shape("SELECT a_b FROM t").fingerprint, shape("SELECT a FROM t").fingerprint)
    }

    /// A word hashes alike wherever it stands: mid-text, at the very end, in another case.
    func testLongWordsShapeAlikeWhereverTheyStand() {
        let word = "pgbench_accounts_with_a_Longer_Name"
        for length in 1...word.count {
            let name = String(word.prefix(length))
            let atEnd = shape("SELECT * FROM \(name)")
            XCTAssertEqual(atEnd.fingerprint, shape("select * from \(name.uppercased()) ").fingerprint, name)
            XCTAssertEqual(atEnd.fingerprint, shape("SELECT * FROM \(name)     -- the name stands far from the end").fingerprint, name)
            XCTAssertNotEqual(atEnd.fingerprint, shape("SELECT * FROM \(name)x").fingerprint, name)
            XCTAssertNotEqual(atEnd.fingerprint, shape("SELECT * FROM \(name) x").fingerprint, name)
        }
        XCTAssertNotEqual(shape("SELECT abcdefgh FROM t").fingerprint, shape("SELECT abcdefg FROM t").fingerprint)
        XCTAssertNotEqual(shape("SELECT abcdefghi FROM t").fingerprint, shape("SELECT abcdefgh i FROM t").fingerprint)
    }

    func testUnterminatedInputDoesNotCrash() {
        for sql in ["SELECT 'abc", "SELECT $$abc", "SELECT /* open", "SELECT \"x", "SELECT E'\\", "$", "'", "1e", "$1$"] {
            _ = shape(sql)
        }
    }
}

