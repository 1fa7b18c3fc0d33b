import Foundation
import CLibPQ
import XCTest

/// read_write_split through a primary and two streaming replicas: where each kind of statement
/// runs, told by `pg_is_in_recovery()` and `inet_server_port()` in its own result.
final class ReadWriteSplitTests: IntegrationTestCase {
    nonisolated(unsafe) static var set: ReplicaSet?

    override class func setUp() {
        super.setUp()
        TestWatchdog.shared.arm("ReadWriteSplitTests.setUp")
        set = try? ReplicaSet(replicas: 2)
        TestWatchdog.shared.disarm()
    }

    override class func tearDown() {
        set?.destroy()
        super.tearDown()
    }

    private func fixture(plugins: String = "[[plugins]]\nname = \"read_write_split\"", balancing: String = "round_robin") async throws -> (ProxyFixture, ReplicaSet) {
        let set = try XCTUnwrap(Self.set, "the replica set could not be made")
        let proxy = try await ProxyFixture(
            backendPort: set.primary.port, general: "load_balancing = \"\(balancing)\"\nhealthcheck_interval = \"1s\"",
            sections: plugins, databases: set.databases())
        return (proxy, set)
    }

    func testReadsGoToReplicasWritesAndTheirTransactionsToThePrimary() async throws {
        let (proxy, set) = try await fixture(plugins: "[[plugins]]\nname = \"read_write_split\"\n" + ProxyFixture.adminSection)
        defer { Task { await proxy.stop() } }
        let primary = String(set.primary.port)
        let replicaPorts = Set(set.replicas.map { String($0.port) })
        let client = try PQConnection(proxy.conninfo())

        // Plain reads, round robin over both replicas.
        var seen = Set<String>()
        for _ in 0..<6 {
            let row = client.exec("SELECT pg_is_in_recovery(), inet_server_port()")
            XCTAssertTrue(row.ok, row.message ?? "")
            XCTAssertEqual(row.rows.first?[0], "t")
            seen.insert(row.rows.first?[1] ?? nil ?? "")
        }
        XCTAssertEqual(seen, replicaPorts, "round_robin must use both replicas")

        // DDL and writes on the primary.
        XCTAssertTrue(client.exec("DROP TABLE IF EXISTS rw_t; CREATE TABLE rw_t (id int, port int)").ok)
        XCTAssertTrue(client.exec("CREATE SEQUENCE IF NOT EXISTS rw_seq").ok)
        XCTAssertTrue(client.exec("CREATE OR REPLACE FUNCTION rw_f() RETURNS int LANGUAGE sql AS 'SELECT 1'").ok)
        let insert = client.exec("INSERT INTO rw_t VALUES (1, inet_server_port()) RETURNING port")
        XCTAssertEqual(insert.firstValue, primary, insert.message ?? "")
        try set.waitForReplay()

        XCTAssertEqual(client.exec("SELECT nextval('rw_seq') > 0, inet_server_port()").rows.first?[1], primary, "nextval writes")
        XCTAssertEqual(client.exec("SELECT rw_f(), inet_server_port()").rows.first?[1], primary, "a user function is not known to be read-only")
        XCTAssertEqual(client.exec("SELECT inet_server_port() FROM rw_t FOR UPDATE").firstValue, primary)
        XCTAssertEqual(client.exec("SELECT inet_server_port() FROM rw_t FOR SHARE").firstValue, primary)
        XCTAssertEqual(client.exec("SELECT pg_is_in_recovery() FROM rw_t").firstValue, "t", "a plain read of a table goes to a replica")
        // A multi-statement query runs as one implicit transaction, where LOCK is allowed; ACCESS
        // SHARE would also be allowed on a replica, so only the routing puts it on the primary.
        let locked = client.execAll("LOCK TABLE rw_t IN ACCESS SHARE MODE; SELECT inet_server_port()")
        XCTAssertEqual(locked.last?.firstValue, primary, "LOCK goes to the primary: \(locked.last?.message ?? "")")
        let copy = client.copyIn("COPY rw_t (id, port) FROM STDIN", chunks: 3, chunk: "2\t0\n")
        XCTAssertTrue(copy.ok, "COPY FROM must go to the primary: \(copy.message ?? "")")

        // A transaction opened without READ ONLY stays on the primary, reads included.
        XCTAssertTrue(client.exec("BEGIN").ok)
        XCTAssertEqual(client.exec("SELECT inet_server_port()").firstValue, primary)
        XCTAssertEqual(client.exec("SELECT pg_is_in_recovery()").firstValue, "f")
        XCTAssertTrue(client.exec("COMMIT").ok)
        // BEGIN READ ONLY goes to a replica and stays there.
        XCTAssertTrue(client.exec("BEGIN READ ONLY").ok)
        let port = client.exec("SELECT inet_server_port()").firstValue ?? nil
        XCTAssertTrue(replicaPorts.contains(port ?? ""), "read-only transaction on \(port ?? "?")")
        XCTAssertEqual(client.exec("SELECT inet_server_port()").firstValue, port)
        XCTAssertTrue(client.exec("COMMIT").ok)
        // A multi-statement query with a write goes to the primary as a whole.
        XCTAssertEqual(client.execAll("SELECT 1; INSERT INTO rw_t VALUES (3, 0); SELECT pg_is_in_recovery()").last?.firstValue, "f")

        // Overrides: SET SERVER ROLE and the comment.
        XCTAssertEqual(client.exec("SET SERVER ROLE TO 'primary'").commandTag, "SET")
        XCTAssertEqual(client.exec("SELECT pg_is_in_recovery()").firstValue, "f")
        XCTAssertTrue(client.exec("SET SERVER ROLE TO 'auto'").ok)
        XCTAssertEqual(client.exec("SELECT pg_is_in_recovery()").firstValue, "t")
        XCTAssertEqual(client.exec("/* pgproxy: role=primary */ SELECT pg_is_in_recovery()").firstValue, "f")
        XCTAssertEqual(client.exec("SET SERVER ROLE TO 'sideways'").sqlState, "22023")

        // The extended protocol: parameters and named statements are routed by their text.
        XCTAssertEqual(client.execParams("SELECT pg_is_in_recovery() WHERE $1::int = 1", ["1"]).firstValue, "t")
        // Named statements live on one server connection: in transaction pooling they are used
        // inside a transaction (until pgproxy carries prepared statements across servers).
        XCTAssertTrue(client.exec("BEGIN READ ONLY").ok)
        XCTAssertTrue(client.prepare("rw_read", "SELECT pg_is_in_recovery(), $1::int").ok)
        XCTAssertEqual(client.execPrepared("rw_read", ["1"]).firstValue, "t")
        XCTAssertTrue(client.exec("COMMIT").ok)
        XCTAssertTrue(client.exec("BEGIN").ok)
        XCTAssertTrue(client.prepare("rw_write", "INSERT INTO rw_t VALUES ($1, inet_server_port()) RETURNING port").ok)
        XCTAssertEqual(client.execPrepared("rw_write", ["4"]).firstValue, primary)
        XCTAssertTrue(client.exec("COMMIT").ok)
        // Outside transactions a named statement goes where its text says at every Bind: its
        // shape (with a comment's hint) is read at the first and kept for the rest.
        XCTAssertTrue(client.prepare("rw_hinted", "/* pgproxy: role=primary */ SELECT pg_is_in_recovery(), $1::int").ok)
        XCTAssertTrue(client.prepare("rw_plain", "SELECT pg_is_in_recovery(), $1::int").ok)
        for round in 1...3 {
            XCTAssertEqual(client.execPrepared("rw_hinted", [String(round)]).firstValue, "f", "round \(round)")
            XCTAssertEqual(client.execPrepared("rw_plain", [String(round)]).firstValue, "t", "round \(round)")
        }
        // A statement that does not parse goes to the primary, whose error the client gets.
        XCTAssertEqual(client.exec("SELEC 1").sqlState, "42601")
        XCTAssertTrue(client.exec("SELECT 1").ok)

        // The analysis cache: the six identical reads above parsed once.
        let routing = try proxy.admin().exec("SHOW ROUTING").records
        XCTAssertEqual(routing.count, 2, "one row per event loop")
        func total(_ column: String) -> Int { routing.reduce(0) { $0 + (Int($1[column] ?? "") ?? 0) } }
        XCTAssertGreaterThanOrEqual(total("cache_hits"), 5)
        XCTAssertGreaterThanOrEqual(total("cache_misses"), 10)
        XCTAssertGreaterThan(total("cached_statements"), 10)
        XCTAssertGreaterThan(total("routed"), 30)
        XCTAssertEqual(routing.first?["plugins"], "read_write_split")
    }

