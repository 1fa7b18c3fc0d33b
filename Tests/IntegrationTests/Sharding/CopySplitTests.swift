import CLibPQ
import Foundation
import XCTest

/// COPY FROM STDIN into a sharded table: each row goes to the shard of its key, all shards
/// commit together or roll back together; into an omnisharded table every row goes everywhere.
final class CopySplitTests: ShardSetTestCase {
    private func proxy(_ set: ShardSet, poolSize: Int = 2) async throws -> ProxyFixture {
        try await ProxyFixture(backendPort: set.shards[0].port, general: "default_pool_size = \(poolSize)\nquery_wait_timeout = \"5s\"",
                               sections: "[[plugins]]\nname = \"hash_sharder\"", databases: set.config)
    }

    private func counts(_ set: ShardSet, _ sql: String) throws -> [Int] {
        try set.shards.map { try $0.psql(sql) }.compactMap(Int.init)
    }

    /// Each key is where pgproxy routes a statement with that key: a keyed query finds it once.
    private func assertRoutable(_ client: PQConnection, _ sql: String, _ keys: [String], file: StaticString = #filePath, line: UInt = #line) {
        for key in keys {
            XCTAssertEqual(client.execParams(sql, [key]).firstValue, "1", "key \(key.debugDescription)", file: file, line: line)
        }
    }

    func testTextRowsGoToTheShardOfTheirKey() async throws {
        let set = try shardSet()
        let proxy = try await proxy(set)
        defer { Task { await proxy.stop() } }
        let client = try PQConnection(proxy.conninfo())
        // 1000 rows, cut into CopyData pieces that end in the middle of rows.
        let data = (1...1000).map { "\($0)\tuser \($0)\n" }.joined()
        let bytes = Array(data.utf8)
        let pieces = stride(from: 0, to: bytes.count, by: 997).map { String(decoding: bytes[$0..<min($0 + 997, bytes.count)], as: UTF8.self) }
        let loaded = client.copyIn("COPY users FROM STDIN", pieces: pieces)
        XCTAssertEqual(loaded.commandTag, "COPY 1000", loaded.message ?? "")
        let perShard = try counts(set, "SELECT count(*) FROM users WHERE id BETWEEN 1 AND 1000")
        XCTAssertEqual(perShard.reduce(0, +), 1000)
        XCTAssertTrue(perShard.allSatisfy { $0 > 300 }, "rows on both shards: \(perShard)")
        assertRoutable(client, "SELECT count(*) FROM users WHERE id = $1", (1...1000).map(String.init))
        XCTAssertEqual(client.exec("SELECT name FROM users WHERE id = 777").firstValue, "user 777")

        // Without a column list the key need not be first: pgproxy asks each shard for the
        // table's columns (dropped and generated ones are not COPY's).
        for shard in set.shards {
            try shard.psql("""
                DROP TABLE IF EXISTS mixed;
                CREATE TABLE mixed (gone int, note text, id bigint, twice bigint GENERATED ALWAYS AS (id * 2) STORED);
                ALTER TABLE mixed DROP COLUMN gone
                """)
        }
        let mixed = client.copyIn("COPY mixed FROM STDIN", pieces: (1...200).map { "note \($0)\t\($0)\n" })
        XCTAssertEqual(mixed.commandTag, "COPY 200", mixed.message ?? "")
        assertRoutable(client, "SELECT count(*) FROM mixed WHERE id = $1 AND twice = 2 * $1::bigint", (1...200).map(String.init))
        XCTAssertEqual(try counts(set, "SELECT count(*) FROM mixed").reduce(0, +), 200)

        // `\.` ends the data; what follows is ignored, as by PostgreSQL.
        let marked = client.copyIn("COPY users FROM STDIN", pieces: ["5001\tmarked\n\\.\n5002\tignored\n"])
        XCTAssertEqual(marked.commandTag, "COPY 1", marked.message ?? "")
        XCTAssertEqual(client.exec("SELECT count(*) FROM users WHERE id IN (5001, 5002)").firstValue, "1")
    }

