import Foundation
import CLibPQ
import XCTest

/// Statements of a database with two shards go to the shard their key belongs to, however the
/// key is given; what would need several shards is refused with the reason.
final class ShardRoutingTests: ShardSetTestCase {

    private func fixture() async throws -> (ProxyFixture, ShardSet) {
        let set = try shardSet()
        let proxy = try await ProxyFixture(
            backendPort: set.shards[0].port, sections: "[[plugins]]\nname = \"hash_sharder\"\n" + ProxyFixture.adminSection,
            databases: set.config)
        return (proxy, set)
    }

    /// Two user ids that live on different shards, inserted through pgproxy: (on shard 0, on shard 1).
    private func usersOnBothShards(_ client: PQConnection, _ set: ShardSet) throws -> (Int, Int) {
        var found: [Int: Int] = [:]
        var id = 1000
        while found.count < 2 {
            id += 1
            let outcome = client.exec("INSERT INTO users (id, name) VALUES (\(id), 'user \(id)') ON CONFLICT (id) DO NOTHING")
            XCTAssertTrue(outcome.ok, outcome.message ?? "")
            let holders = try set.shardsAnswering("SELECT count(*) FROM users WHERE id = \(id)", "1")
            XCTAssertEqual(holders.count, 1, "user \(id) stored on exactly one shard")
            if let shard = holders.first, found[shard] == nil { found[shard] = id }
        }
        for shard in set.shards { try shard.psql("UPDATE users SET name = 'user ' || id") }
        return (found[0]!, found[1]!)
    }

