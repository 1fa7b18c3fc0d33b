import Foundation
import XCTest

/// Two PostgreSQL instances serving database `app` as shards 0 and 1, with the tables the
/// sharding tests use: `users` (bigint key), one table per other key type, and `countries`
/// (omnisharded).
final class ShardSet: @unchecked Sendable {
    let shards: [TestCluster]

    static let tables = """
        CREATE TABLE users (id bigint PRIMARY KEY, name text);
        CREATE TABLE k_bigint (k bigint);
        CREATE TABLE k_integer (k integer);
        CREATE TABLE k_smallint (k smallint);
        CREATE TABLE k_text (k text);
        CREATE TABLE k_varchar (k varchar(64));
        CREATE TABLE k_uuid (k uuid);
        CREATE TABLE countries (code text PRIMARY KEY, name text);
        CREATE TABLE items (id bigint PRIMARY KEY, shop int, name text, price numeric(10,2), weight float8, created date);
        INSERT INTO countries VALUES ('fr', 'France'), ('jp', 'Japan');
        """

    init() throws {
        shards = try (0..<2).map { _ in try TestCluster() }
        for shard in shards { try shard.psql(Self.tables) }
    }

    func destroy() {
        for shard in shards { shard.destroy() }
    }

    /// `[[databases]]`, `[[sharded_tables]]` and `[[omnisharded_tables]]` for database `app`.
    var config: String {
        var text = ""
        for (index, shard) in shards.enumerated() {
            text += """
                [[databases]]
                name = "app"
                host = "127.0.0.1"
                port = \(shard.port)
                shard = \(index)

                """
        }
        text += """
            [[sharded_tables]]
            database = "app"
            table = "users"
            column = "id"
            data_type = "bigint"

            """
        for table in ["items", "mixed", "words"] {
            text += """
                [[sharded_tables]]
                database = "app"
                table = "\(table)"
                column = "id"
                data_type = "bigint"

                """
        }
        for type in ["bigint", "integer", "smallint", "text", "varchar", "uuid"] {
            text += """
                [[sharded_tables]]
                database = "app"
                table = "k_\(type)"
                column = "k"
                data_type = "\(type)"

                """
        }
        text += """
            [[omnisharded_tables]]
            database = "app"
            table = "countries"

            """
        return text
    }

    /// Which shard holds `sql`'s answer: the index of the shard where it returns `expected`.
    func shardsAnswering(_ sql: String, _ expected: String) throws -> [Int] {
        try shards.indices.filter { try shards[$0].psql(sql) == expected }
    }
}

/// Base of the tests that need two shards: each test class gets its own ShardSet, made before
/// its first test and destroyed after its last.
class ShardSetTestCase: IntegrationTestCase {
    nonisolated(unsafe) private static var sets: [ObjectIdentifier: ShardSet] = [:]

    override class func setUp() {
        super.setUp()
        TestWatchdog.shared.arm("\(self).setUp")
        sets[ObjectIdentifier(self)] = try? ShardSet()
        TestWatchdog.shared.disarm()
    }

    override class func tearDown() {
        sets.removeValue(forKey: ObjectIdentifier(self))?.destroy()
        super.tearDown()
    }

    /// This class's shards (the test fails when they could not be made).
    func shardSet() throws -> ShardSet {
        try XCTUnwrap(Self.sets[ObjectIdentifier(type(of: self))], "the shards could not be made")
    }
}
