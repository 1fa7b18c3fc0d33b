import Foundation
import CLibPQ
import XCTest

/// Reads without a sharding key run on both shards and come back merged: each query's answer
/// through pgproxy equals the same query's answer on one unsharded database holding all rows.
final class CrossShardReadTests: ShardSetTestCase {

    /// 400 items with NULLs here and there, through pgproxy into the shards and straight into
    /// database `reference` on shard 0's server.
    private func fixture() async throws -> (ProxyFixture, PQConnection, TestCluster) {
        let set = try shardSet()
        let proxy = try await ProxyFixture(backendPort: set.shards[0].port, sections: "[[plugins]]\nname = \"hash_sharder\"", databases: set.config)
        let client = try PQConnection(proxy.conninfo())
        let reference = set.shards[0]
        if try reference.psql("SELECT count(*) FROM pg_database WHERE datname = 'reference'") == "0" {
            try reference.psql("CREATE DATABASE reference")
            try reference.psql("CREATE TABLE items (id bigint PRIMARY KEY, shop int, name text, price numeric(10,2), weight float8, created date)", database: "reference")
            var rows: [String] = []
            for id in 1...400 {
                let shop = id % 7 == 0 ? "NULL" : String(id % 5)
                let price = id % 11 == 0 ? "NULL" : String(format: "%d.%02d", (id * 37) % 500, (id * 13) % 100)
                let weight = id % 13 == 0 ? "NULL" : String(Double(id) * 0.25)
                let created = id % 17 == 0 ? "NULL" : "'2026-\(String(format: "%02d", id % 12 + 1))-\(String(format: "%02d", id % 28 + 1))'"
                let row = "(\(id), \(shop), 'item \(String(format: "%03d", (id * 7919) % 400))', \(price), \(weight), \(created))"
                rows.append(row)
                let insert = client.exec("INSERT INTO items (id, shop, name, price, weight, created) VALUES \(row)")
                XCTAssertTrue(insert.ok, insert.message ?? "")
            }
            try reference.psql("INSERT INTO items VALUES " + rows.joined(separator: ","), database: "reference")
        }
        return (proxy, client, reference)
    }