    func testKeysInStatementsPickTheShard() async throws {
        let (proxy, set) = try await fixture()
        defer { Task { await proxy.stop() } }
        let client = try PQConnection(proxy.conninfo())
        let (onZero, onOne) = try usersOnBothShards(client, set)
        let ports = set.shards.map { String($0.port) }

        // WHERE key = literal, either way round, with a cast, and as a Bind parameter.
        XCTAssertEqual(client.exec("SELECT name FROM users WHERE id = \(onOne)").firstValue, "user \(onOne)")
        XCTAssertEqual(client.exec("SELECT inet_server_port() FROM users WHERE \(onZero) = id").firstValue, ports[0])
        XCTAssertEqual(client.exec("SELECT inet_server_port() FROM users u WHERE u.id = '\(onOne)'::bigint AND name LIKE 'user%'").firstValue, ports[1])
        XCTAssertEqual(client.execParams("SELECT inet_server_port() FROM users WHERE id = $1", [String(onOne)]).firstValue, ports[1])
        XCTAssertEqual(client.execParams("SELECT inet_server_port() FROM users WHERE id = $1", [String(onZero)]).firstValue, ports[0])
        // Named prepared statements: each Bind routes by its own value.
        XCTAssertTrue(client.prepare("by_id", "SELECT inet_server_port(), name FROM users WHERE id = $1").ok)
        XCTAssertEqual(client.execPrepared("by_id", [String(onZero)]).firstValue, ports[0])
        XCTAssertEqual(client.execPrepared("by_id", [String(onOne)]).firstValue, ports[1])
        // IN lists on one shard.
        XCTAssertEqual(client.exec("SELECT inet_server_port() FROM users WHERE id IN (\(onOne), \(onOne))").firstValue, ports[1])

        // UPDATE and DELETE by key, on the right shard (one row each).
        XCTAssertEqual(client.exec("UPDATE users SET name = 'renamed' WHERE id = \(onOne)").commandTag, "UPDATE 1")
        XCTAssertEqual(try set.shards[1].psql("SELECT name FROM users WHERE id = \(onOne)"), "renamed")
        XCTAssertEqual(client.exec("DELETE FROM users WHERE id = \(onZero)").commandTag, "DELETE 1")
        XCTAssertEqual(try set.shards[0].psql("SELECT count(*) FROM users WHERE id = \(onZero)"), "0")

        // A multi-row INSERT whose rows share a shard; one whose rows do not is refused.
        XCTAssertEqual(client.exec("INSERT INTO users (id, name) VALUES (\(onZero), 'a'), (\(onZero) * 1, 'b') ON CONFLICT DO NOTHING").ok, false,
                       "a key that is an expression cannot be routed")
        let same = client.exec("INSERT INTO users (id, name) VALUES (\(onZero), 'back')")
        XCTAssertTrue(same.ok, same.message ?? "")
        // A multi-row INSERT whose rows belong to different shards is split: each shard gets its
        // own rows (and the suffix), in transactions committed together.
        let ids = (0..<12).map { 200_000 + $0 }
        let rowsText = ids.map { "(\($0), 'split ''\($0)'' (x)')" }.joined(separator: ",\n ")
        let split = client.exec("INSERT INTO users (id, name) VALUES \(rowsText) ON CONFLICT (id) DO NOTHING RETURNING id")
        XCTAssertEqual(split.commandTag, "INSERT 0 12", split.message ?? "")
        XCTAssertEqual(Set(split.rows.compactMap { $0.first ?? nil }), Set(ids.map(String.init)))
        let counts = try set.shards.map { try $0.psql("SELECT count(*) FROM users WHERE id >= 200000") }
        XCTAssertEqual(counts.compactMap(Int.init).reduce(0, +), 12)
        XCTAssertFalse(counts.contains("0"), "both shards got rows: \(counts)")
        for id in ids {
            XCTAssertEqual(client.exec("SELECT name FROM users WHERE id = \(id)").firstValue, "split '\(id)' (x)", "row \(id) is on its key's shard")
        }
        // A row whose key cannot be read stops the whole INSERT; a failing shard rolls back the others.
        let unknown = client.exec("INSERT INTO users (id, name) VALUES (300001, 'a'), (300000 + 2, 'b')")
        XCTAssertEqual(unknown.sqlState, "0A000", unknown.message ?? "")
        let duplicate = client.exec("INSERT INTO users (id, name) VALUES (\(ids[0]), 'again'), (\(ids[1]), 'again'), (\(ids[2]), 'again'), (400000, 'new'), (400001, 'new'), (400002, 'new')")
        XCTAssertEqual(duplicate.sqlState, "23505", duplicate.message ?? "")
        XCTAssertEqual(try set.shards.map { try $0.psql("SELECT count(*) FROM users WHERE id >= 400000") }, ["0", "0"], "nothing committed anywhere")
        // A bad key is refused as PostgreSQL would.
        let bad = client.exec("SELECT * FROM users WHERE id = 'abc'")
        XCTAssertEqual(bad.sqlState, "22P02", bad.message ?? "")
    }

    func testSessionHintsAndCommentsPickTheShard() async throws {
        let (proxy, set) = try await fixture()
        defer { Task { await proxy.stop() } }
        let client = try PQConnection(proxy.conninfo())
        let (onZero, onOne) = try usersOnBothShards(client, set)
        let ports = set.shards.map { String($0.port) }

        // SET SHARD TO: answered by pgproxy, then every statement runs there until RESET.
        let set1 = client.exec("SET SHARD TO '1'")
        XCTAssertEqual(set1.commandTag, "SET", set1.message ?? "")
        XCTAssertEqual(client.exec("SELECT inet_server_port()").firstValue, ports[1])
        XCTAssertEqual(client.exec("SELECT count(*) FROM users WHERE id = \(onZero)").firstValue, "0", "the hint wins over the key")
        XCTAssertTrue(client.exec("SET SHARD TO 'ANY'").ok)
        XCTAssertEqual(client.exec("SELECT inet_server_port()").firstValue, ports[0], "no hint: shard 0 for statements without a sharded table")
        let outOfRange = client.exec("SET SHARD TO '7'")
        XCTAssertTrue(outOfRange.ok)
        let refused = client.exec("SELECT 1")
        XCTAssertEqual(refused.sqlState, "22023")
        XCTAssertTrue(refused.message?.contains("shard 7 does not exist") ?? false, refused.message ?? "")
        XCTAssertTrue(client.exec("RESET SHARD").ok)

        // SET SHARDING KEY TO: hashed like a key of the sharded tables.
        XCTAssertEqual(client.exec("SET SHARDING KEY TO '\(onOne)'").commandTag, "SET")
        XCTAssertEqual(client.exec("SELECT inet_server_port(), count(*) FROM users").firstValue, ports[1], "a read without a key goes to the hinted key's shard")
        XCTAssertTrue(client.exec("RESET SHARDING KEY").ok)

        // Comments for one statement.
        XCTAssertEqual(client.exec("/* pgproxy: shard=1 */ SELECT inet_server_port()").firstValue, ports[1])
        XCTAssertEqual(client.exec("SELECT inet_server_port() /* pgproxy: sharding_key=\(onOne) */").firstValue, ports[1])
        XCTAssertEqual(client.exec("/* pgproxy: sharding_key='\(onZero)' */ SELECT inet_server_port(), count(*) FROM users").firstValue, ports[0])
        XCTAssertEqual(client.exec("SELECT inet_server_port()").firstValue, ports[0], "a comment lasts one statement")
    }