    func testTheCExamplePluginBlocksDropTableAndRoutesByComment() async throws {
        let build = try runCommand("/usr/bin/make", ["-s", "-C", repositoryRoot.appendingPathComponent("examples/c").path])
        XCTAssertEqual(build.status, 0, build.stderr)
        let library = repositoryRoot.appendingPathComponent("examples/c/libblock_drop.so").path
        let (proxy, _) = try await fixture(plugins: """
            [[plugins]]
            path = "\(library)"
            config = { user = "app" }
            """)
        defer { Task { await proxy.stop() } }
        let app = try PQConnection(proxy.conninfo())
        XCTAssertTrue(app.exec("CREATE TABLE IF NOT EXISTS keep_me (id int)").ok)
        let blocked = app.exec("DROP TABLE keep_me")
        XCTAssertEqual(blocked.sqlState, "42501")
        XCTAssertTrue(blocked.message?.contains("DROP TABLE") ?? false, blocked.message ?? "")
        XCTAssertEqual(app.exec("SELECT count(*) FROM keep_me").firstValue, "0", "the table is still there and the session goes on")
        // Inside a transaction the server's transaction fails too.
        XCTAssertTrue(app.exec("BEGIN").ok)
        XCTAssertEqual(app.exec("DROP TABLE keep_me").sqlState, "42501")
        XCTAssertEqual(app.transactionStatus, PQTRANS_INERROR)
        XCTAssertEqual(app.exec("SELECT 1").sqlState, "25P02")
        XCTAssertTrue(app.exec("ROLLBACK").ok)
        // Other users are not blocked.
        let other = try PQConnection(proxy.conninfo(user: "md5_user"))
        XCTAssertEqual(other.exec("DROP TABLE no_such_table").sqlState, "42P01")
        // The intercept answers with the plugin's own rows, in both protocols.
        let shown = app.exec("SHOW BLOCK_DROP")
        XCTAssertEqual(shown.columns, ["user", "blocked"])
        XCTAssertEqual(shown.rows.first ?? [], ["app", "2"])
        XCTAssertEqual(app.execParams("SHOW BLOCK_DROP", []).rows.first ?? [], ["app", "2"])
        // No read_write_split: the primary by default, a replica when the comment asks.
        XCTAssertEqual(app.exec("SELECT pg_is_in_recovery()").firstValue, "f")
        XCTAssertEqual(app.exec("/* route: replica */ SELECT pg_is_in_recovery()").firstValue, "t")
    }