    /// `sql`'s rows on the reference database, each as its values joined by `|`, NULL as "<null>".
    private func referenceRows(_ sql: String, _ reference: TestCluster) throws -> [String] {
        let result = try runCommand("/usr/bin/psql", ["-XAtq", "-v", "ON_ERROR_STOP=1", "-P", "null=<null>",
                                                      "host=127.0.0.1 port=\(reference.port) user=postgres dbname=reference", "-c", sql])
        guard result.status == 0 else { throw PQError(description: result.stderr) }
        var lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    private func assertSameAnswer(_ sql: String, _ client: PQConnection, _ reference: TestCluster, ordered: Bool = true,
                                  file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try referenceRows(sql, reference)
        let outcome = client.exec(sql)
        XCTAssertTrue(outcome.ok, "\(sql): \(outcome.message ?? "")", file: file, line: line)
        let got = outcome.rows.map { row in row.map { $0 ?? "<null>" }.joined(separator: "|") }
        XCTAssertFalse(expected.isEmpty && got.isEmpty && outcome.ok == false, sql, file: file, line: line)
        if ordered {
            XCTAssertEqual(got, expected, sql, file: file, line: line)
        } else {
            XCTAssertEqual(got.sorted(), expected.sorted(), sql, file: file, line: line)
        }
    }

    func testEveryMergeKindGivesTheUnshardedAnswer() async throws {
        let (proxy, client, reference) = try await fixture()
        defer { Task { await proxy.stop() } }
        // Both shards hold part of the rows.
        let set = try shardSet()
        for shard in set.shards { XCTAssertNotEqual(try shard.psql("SELECT count(*) FROM items"), "0") }

        try assertSameAnswer("SELECT id, name, price FROM items", client, reference, ordered: false)
        try assertSameAnswer("SELECT * FROM items WHERE shop = 3", client, reference, ordered: false)
        try assertSameAnswer("SELECT id, price FROM items ORDER BY price DESC NULLS LAST, id", client, reference)
        try assertSameAnswer("SELECT id, shop FROM items ORDER BY shop NULLS FIRST, id DESC", client, reference)
        try assertSameAnswer("SELECT id, weight FROM items ORDER BY weight, id LIMIT 10 OFFSET 5", client, reference)
        try assertSameAnswer("SELECT name, id FROM items ORDER BY name, id LIMIT 7", client, reference)
        try assertSameAnswer("SELECT created, id FROM items ORDER BY created DESC, 2 LIMIT 15", client, reference)
        try assertSameAnswer("SELECT count(*), count(price), sum(price), min(price), max(price), avg(price) FROM items", client, reference)
        try assertSameAnswer("SELECT sum(shop), avg(shop), sum(id), avg(id), min(name), max(created) FROM items", client, reference)
        try assertSameAnswer("SELECT sum(weight), min(weight), max(weight), count(weight) FROM items", client, reference)
        try assertSameAnswer("SELECT count(*) FROM items WHERE id > 1000", client, reference)
        try assertSameAnswer("SELECT avg(price) FROM items WHERE id > 1000", client, reference)
        try assertSameAnswer("SELECT shop, count(*), sum(price), avg(price), min(id) FROM items GROUP BY shop ORDER BY shop", client, reference)
        try assertSameAnswer("SELECT shop, count(*) AS n FROM items GROUP BY shop ORDER BY n DESC, shop LIMIT 3", client, reference)
        try assertSameAnswer("SELECT shop, max(price) FROM items GROUP BY 1 ORDER BY 2 DESC NULLS LAST, 1", client, reference)
        try assertSameAnswer("SELECT DISTINCT shop FROM items ORDER BY shop", client, reference)
    }

    func testWhatCannotBeMergedIsRefusedWithTheReason() async throws {
        let (proxy, client, _) = try await fixture()
        defer { Task { await proxy.stop() } }
        for (sql, reason) in [
            ("SELECT shop, count(*) FROM items GROUP BY shop HAVING count(*) > 1", "HAVING"),
            ("SELECT string_agg(name, ',') FROM items", "string_agg"),
            ("SELECT count(DISTINCT shop) FROM items", "DISTINCT"),
            ("SELECT id, row_number() OVER () FROM items", "window"),
        ] {
            let outcome = client.exec(sql)
            XCTAssertEqual(outcome.sqlState, "0A000", "\(sql): \(outcome.message ?? "")")
            XCTAssertTrue(outcome.message?.contains("cannot be merged") ?? false, "\(sql): \(outcome.message ?? "")")
            XCTAssertTrue(outcome.message?.localizedCaseInsensitiveContains(reason) ?? false, "\(sql): \(outcome.message ?? "")")
        }

        // Shards that disagree on a column's type give an error, not a mixed answer.
        let set = try shardSet()
        try set.shards[0].psql("DROP TABLE IF EXISTS mixed; CREATE TABLE mixed (id bigint, v int); INSERT INTO mixed VALUES (1, 1)")
        try set.shards[1].psql("DROP TABLE IF EXISTS mixed; CREATE TABLE mixed (id bigint, v text); INSERT INTO mixed VALUES (2, 'two')")
        let mixed = client.exec("SELECT v FROM mixed")
        XCTAssertFalse(mixed.ok)
        XCTAssertTrue(mixed.message?.contains("v") ?? false, mixed.message ?? "")
        // Text sorts bytewise only where the collation says so: a column with an ICU collation
        // cannot be merged in order, unless the ORDER BY asks for "C".
        for shard in set.shards { try shard.psql("DROP TABLE IF EXISTS words; CREATE TABLE words (id bigint, w text COLLATE \"en-x-icu\")") }
        for (id, word) in ["a", "B", "ab", "A", "b", "Z", "c", "C"].enumerated() {
            XCTAssertTrue(client.exec("INSERT INTO words (id, w) VALUES (\(id), '\(word)')").ok)
        }
        let icu = client.exec("SELECT w FROM words ORDER BY w")
        XCTAssertEqual(icu.sqlState, "0A000", icu.message ?? "")
        XCTAssertTrue(icu.message?.contains("COLLATE") ?? false, icu.message ?? "")
        let bytewise = client.exec("SELECT w FROM words ORDER BY w COLLATE \"C\"")
        XCTAssertEqual(bytewise.rows.compactMap { $0.first ?? nil }, ["A", "B", "C", "Z", "a", "ab", "b", "c"], bytewise.message ?? "")
        // A shard's own error is the statement's.
        let missing = client.exec("SELECT nope FROM items")
        XCTAssertEqual(missing.sqlState, "42703", missing.message ?? "")
        XCTAssertEqual(client.exec("SELECT count(*) FROM items").firstValue, "400", "the session goes on")
    }

    /// A cancel reaches every shard server running the statement; the client gets 57014 and goes on.
    func testACancelStopsEveryShard() async throws {
        let (proxy, client, _) = try await fixture()
        defer { Task { await proxy.stop() } }
        XCTAssertTrue(PQsendQuery(client.raw, "SELECT id FROM items WHERE pg_sleep(0.05) IS NOT NULL") == 1)
        try await Task.sleep(nanoseconds: 400_000_000)
        let started = Date()
        XCTAssertTrue(client.cancel())
        var outcomes: [PQOutcome] = []
        while let result = PQgetResult(client.raw) {
            outcomes.append(PQConnection.outcome(result))
            PQclear(result)
        }
        XCTAssertEqual(outcomes.first?.sqlState, "57014", outcomes.first?.message ?? "")
        XCTAssertLessThan(Date().timeIntervalSince(started), 3, "both shards stopped (the statement alone takes ~10 s)")
        XCTAssertEqual(client.exec("SELECT count(*) FROM items").firstValue, "400")
    }
}
