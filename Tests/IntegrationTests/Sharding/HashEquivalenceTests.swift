import Foundation
import XCTest

/// hash_sharder puts every key on the shard whose number is the remainder PostgreSQL's own
/// `PARTITION BY HASH` gives it: thousands of keys of each type go through pgproxy into two
/// shards, and the same keys go straight into a table partitioned by hash (MODULUS 2); each
/// shard must hold exactly the keys of the partition with its number.
final class HashEquivalenceTests: ShardSetTestCase {

    func testEveryKeyTypeLandsWherePostgreSQLHashPartitioningPutsIt() async throws {
        let set = try shardSet()
        let proxy = try await ProxyFixture(backendPort: set.shards[0].port, sections: "[[plugins]]\nname = \"hash_sharder\"", databases: set.config)
        defer { Task { await proxy.stop() } }
        let client = try PQConnection(proxy.conninfo())
        var generator = SystemRandomNumberGenerator()

        let bigints: [String] = ["0", "1", "-1", "9223372036854775807", "-9223372036854775808", "4294967296", "-4294967297"]
            + (0..<1500).map { _ in String(Int64.random(in: Int64.min...Int64.max, using: &generator)) }
            + (0..<500).map { _ in String(Int64.random(in: -100_000...100_000, using: &generator)) }
        let integers = ["0", "2147483647", "-2147483648"] + (0..<1500).map { _ in String(Int32.random(in: Int32.min...Int32.max, using: &generator)) }
        let smallints = ["0", "32767", "-32768"] + (0..<1000).map { _ in String(Int16.random(in: Int16.min...Int16.max, using: &generator)) }
        let alphabet = Array("abcXYZ019 '-_é日本🙂ß\\\"")
        let texts = ["", "a", "it's", "日本語", "🙂"] + (0..<1500).map { index in
            String((0..<(index % 41)).map { _ in alphabet.randomElement(using: &generator)! })
        }
        let uuids = ["00000000-0000-0000-0000-000000000000"] + (0..<1500).map { _ in UUID().uuidString.lowercased() }

        for (type, keys) in [("bigint", bigints), ("integer", integers), ("smallint", smallints), ("text", texts), ("varchar", texts), ("uuid", uuids)] {
            let unique = Array(Set(keys))
            for (index, key) in unique.enumerated() {
                // Half as literals, half as Bind parameters (text format).
                let outcome = index % 2 == 0
                    ? client.exec("INSERT INTO k_\(type) (k) VALUES (\(Self.literal(key, type: type)))")
                    : client.execParams("INSERT INTO k_\(type) (k) VALUES ($1)", [key])
                XCTAssertTrue(outcome.ok, "\(type) \(key): \(outcome.message ?? "")")
            }
            // NULL goes where PostgreSQL puts it: remainder 0.
            XCTAssertTrue(client.exec("INSERT INTO k_\(type) (k) VALUES (NULL)").ok)

            // The same keys straight into a hash-partitioned table on shard 0.
            let reference = set.shards[0]
            try reference.psql("""
                DROP TABLE IF EXISTS ref_\(type);
                CREATE TABLE ref_\(type) (k \(type == "varchar" ? "varchar(64)" : type)) PARTITION BY HASH (k);
                CREATE TABLE ref_\(type)_0 PARTITION OF ref_\(type) FOR VALUES WITH (MODULUS 2, REMAINDER 0);
                CREATE TABLE ref_\(type)_1 PARTITION OF ref_\(type) FOR VALUES WITH (MODULUS 2, REMAINDER 1);
                """)
            for chunk in stride(from: 0, to: unique.count, by: 500) {
                let values = unique[chunk..<min(chunk + 500, unique.count)].map { "(\(Self.literal($0, type: type)))" }.joined(separator: ",")
                try reference.psql("INSERT INTO ref_\(type) VALUES \(values)")
            }
            try reference.psql("INSERT INTO ref_\(type) VALUES (NULL)")

            for shard in 0..<2 {
                let routed = try set.shards[shard].psql("SELECT coalesce(k::text, '<null>') FROM k_\(type) ORDER BY 1")
                let partitioned = try reference.psql("SELECT coalesce(k::text, '<null>') FROM ref_\(type)_\(shard) ORDER BY 1")
                let routedCount = routed.split(separator: "\n", omittingEmptySubsequences: false).count
                XCTAssertEqual(routed, partitioned, "\(type): shard \(shard) holds other keys than partition \(shard) (\(routedCount) rows)")
            }
            let total = try set.shards.map { try $0.psql("SELECT count(*) FROM k_\(type)") }.compactMap(Int.init).reduce(0, +)
            XCTAssertEqual(total, unique.count + 1, "\(type): every key stored once")
        }
    }

    /// `key` as a SQL literal of `type`.
    static func literal(_ key: String, type: String) -> String {
        switch type {
        case "bigint", "integer", "smallint": return key
        default: return "'" + key.replacingOccurrences(of: "'", with: "''") + "'"
        }
    }
}