    func testCSVAndEscapedTextKeys() async throws {
        let set = try shardSet()
        let proxy = try await proxy(set)
        defer { Task { await proxy.stop() } }
        let client = try PQConnection(proxy.conninfo())
        // CSV with a header, CRLF line ends, the key second, quoted names with commas, quotes and
        // line breaks.
        var csv = "name,id\r\n"
        var names: [Int: String] = [:]
        for id in 2001...2300 {
            let name = id % 3 == 0 ? "Doe, \"J\" \(id)" : id % 3 == 1 ? "two\nlines \(id)" : "plain \(id)"
            names[id] = name
            csv += "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"," + (id % 2 == 0 ? "\"\(id)\"" : "\(id)") + "\r\n"
        }
        let loaded = client.copyIn("COPY users (name, id) FROM STDIN WITH (FORMAT csv, HEADER true)", pieces: [csv])
        XCTAssertEqual(loaded.commandTag, "COPY 300", loaded.message ?? "")
        for id in [2001, 2002, 2003, 2150, 2300] {
            XCTAssertEqual(client.exec("SELECT name FROM users WHERE id = \(id)").firstValue, names[id])
        }
        assertRoutable(client, "SELECT count(*) FROM users WHERE id = $1", (2001...2300).map(String.init))

        // Text keys written with COPY's escapes, non-ASCII, empty; NULL keys go to shard 0.
        let keys = ["tab\there", "back\\slash", "new\nline", "é", "日本", "", "plain", "x"] + (1...100).map { "key \($0)" }
        func escaped(_ key: String) -> String {
            key.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\t", with: "\\t").replacingOccurrences(of: "\n", with: "\\n")
        }
        let text = keys.map { escaped($0) + "\n" }.joined() + "\\N\n\\N\n\\x41\\102C\n"
        let typed = client.copyIn("COPY k_text FROM STDIN", pieces: [text])
        XCTAssertEqual(typed.commandTag, "COPY \(keys.count + 3)", typed.message ?? "")
        assertRoutable(client, "SELECT count(*) FROM k_text WHERE k = $1", keys + ["ABC"])
        XCTAssertEqual(try set.shards[0].psql("SELECT count(*) FROM k_text WHERE k IS NULL"), "2")
        XCTAssertEqual(try set.shards[1].psql("SELECT count(*) FROM k_text WHERE k IS NULL"), "0")