    func testTransactionsStayOnTheShardOfTheirFirstStatement() async throws {
        let (proxy, set) = try await fixture()
        defer { Task { await proxy.stop() } }
        let client = try PQConnection(proxy.conninfo())
        let (onZero, onOne) = try usersOnBothShards(client, set)

        // BEGIN waits for the first statement to pick the shard: this one is shard 1.
        XCTAssertEqual(client.exec("BEGIN").commandTag, "BEGIN")
        XCTAssertEqual(client.transactionStatus, PQTRANS_INTRANS)
        XCTAssertEqual(client.exec("UPDATE users SET name = 'in tx' WHERE id = \(onOne)").commandTag, "UPDATE 1")
        XCTAssertEqual(client.exec("SELECT name FROM users WHERE id = \(onOne)").firstValue, "in tx")
        let other = client.exec("SELECT name FROM users WHERE id = \(onZero)")
        XCTAssertEqual(other.sqlState, "0A000")
        XCTAssertTrue(other.message?.contains("this transaction runs on shard 1") ?? false, other.message ?? "")
        XCTAssertEqual(client.transactionStatus, PQTRANS_INERROR, "the refusal fails the transaction, as the server's error would")
        XCTAssertEqual(client.exec("ROLLBACK").commandTag, "ROLLBACK")
        XCTAssertEqual(try set.shards[1].psql("SELECT name FROM users WHERE id = \(onOne)"), "user \(onOne)", "rolled back")

        // A committed transaction on shard 1.
        XCTAssertTrue(client.exec("BEGIN").ok)
        XCTAssertEqual(client.exec("UPDATE users SET name = 'committed' WHERE id = \(onOne)").commandTag, "UPDATE 1")
        XCTAssertEqual(client.exec("COMMIT").commandTag, "COMMIT")
        XCTAssertEqual(try set.shards[1].psql("SELECT name FROM users WHERE id = \(onOne)"), "committed")

        // An empty transaction never needs a server; a refused first statement fails the
        // transaction until its end, as in PostgreSQL.
        XCTAssertTrue(client.exec("START TRANSACTION").ok)
        XCTAssertEqual(client.exec("COMMIT").commandTag, "COMMIT")
        XCTAssertEqual(client.transactionStatus, PQTRANS_IDLE)
        XCTAssertTrue(client.exec("BEGIN").ok)
        XCTAssertEqual(client.exec("SELECT count(*) FROM users").sqlState, "0A000")
        XCTAssertEqual(client.exec("SELECT 1").sqlState, "25P02")
        XCTAssertEqual(client.exec("COMMIT").commandTag, "ROLLBACK")
        XCTAssertEqual(client.transactionStatus, PQTRANS_IDLE)

        // SET SHARDING KEY inside a deferred transaction applies to it.
        XCTAssertTrue(client.exec("BEGIN").ok)
        XCTAssertTrue(client.exec("SET SHARDING KEY TO '\(onZero)'").ok)
        XCTAssertEqual(client.exec("SELECT count(*) FROM users WHERE name LIKE 'user%'").firstValue.flatMap(Int.init).map { $0 > 0 }, true)
        XCTAssertEqual(client.exec("SELECT inet_server_port()").firstValue, String(set.shards[0].port))
        XCTAssertTrue(client.exec("COMMIT").ok)
    }

