import CLibPQ
import Foundation
import XCTest

/// Clients on pgproxy's Unix-domain socket (`unix_socket_dir`), servers on PostgreSQL's
/// (`host = "/dir"`), with libpq and psql, on both event-loop engines.
final class UnixSocketConnectionTests: IntegrationTestCase {
    private func socketDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "pgproxy-sock-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// The test cluster's `app` database, reached on its Unix socket.
    private var socketDatabase: String {
        """
        [[databases]]
        name = "app"
        host = "\(TestCluster.shared.directory)"
        port = \(TestCluster.shared.port)
        """
    }

    func testClientsAndServersOnUnixSockets() async throws {
        let directory = try socketDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let proxy = try await ProxyFixture(
            backendPort: TestCluster.shared.port, general: "unix_socket_dir = \"\(directory)\"\nunix_socket_mode = \"0770\"",
            sections: ProxyFixture.adminSection, databases: socketDatabase)
        let socketPath = "\(directory)/.s.PGSQL.\(proxy.port)"
        let permissions = try FileManager.default.attributesOfItem(atPath: socketPath)[.posixPermissions] as? NSNumber
        XCTAssertEqual(permissions?.intValue, 0o770)

        let overSocket = "host=\(directory) port=\(proxy.port) user=app password=app dbname=app"
        let local = try PQConnection(overSocket)
        let tcp = try PQConnection(proxy.conninfo())
        // inet_server_addr() is NULL on a Unix-socket connection: pgproxy's servers are on one.
        XCTAssertEqual(local.exec("SELECT inet_server_addr() IS NULL, 'local'").rows.first ?? [], ["t", "local"])
        XCTAssertEqual(tcp.exec("SELECT inet_server_addr() IS NULL, 'tcp'").rows.first ?? [], ["t", "tcp"])
        XCTAssertTrue(local.exec("CREATE TABLE IF NOT EXISTS over_socket(id int); TRUNCATE over_socket").ok)
        let loaded = local.copyIn("COPY over_socket FROM STDIN", chunks: 1000, chunk: "7\n")
        XCTAssertEqual(loaded.commandTag, "COPY 1000", loaded.message ?? "")
        XCTAssertEqual(tcp.exec("SELECT sum(id) FROM over_socket").firstValue, "7000")

        let psql = try runCommand("/usr/bin/psql", ["-XAtq", "-v", "ON_ERROR_STOP=1", overSocket, "-c", "SELECT 40 + 2"])
        XCTAssertEqual(psql.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "42", psql.stderr)

        // A cancel arrives on the Unix socket and goes to the server on PostgreSQL's.
        XCTAssertTrue(local.send("SELECT pg_sleep(30)"))
        try await Task.sleep(nanoseconds: 300_000_000)
        let started = Date()
        XCTAssertTrue(local.cancel())
        XCTAssertEqual(local.results().first?.sqlState, "57014")
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        XCTAssertEqual(local.exec("SELECT 'still usable'").firstValue, "still usable")

        // The admin console answers on the socket too, and shows both kinds of address.
        let console = try PQConnection("host=\(directory) port=\(proxy.port) user=admin password=admin dbname=pgproxy")
        let servers = console.exec("SHOW SERVERS")
        XCTAssertTrue(servers.rows.contains { $0.contains(TestCluster.shared.directory) }, "\(servers.rows)")
        let clients = console.exec("SHOW CLIENTS")
        XCTAssertTrue(clients.rows.contains { $0.contains("unix") }, "\(clients.rows)")
        XCTAssertTrue(clients.rows.contains { $0.contains("127.0.0.1") }, "\(clients.rows)")

        await proxy.stop()
        XCTAssertFalse(FileManager.default.fileExists(atPath: socketPath), "shutdown removes the socket file")
    }

    /// `local` lines of the hba_file decide for clients on the Unix socket, `host` lines for TCP.
    func testLocalLinesOfTheHbaFile() async throws {
        let directory = try socketDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let rules = directory + "/pg_hba.conf"
        try """
            local all app        scram-sha-256
            local all all        reject
            host  all all 127.0.0.1/32 trust
            """.write(toFile: rules, atomically: true, encoding: .utf8)
        let proxy = try await ProxyFixture(
            backendPort: TestCluster.shared.port, general: "unix_socket_dir = \"\(directory)\"\nhba_file = \"\(rules)\"")
        defer { Task { await proxy.stop() } }
        func psql(_ conninfo: String) throws -> CommandResult {
            try runCommand("/usr/bin/psql", ["-XAtq", conninfo, "-c", "SELECT current_user"])
        }
        let socket = "host=\(directory) port=\(proxy.port) dbname=app"
        XCTAssertEqual(try psql("\(socket) user=app password=app").stdout.trimmingCharacters(in: .whitespacesAndNewlines), "app")
        XCTAssertTrue(try psql("\(socket) user=app password=wrong").stderr.contains("password authentication failed"))
        let rejected = try psql("\(socket) user=md5_user password=md5_user")
        XCTAssertTrue(rejected.stderr.contains("hba_file rejects connection for host \"[local]\", user \"md5_user\""), rejected.stderr)
        XCTAssertEqual(try psql(proxy.conninfo(user: "md5_user", password: "wrong")).status, 0, "the TCP line trusts")
    }
}