        // Binary COPY (as pgx and asyncpg send): the key in its binary form, cut in pieces.
        var binary: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]
        func int32(_ value: Int32) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }
        for id in Int64(3001)...3400 {
            let name = Array("binary \(id)".utf8)
            binary += [0, 2] + int32(8) + withUnsafeBytes(of: id.bigEndian) { Array($0) } + int32(Int32(name.count)) + name
        }
        binary += [0xFF, 0xFF]
        let chunks = stride(from: 0, to: binary.count, by: 1000).map { Array(binary[$0..<min($0 + 1000, binary.count)]) }
        let copiedBinary = client.copyIn("COPY users (id, name) FROM STDIN (FORMAT binary)", bytes: chunks)
        XCTAssertEqual(copiedBinary.commandTag, "COPY 400", copiedBinary.message ?? "")
        assertRoutable(client, "SELECT count(*) FROM users WHERE id = $1", (3001...3400).map(String.init))
        XCTAssertEqual(client.exec("SELECT name FROM users WHERE id = 3333").firstValue, "binary 3333")
        let short = client.copyIn("COPY users (id, name) FROM STDIN (FORMAT binary)",
                                  bytes: [Array(binary[0..<19]) + [0, 2] + int32(4) + [0, 0, 0, 1] + int32(1) + [0x41, 0xFF, 0xFF]])
        XCTAssertEqual(short.sqlState, "08P01", "a 4-byte bigint, as PostgreSQL says: \(short.message ?? "")")

        // An omnisharded table: every row to every shard, counted once.
        let copied = client.copyIn("COPY countries FROM STDIN (FORMAT csv)", pieces: ["de,Germany\nit,Italy\n"])
        XCTAssertEqual(copied.commandTag, "COPY 2", copied.message ?? "")
        XCTAssertEqual(try counts(set, "SELECT count(*) FROM countries WHERE code IN ('de', 'it')"), [2, 2])
    }

    func testAFailedCopyLeavesNoRowOnAnyShard() async throws {
        let set = try shardSet()
        let proxy = try await proxy(set, poolSize: 1)
        defer { Task { await proxy.stop() } }
        let client = try PQConnection(proxy.conninfo())
        XCTAssertEqual(client.copyIn("COPY k_bigint FROM STDIN", pieces: ["1\n2\n3\n4\n"]).commandTag, "COPY 4")
        let before = try counts(set, "SELECT count(*) FROM k_bigint")

        // A key pgproxy cannot read, a row a shard refuses, the client's CopyFail, a shard's
        // refusal of the data format: each time no shard keeps a row, and the session goes on.
        let cases: [(pieces: [String], failure: String?, state: String)] = [
            (["10\n11\nnot a number\n12\n"], nil, "22P02"),
            ((20...400).map { "\($0)\n" } + ["1\tsurplus\n"], nil, "22P04"),
            (["30\n31\n"], "the client gave up", "57014"),
        ]
        for (pieces, failure, state) in cases {
            let failed = client.copyIn("COPY k_bigint FROM STDIN", pieces: pieces, failure: failure)
            XCTAssertEqual(failed.sqlState, state, failed.message ?? "")
            XCTAssertEqual(try counts(set, "SELECT count(*) FROM k_bigint"), before, "rolled back everywhere after \(state)")
            XCTAssertEqual(client.exec("SELECT count(*) FROM k_bigint", timeout: 10)?.firstValue, "4")
        }
        // A constraint on one shard: the rows of the other are rolled back too.
        try set.shards[1].psql("ALTER TABLE k_bigint ADD CONSTRAINT small CHECK (k < 1000)")
        let refused = client.copyIn("COPY k_bigint FROM STDIN", pieces: [(1000...1100).map { "\($0)\n" }.joined()])
        XCTAssertEqual(refused.sqlState, "23514", refused.message ?? "")
        XCTAssertEqual(try counts(set, "SELECT count(*) FROM k_bigint"), before)
        try set.shards[1].psql("ALTER TABLE k_bigint DROP CONSTRAINT small")
        XCTAssertEqual(client.copyIn("COPY k_bigint FROM STDIN", pieces: ["5\n6\n"]).commandTag, "COPY 2", "the pool of one is clean")

        // A client that leaves in the middle of its COPY: nothing stays, the pool goes on.
        do {
            let leaver = try PQConnection(proxy.conninfo())
            let started = PQexec(leaver.raw, "COPY k_bigint FROM STDIN")
            XCTAssertEqual(PQresultStatus(started), PGRES_COPY_IN)
            PQclear(started)
            let rows = Array((50...90).map { "\($0)\n" }.joined().utf8)
            _ = rows.withUnsafeBufferPointer { pointer in
                pointer.withMemoryRebound(to: CChar.self) { PQputCopyData(leaver.raw, $0.baseAddress, Int32(rows.count)) }
            }
            PQflush(leaver.raw)
        }
        XCTAssertEqual(client.exec("SELECT count(*) FROM k_bigint", timeout: 10)?.firstValue, "6")
        XCTAssertEqual(try counts(set, "SELECT count(*) FROM k_bigint").reduce(0, +), 6)
    }

    func testCopiesPgproxyDoesNotSplitAreRefused() async throws {
        let set = try shardSet()
        let proxy = try await proxy(set)
        defer { Task { await proxy.stop() } }
        let client = try PQConnection(proxy.conninfo())
        for (sql, words) in [
            ("COPY users FROM '/nonexistent'", "COPY FROM STDIN"),
            ("COPY users (name) FROM STDIN", "sharding key column \"id\""),
            ("COPY users FROM STDIN (FORMAT csv, FORCE_NULL (name))", "FORCE_NULL"),
        ] {
            let refused = client.exec(sql)
            XCTAssertEqual(refused.sqlState, "0A000", sql)
            XCTAssertTrue(refused.message?.contains(words) == true, "\(sql): \(refused.message ?? "")")
        }
        XCTAssertTrue(client.exec("BEGIN").ok)
        let inTransaction = client.exec("COPY users FROM STDIN")
        XCTAssertEqual(inTransaction.sqlState, "0A000")
        XCTAssertTrue(inTransaction.message?.contains("outside transactions") == true, inTransaction.message ?? "")
        XCTAssertTrue(client.exec("ROLLBACK").ok)

        // With a shard picked, the COPY goes to that shard only, as the client asked.
        XCTAssertTrue(client.exec("SET SHARD TO '1'").ok)
        XCTAssertEqual(client.copyIn("COPY users FROM STDIN", pieces: ["8001\ta\n8002\tb\n8003\tc\n"]).commandTag, "COPY 3")
        XCTAssertTrue(client.exec("RESET SHARD").ok)
        XCTAssertEqual(try set.shards[1].psql("SELECT count(*) FROM users WHERE id > 8000"), "3")
        XCTAssertEqual(try set.shards[0].psql("SELECT count(*) FROM users WHERE id > 8000"), "0")
    }
}