    func testWritesNeedingEveryShardAreRefusedWithTheReason() async throws {
        let (proxy, set) = try await fixture()
        defer { Task { await proxy.stop() } }
        let client = try PQConnection(proxy.conninfo())
        _ = try usersOnBothShards(client, set)

        let locking = client.exec("SELECT * FROM users FOR UPDATE")
        XCTAssertEqual(locking.sqlState, "0A000")
        XCTAssertTrue(locking.message?.contains("locks rows of sharded tables (users)") ?? false, locking.message ?? "")
        let write = client.exec("DELETE FROM users")
        XCTAssertEqual(write.sqlState, "0A000")
        XCTAssertTrue(write.message?.contains("would run on every shard") ?? false, write.message ?? "")
        let copy = client.copyIn("SELECT 1; COPY users (id, name) FROM STDIN", chunks: 1, chunk: "1\tx\n")
        XCTAssertEqual(copy.sqlState, "0A000", copy.message ?? "")
        XCTAssertTrue(copy.message?.contains("COPY FROM into sharded tables (users) is split among the shards of database \"app\" only when it is the only statement") ?? false, copy.message ?? "")
        let pipelined = client.execParams("SELECT count(*) FROM users WHERE name <> $1", ["x"])
        XCTAssertEqual(pipelined.sqlState, "0A000", "cross-shard reads use the simple protocol for now")
        let omniWrite = client.exec("INSERT INTO countries VALUES ('de', 'Germany') ON CONFLICT DO NOTHING RETURNING code")
        XCTAssertEqual(omniWrite.commandTag, "INSERT 0 1", "one row, copied to each shard: \(omniWrite.message ?? "")")
        XCTAssertEqual(omniWrite.rows.count, 1)
        for shard in set.shards { XCTAssertEqual(try shard.psql("SELECT name FROM countries WHERE code = 'de'"), "Germany") }
        XCTAssertTrue(client.exec("BEGIN").ok)
        let inTransaction = client.exec("UPDATE countries SET name = 'Deutschland' WHERE code = 'de'")
        XCTAssertEqual(inTransaction.sqlState, "0A000")
        XCTAssertTrue(inTransaction.message?.contains("outside transactions") ?? false, inTransaction.message ?? "")
        XCTAssertTrue(client.exec("ROLLBACK").ok)

        // Reads of an omnisharded table go to any shard; statements without tables to shard 0.
        XCTAssertEqual(client.exec("SELECT name FROM countries WHERE code = 'jp'").firstValue, "Japan")
        XCTAssertEqual(client.exec("SELECT 41 + 1").firstValue, "42")
        XCTAssertEqual(client.exec("DELETE FROM users").sqlState, "0A000", "the session is still usable")
    }

    func testShowShardsListsEachShardWithItsHosts() async throws {
        let (proxy, set) = try await fixture()
        defer { Task { await proxy.stop() } }
        let admin = try proxy.admin()
        let shards = admin.exec("SHOW SHARDS")
        XCTAssertTrue(shards.ok, shards.message ?? "")
        let rows = shards.records.filter { $0["database"] == "app" }
        XCTAssertEqual(rows.map { $0["shard"] }, ["0", "1"])
        XCTAssertEqual(rows.map { $0["hosts"] }, set.shards.map { "127.0.0.1:\($0.port)" })
        XCTAssertEqual(rows.map { $0["primary"] }, set.shards.map { "127.0.0.1:\($0.port)" })
        XCTAssertTrue(rows.first?["sharded_tables"]?.contains("users(id bigint)") ?? false, "\(rows)")
        XCTAssertEqual(rows.first?["omnisharded_tables"], "countries")
        let backends = admin.exec("SHOW BACKENDS").records.filter { $0["database"] == "app" }
        XCTAssertEqual(backends.map { $0["shard"] }, ["0", "1"])
    }
}