    func testAPluginBuiltForAnotherABIVersionIsRefused() async throws {
        let set = try XCTUnwrap(Self.set)
        let directory = NSTemporaryDirectory() + "pgproxy-abi-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try """
            #include "pgproxy_plugin.h"
            static const pgproxy_plugin_vtable table = { .abi_version = (2 << 16) | 0, .name = "future" };
            const pgproxy_plugin_vtable *pgproxy_plugin_entry(void) { return &table; }
            """.write(toFile: directory + "/future.c", atomically: true, encoding: .utf8)
        let include = repositoryRoot.appendingPathComponent("Sources/PluginABI/include").path
        let build = try runCommand("/usr/bin/cc", ["-shared", "-fPIC", "-I", include, "-o", directory + "/libfuture.so", directory + "/future.c"])
        XCTAssertEqual(build.status, 0, build.stderr)
        do {
            let proxy = try await ProxyFixture(backendPort: set.primary.port, sections: "[[plugins]]\npath = \"\(directory)/libfuture.so\"", databases: set.databases())
            await proxy.stop()
            XCTFail("a plugin for ABI 2.0 was loaded")
        } catch {
            let message = "\(error)"
            XCTAssertTrue(message.contains("ABI 2.0") && message.contains("ABI 1.1") && message.contains("libfuture.so"), message)
        }
    }

    /// A plugin that sets wants_parse_tree gets libpg_query's protobuf tree of each statement,
    /// with that statement's own literals (the shape cache does not stand in for it).
    func testAPluginThatWantsTheParseTreeGetsIt() async throws {
        let set = try XCTUnwrap(Self.set)
        let plugin = try CompiledPlugin(name: "tree", source: """
            #define _GNU_SOURCE
            #include <stdio.h>
            #include <string.h>
            #include "pgproxy_plugin.h"
            static const pgproxy_host_api *host;
            static void *start(const pgproxy_host_api *h, const pgproxy_setting *s, size_t n, char *e, size_t l) { host = h; return (void *)1; }
            static pgproxy_str text(const char *c) { pgproxy_str s = { c, strlen(c) }; return s; }
            static void route(void *i, const pgproxy_route_context *c, pgproxy_route_decision *d, pgproxy_result_builder *b) {
                if (memmem(c->query.ptr, c->query.len, "tree_probe", 10) == NULL) return;
                char length[32];
                snprintf(length, sizeof length, "%zu", c->parse_tree_len);
                const char *seen = "";
                if (c->parse_tree && memmem(c->parse_tree, c->parse_tree_len, "literal_one", 11)) seen = "one";
                if (c->parse_tree && memmem(c->parse_tree, c->parse_tree_len, "literal_two", 11)) seen = "two";
                host->result_add_column(b, text("tree_bytes"));
                host->result_add_column(b, text("literal"));
                pgproxy_str row[2] = { text(length), text(seen) };
                host->result_add_row(b, row, 2);
                d->action = PGPROXY_ACTION_INTERCEPT;
            }
            static const pgproxy_plugin_vtable table = {
                .abi_version = PGPROXY_PLUGIN_ABI_VERSION, .name = "tree", .init = start, .route = route, .wants_parse_tree = 1 };
            const pgproxy_plugin_vtable *pgproxy_plugin_entry(void) { return &table; }
            """)
        let proxy = try await ProxyFixture(backendPort: set.primary.port, sections: plugin.section, databases: set.databases())
        defer { Task { await proxy.stop() } }
        let client = try PQConnection(proxy.conninfo())
        for literal in ["one", "two", "one"] {
            let row = client.exec("SELECT tree_probe FROM t WHERE name = 'literal_\(literal)'")
            XCTAssertTrue(row.ok, row.message ?? "")
            XCTAssertGreaterThan(Int(row.rows.first?[0] ?? "") ?? 0, 40, "the protobuf tree of a SELECT with a WHERE clause")
            XCTAssertEqual(row.rows.first?[1], literal, "the tree carries this statement's literal")
        }
        XCTAssertEqual(client.exec("SELECT 1").firstValue, "1", "statements the plugin leaves alone reach the server")
    }

    /// The statement-done event carries the batch's latency, row count and failure.
    func testStatementDoneEventsCountRows() async throws {
        let set = try XCTUnwrap(Self.set)
        let plugin = try CompiledPlugin(name: "rows", source: """
            #define _GNU_SOURCE
            #include <stdio.h>
            #include <string.h>
            #include "pgproxy_plugin.h"
            static const pgproxy_host_api *host;
            static long long last_rows = -2; static int last_failed = -1; static double last_latency = -1;
            static void *start(const pgproxy_host_api *h, const pgproxy_setting *s, size_t n, char *e, size_t l) { host = h; return (void *)1; }
            static pgproxy_str text(const char *c) { pgproxy_str s = { c, strlen(c) }; return s; }
            static void event(void *i, const pgproxy_event *e) {
                if (e->kind != PGPROXY_EVENT_STATEMENT_DONE) return;
                last_rows = e->rows; last_failed = e->failed; last_latency = e->latency_ms;
            }
            static void route(void *i, const pgproxy_route_context *c, pgproxy_route_decision *d, pgproxy_result_builder *b) {
                if (memmem(c->query.ptr, c->query.len, "last_event", 10) == NULL) return;
                char rows[32], failed[8], timed[8];
                snprintf(rows, sizeof rows, "%lld", last_rows);
                snprintf(failed, sizeof failed, "%d", last_failed);
                snprintf(timed, sizeof timed, "%d", last_latency > 0);
                host->result_add_column(b, text("rows"));
                host->result_add_column(b, text("failed"));
                host->result_add_column(b, text("timed"));
                pgproxy_str row[3] = { text(rows), text(failed), text(timed) };
                host->result_add_row(b, row, 3);
                d->action = PGPROXY_ACTION_INTERCEPT;
            }
            static const pgproxy_plugin_vtable table = {
                .abi_version = PGPROXY_PLUGIN_ABI_VERSION, .name = "rows", .init = start, .route = route, .on_event = event };
            const pgproxy_plugin_vtable *pgproxy_plugin_entry(void) { return &table; }
            """)
        let proxy = try await ProxyFixture(backendPort: set.primary.port, sections: plugin.section, databases: set.databases())
        defer { Task { await proxy.stop() } }
        let client = try PQConnection(proxy.conninfo())
        func lastEvent() -> [String?] { client.exec("SELECT 'last_event'").rows.first ?? [] }
        XCTAssertEqual(client.exec("SELECT generate_series(1, 7)").rows.count, 7)
        XCTAssertEqual(lastEvent(), ["7", "0", "1"])
        XCTAssertEqual(client.execParams("VALUES ($1::int), (2), (3)", ["1"]).rows.count, 3)
        XCTAssertEqual(lastEvent(), ["3", "0", "1"], "extended protocol")
        XCTAssertEqual(client.exec("SELECT 1/0").sqlState, "22012")
        XCTAssertEqual(lastEvent(), ["-1", "1", "1"], "a failed statement counts no rows")
        XCTAssertEqual(client.execAll("SELECT generate_series(1, 2); SELECT generate_series(1, 5)").count, 2)
        XCTAssertEqual(lastEvent(), ["7", "0", "1"], "the counts of a batch's statements add up")
    }
}
