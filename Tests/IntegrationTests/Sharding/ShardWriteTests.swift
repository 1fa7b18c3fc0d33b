import Foundation
import CLibPQ
import XCTest

/// Writes that need every shard: omnisharded tables always, sharded tables with
/// cross_shard_writes. Each shard runs the write in a transaction, and pgproxy commits them all
/// or none.
final class ShardWriteTests: ShardSetTestCase {

    func testCrossShardWritesCommitEverywhereOrNowhere() async throws {
        let set = try shardSet()
        let proxy = try await ProxyFixture(backendPort: set.shards[0].port, general: "cross_shard_writes = true\ndefault_pool_size = 1",
                                           sections: "[[plugins]]\nname = \"hash_sharder\"", databases: set.config)
        defer { Task { await proxy.stop() } }
        let client = try PQConnection(proxy.conninfo())
        for id in 1...40 {
            XCTAssertTrue(client.exec("INSERT INTO items (id, shop, name, price) VALUES (\(id), \(id % 4), 'item \(id)', \(id).50)").ok)
        }
        let perShard = try set.shards.map { try $0.psql("SELECT count(*) FROM items WHERE shop = 1") }.compactMap(Int.init)
        XCTAssertEqual(perShard.reduce(0, +), 10)
        XCTAssertTrue(perShard.allSatisfy { $0 > 0 }, "both shards hold rows of shop 1: \(perShard)")

        // One UPDATE, both shards, the counts added up; RETURNING rows of both.
        XCTAssertEqual(client.exec("UPDATE items SET name = 'shop one' WHERE shop = 1").commandTag, "UPDATE 10")
        let returning = client.exec("DELETE FROM items WHERE shop = 3 RETURNING id")
        XCTAssertEqual(returning.commandTag, "DELETE 10", returning.message ?? "")
        let returned: Set<String> = Set(returning.rows.compactMap { row -> String? in row.first ?? nil })
        let deleted: Set<String> = Set((1...40).filter { $0 % 4 == 3 }.map { String($0) })
        XCTAssertEqual(returned, deleted)
        // DDL goes everywhere too.
        XCTAssertTrue(client.exec("CREATE INDEX items_shop ON items (shop)").ok)
        for shard in set.shards { XCTAssertEqual(try shard.psql("SELECT count(*) FROM pg_indexes WHERE indexname = 'items_shop'"), "1") }

        // A shard that fails rolls back the others: shard 1 refuses prices above 1000.
        try set.shards[1].psql("ALTER TABLE items ADD CONSTRAINT cheap CHECK (price < 1000)")
        let failed = client.exec("UPDATE items SET price = 5000 WHERE shop = 2")
        XCTAssertEqual(failed.sqlState, "23514", failed.message ?? "")
        XCTAssertEqual(try set.shards[0].psql("SELECT count(*) FROM items WHERE price = 5000"), "0", "shard 0 rolled back")
        try set.shards[1].psql("ALTER TABLE items DROP CONSTRAINT cheap")

        // A client that leaves during a write to every shard: each shard rolls back, and its
        // one pooled connection (pool size 1) comes back clean for the next statements.
        do {
            let leaver = try PQConnection(proxy.conninfo())
            XCTAssertTrue(PQsendQuery(leaver.raw, "UPDATE items SET name = 'left' WHERE pg_sleep(0.05) IS NOT NULL") == 1)
            try await Task.sleep(nanoseconds: 150_000_000)
        }
        try await Task.sleep(nanoseconds: 1_500_000_000)
        for shard in set.shards { XCTAssertEqual(try shard.psql("SELECT count(*) FROM items WHERE name = 'left'"), "0") }
        XCTAssertEqual(client.exec("UPDATE items SET name = 'after' WHERE shop = 0").commandTag, "UPDATE 10")
        XCTAssertEqual(client.exec("SELECT count(*) FROM items WHERE name = 'after'").firstValue, "10")
        XCTAssertEqual(client.exec("SELECT 1 + 1").firstValue, "2")

        // An INSERT is never copied to every shard: its rows each belong to one.
        let insert = client.exec("INSERT INTO items (id, name) SELECT 1000, 'x'")
        XCTAssertEqual(insert.sqlState, "0A000", insert.message ?? "")
        XCTAssertEqual(client.exec("SELECT count(*) FROM items").firstValue, "30", "the session goes on")
    }
}
