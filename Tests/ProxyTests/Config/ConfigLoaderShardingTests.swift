import XCTest
@testable import Proxy

/// `shard` in `[[databases]]`, `[[sharded_tables]]` and `[[omnisharded_tables]]`.
extension ConfigLoaderTests {
    static let twoShards = """
        [[databases]]
        name = "app"
        host = "127.0.0.1"
        port = 5432
        shard = 0

        [[databases]]
        name = "app"
        host = "127.0.0.1"
        port = 5433
        shard = 1

        [[databases]]
        name = "app"
        host = "127.0.0.2"
        port = 5433
        shard = 1
        role = "replica"

        """

    func testTheIssuesTwoShardExampleLoads() throws {
        let config = try load(Self.twoShards + """
            [[sharded_tables]]
            database = "app"
            table = "users"
            column = "id"
            data_type = "bigint"

            [[sharded_tables]]
            database = "app"
            table = "public.events"
            column = "tenant"
            data_type = "int8"

            [[omnisharded_tables]]
            database = "app"
            table = "countries"

            [[plugins]]
            name = "hash_sharder"
            """)
        XCTAssertEqual(config.hosts(of: "app").map(\.host.shard), [0, 1, 1])
        XCTAssertEqual(config.shardCount(of: "app"), 2)
        XCTAssertEqual(config.shardedTables, [
            ShardedTableConfig(database: "app", table: "users", column: "id", dataType: .bigint),
            ShardedTableConfig(database: "app", table: "public.events", column: "tenant", dataType: .bigint),
        ])
        XCTAssertEqual(config.omnishardedTables, [OmnishardedTableConfig(database: "app", table: "countries")])
    }

    func testShardsNeedAPrimaryEachAndNoGaps() {
        let gap = refusals("""
            [[databases]]
            name = "app"
            host = "a"
            shard = 0

            [[databases]]
            name = "app"
            host = "b"
            shard = 2
            """)
        XCTAssertEqual(gap.map(\.key), ["databases[0].shard"])
        XCTAssertTrue(gap.first?.reason.contains("without gaps; shard 1 has no host (found 0, 2)") ?? false, "\(gap)")

        let twoPrimaries = refusals(Self.twoShards + """
            [[databases]]
            name = "app"
            host = "c"
            shard = 1
            """)
        XCTAssertEqual(twoPrimaries.map(\.key), ["databases[3].role"])
        XCTAssertTrue(twoPrimaries.first?.reason.contains("already has a primary in shard 1") ?? false, "\(twoPrimaries)")

        let noWriter = refusals("""
            [[databases]]
            name = "app"
            host = "a"

            [[databases]]
            name = "app"
            host = "b"
            shard = 1
            role = "replica"
            """)
        XCTAssertTrue(noWriter.contains { $0.reason.contains("has no host in shard 1 that can take writes") }, "\(noWriter)")
        XCTAssertEqual(refusals(Self.minimalConfig + "\nshard = -1\n").map(\.key), ["databases[0].shard"])
    }

    func testShardingTablesAreChecked() {
        let errors = refusals(Self.twoShards + """
            [[sharded_tables]]
            database = "nope"
            table = "users"
            column = "id"
            data_type = "bigint"

            [[sharded_tables]]
            database = "app"
            table = "users"
            column = "id"
            data_type = "float8"

            [[sharded_tables]]
            database = "app"
            table = "orders"
            data_type = "uuid"

            [[sharded_tables]]
            database = "app"
            table = "items"
            column = "id"
            data_type = "text"

            [[sharded_tables]]
            database = "app"
            table = "items"
            column = "id"
            data_type = "text"

            [[omnisharded_tables]]
            database = "app"
            table = "items"

            [[plugins]]
            name = "hash_sharder"
            """)
        XCTAssertEqual(errors.map(\.key), [
            "sharded_tables[0].database", "sharded_tables[1].data_type", "sharded_tables[2].column",
            "sharded_tables[4].table", "omnisharded_tables[0].table",
        ], "\(errors)")
        XCTAssertTrue(errors[0].reason.contains("no [[databases]] entry is named 'nope'"))
        XCTAssertTrue(errors[1].reason.contains("unknown data_type 'float8'"))
        XCTAssertTrue(errors[3].reason.contains("listed twice"))
        XCTAssertTrue(errors[4].reason.contains("already in [[sharded_tables]]"))
    }

    func testShardedDatabasesPoolTransactions() {
        let errors = refusals("[general]\npool_mode = \"session\"\n" + Self.twoShards)
        XCTAssertEqual(errors.map(\.key), ["general.pool_mode"])
        XCTAssertTrue(errors.first?.reason.contains("needs pool_mode = \"transaction\"") ?? false)
        let user = refusals(Self.twoShards, users: """
            [[users]]
            name = "app"
            password = "app"
            pool_mode = "session"
            """)
        XCTAssertEqual(user.map(\.key), ["users.app.pool_mode"])
        let pluginless = refusals(Self.twoShards + "[[sharded_tables]]\ndatabase = \"app\"\ntable = \"t\"\ncolumn = \"id\"\ndata_type = \"bigint\"\n")
        XCTAssertEqual(pluginless.map(\.key), ["sharded_tables"])
        XCTAssertTrue(pluginless.first?.reason.contains("hash_sharder") ?? false)
    }
}
