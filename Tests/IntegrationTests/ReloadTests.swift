import CLibPQ
import Foundation
import XCTest

@testable import Proxy

/// RELOAD, SIGHUP and autoreload: new settings apply without dropping clients; bad files change nothing.
final class ReloadTests: IntegrationTestCase {
    private func poolSize(_ admin: PQConnection, _ database: String = "app") -> String? {
        admin.exec("SHOW DATABASES").records.first { $0["name"] == database }?["pool_size"]
    }

    func testReloadGrowsAPoolUnderLoadWithoutClientErrors() async throws {
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, general: "default_pool_size = 2",
                                           sections: ProxyFixture.adminSection)
        // A transaction that holds its server a moment, so 8 clients need more than 2 servers.
        let script = proxy.directory + "/bench.sql"
        try "BEGIN;\nSELECT pg_sleep(0.002);\nCOMMIT;\n".write(toFile: script, atomically: true, encoding: .utf8)
        let conninfo = proxy.conninfo(user: "bench", database: "bench")
        let bench = Task.detached {
            try runCommand("/usr/bin/pgbench", ["-n", "-c", "8", "-T", "4", "-f", script, conninfo])
        }
        try await Task.sleep(nanoseconds: 1_000_000_000)
        let admin = try proxy.admin()
        XCTAssertEqual(poolSize(admin, "bench"), "2")
        let peakBefore = admin.exec("SHOW POOLS").records.first { $0["database"] == "bench" }
        XCTAssertLessThanOrEqual(Int(peakBefore?["sv_active"] ?? "0") ?? 0, 2)
        try proxy.rewriteConfig(general: "workers = 2\ndefault_pool_size = 6", sections: ProxyFixture.adminSection)
        let reload = admin.exec("RELOAD")
        XCTAssertEqual(reload.commandTag, "RELOAD", reload.message ?? "")
        XCTAssertTrue(admin.notices.contains { $0.contains("default_pool_size: 2 -> 6") }, "\(admin.notices)")
        XCTAssertEqual(poolSize(admin, "bench"), "6")
        var servers = 0
        for _ in 0..<40 where servers <= 2 {
            let row = admin.exec("SHOW POOLS").records.first { $0["database"] == "bench" } ?? [:]
            servers = ["sv_active", "sv_idle", "sv_login", "sv_tested"].reduce(0) { $0 + (Int(row[$1] ?? "0") ?? 0) }
            usleep(50_000)
        }
        XCTAssertGreaterThan(servers, 2, "the pool grew past its old size")
        XCTAssertLessThanOrEqual(servers, 6)
        let result = try await bench.value
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("number of failed transactions: 0"), result.stdout)
        await proxy.stop()
    }

    func testABrokenFileChangesNothing() async throws {
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, general: "default_pool_size = 3",
                                           sections: ProxyFixture.adminSection)
        let client = try PQConnection(proxy.conninfo())
        XCTAssertTrue(client.exec("SELECT 1").ok)
        try proxy.rewriteConfig(general: "default_pool_size = 0\nbogus_key = 1", sections: ProxyFixture.adminSection)
        let admin = try proxy.admin()
        let reload = admin.exec("RELOAD")
        XCTAssertEqual(reload.sqlState, "F0000")
        let detail = String(cString: PQresultErrorField(PQexec(admin.raw, "RELOAD"), Int32(UInt8(ascii: "D"))))
        XCTAssertTrue(detail.contains("pgproxy.toml:") && detail.contains("general.default_pool_size"), detail)
        XCTAssertTrue(detail.contains("bogus_key"), detail)
        XCTAssertEqual(poolSize(admin), "3", "the old configuration keeps running")
        XCTAssertEqual(client.exec("SELECT 2").firstValue, "2")
        XCTAssertNoThrow(try PQConnection(proxy.conninfo()))
        await proxy.stop()
    }

    /// On pgproxy's own loops a reload can turn TLS on for clients and for servers (OpenSSL there).
    func testTLSTurnsOnByReload() async throws {
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, general: "io_engine = \"auto\"",
                                           sections: ProxyFixture.adminSection)
        let client = try PQConnection(proxy.conninfo())
        XCTAssertTrue(proxy.server.runtime.loops.allSatisfy { $0 is EpollLoop }, "auto runs pgproxy's own loops")
        XCTAssertEqual(client.exec("SELECT 1").firstValue, "1")
        XCTAssertThrowsError(try PQConnection(proxy.conninfo(extra: "sslmode=require")), "no TLS yet")

        let certs = TestCertificates.shared
        let clientTLS = "\n[tls]\ncertificate = \"\(certs.certificate("server"))\"\nprivate_key = \"\(certs.key("server"))\"\n"
        try proxy.rewriteConfig(general: "io_engine = \"auto\"", sections: ProxyFixture.adminSection + clientTLS)
        let admin = try proxy.admin()
        XCTAssertTrue(admin.exec("RELOAD").ok)
        let encrypted = try PQConnection(proxy.conninfo(extra: "sslmode=require"))
        XCTAssertEqual(encrypted.exec("SELECT 'encrypted'").firstValue, "encrypted")
        XCTAssertEqual(client.exec("SELECT 2").firstValue, "2", "the plain client goes on")

        // The shared cluster has no TLS: with prefer, new server connections ask for it, are
        // told no, and log in in plain text (TLSTests.testServerTLS turns it on by reload where
        // the server has TLS).
        try proxy.rewriteConfig(general: "io_engine = \"auto\"", sections: ProxyFixture.adminSection + clientTLS + "server_tls = \"prefer\"\n")
        XCTAssertTrue(admin.exec("RELOAD").ok)
        XCTAssertEqual(admin.exec("SHOW CONFIG").rows.first { $0.first == "server_tls" }?[1], "prefer")
        XCTAssertEqual(encrypted.exec("SELECT 3").firstValue, "3", "the encrypted client goes on")
        XCTAssertEqual(try proxy.psql("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"), "f")
        await proxy.stop()
    }

    func testReloadAppliesUsersAndDatabasesWithoutDroppingClients() async throws {
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, sections: ProxyFixture.adminSection)
        let app = try PQConnection(proxy.conninfo())
        let bench = try PQConnection(proxy.conninfo(user: "bench", database: "bench"))
        XCTAssertTrue(app.exec("SELECT 1").ok && bench.exec("SELECT 1").ok)
        // bench disappears; app's password changes in users.toml (the server still knows it as "app").
        let config = ProxyFixture.configText(backendPort: proxy.backendPort, general: "workers = 2", sections: ProxyFixture.adminSection)
        let withoutBench = config.components(separatedBy: "[[databases]]\nname = \"bench\"").first! + "\n" + ProxyFixture.adminSection
        try withoutBench.write(toFile: proxy.configPath, atomically: true, encoding: .utf8)
        let users = """
            [[users]]
            name = "app"
            password = "new-secret"
            server_password = "app"
            """
        try users.write(toFile: proxy.usersPath, atomically: true, encoding: .utf8)
        let admin = try proxy.admin()
        XCTAssertEqual(admin.exec("RELOAD").commandTag, "RELOAD")
        XCTAssertTrue(admin.notices.contains { $0.contains("database bench removed") }, "\(admin.notices)")
        XCTAssertEqual(bench.exec("SELECT 'kept'").firstValue, "kept", "clients of a removed database stay connected")
        XCTAssertEqual(app.exec("SELECT 'kept'").firstValue, "kept")
        XCTAssertThrowsError(try PQConnection(proxy.conninfo(user: "bench", database: "bench"))) { error in
            XCTAssertTrue("\(error)".contains("does not exist"), "\(error)")
        }
        XCTAssertThrowsError(try PQConnection(proxy.conninfo(user: "app", password: "app")))
        let relogged = try PQConnection(proxy.conninfo(user: "app", password: "new-secret"))
        XCTAssertEqual(relogged.exec("SELECT 'new password'").firstValue, "new password")
        await proxy.stop()
    }

    func testANewServerAddressReplacesIdleServerConnections() async throws {
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, sections: ProxyFixture.adminSection)
        let client = try PQConnection(proxy.conninfo())
        let before = client.exec("SELECT pg_backend_pid()").firstValue
        XCTAssertEqual(client.exec("SELECT pg_backend_pid()").firstValue, before, "one idle server is reused")
        let config = ProxyFixture.configText(backendPort: proxy.backendPort, general: "workers = 2", sections: ProxyFixture.adminSection)
        let moved = config.replacingOccurrences(of: "name = \"app\"\nhost = \"127.0.0.1\"", with: "name = \"app\"\nhost = \"localhost\"")
        XCTAssertNotEqual(moved, config)
        try moved.write(toFile: proxy.configPath, atomically: true, encoding: .utf8)
        let admin = try proxy.admin()
        XCTAssertEqual(admin.exec("RELOAD").commandTag, "RELOAD")
        XCTAssertTrue(admin.notices.contains { $0.contains("database app changed") }, "\(admin.notices)")
        let after = client.exec("SELECT pg_backend_pid()").firstValue
        XCTAssertNotNil(after)
        XCTAssertNotEqual(after, before, "the connection to the old address was replaced")
        // The reload reaches each event loop asynchronously: a statement racing it may still open
        // its connection to the old address, which is retired in turn.
        var addresses: [String] = []
        for _ in 0..<40 {
            XCTAssertNotNil(client.exec("SELECT 1").firstValue)
            addresses = admin.exec("SHOW SERVERS").records.map { $0["addr"] ?? "" }
            if addresses == ["localhost"] { break }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        XCTAssertEqual(addresses, ["localhost"])
        await proxy.stop()
    }

    func testAutoreloadNoticesEditedFiles() async throws {
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port,
                                           general: "autoreload = 100\ndefault_pool_size = 4", sections: ProxyFixture.adminSection)
        let admin = try proxy.admin()
        XCTAssertEqual(poolSize(admin), "4")
        try await Task.sleep(nanoseconds: 1_100_000_000)  // a new modification time, whatever the file system's resolution
        try proxy.rewriteConfig(general: "workers = 2\nautoreload = 100\ndefault_pool_size = 5", sections: ProxyFixture.adminSection)
        for _ in 0..<50 where poolSize(admin) != "5" { try await Task.sleep(nanoseconds: 50_000_000) }
        XCTAssertEqual(poolSize(admin), "5")
        await proxy.stop()
    }

    /// The real executable: SIGHUP reloads, SIGTERM stops it.
    func testSIGHUPReloadsTheRunningProcess() throws {
        let binary = repositoryRoot.appendingPathComponent(".build/debug/pgproxy").path
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: binary), "pgproxy is not built at \(binary)")
        let directory = NSTemporaryDirectory() + "pgproxy-sighup-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let port = freeLowPort()
        func config(poolSize: Int) -> String {
            ProxyFixture.configText(backendPort: TestCluster.shared.port, general: "workers = 1\ndefault_pool_size = \(poolSize)",
                                    sections: ProxyFixture.adminSection)
                .replacingOccurrences(of: "port = 0", with: "port = \(port)")
        }
        try config(poolSize: 3).write(toFile: directory + "/pgproxy.toml", atomically: true, encoding: .utf8)
        try ProxyFixture.defaultUsers.write(toFile: directory + "/users.toml", atomically: true, encoding: .utf8)
        let pid = try spawnBackground(binary, ["-c", directory + "/pgproxy.toml", "-u", directory + "/users.toml"],
                                      output: directory + "/pgproxy.log")
        defer { kill(pid, SIGKILL); waitpid(pid, nil, 0) }
        let conninfo = "host=127.0.0.1 port=\(port) user=admin password=admin dbname=pgproxy"
        var admin: PQConnection?
        for _ in 0..<100 where admin == nil {
            admin = try? PQConnection(conninfo)
            if admin == nil { usleep(50_000) }
        }
        let console = try XCTUnwrap(admin, (try? String(contentsOfFile: directory + "/pgproxy.log", encoding: .utf8)) ?? "")
        XCTAssertEqual(poolSize(console), "3")
        let client = try PQConnection("host=127.0.0.1 port=\(port) user=app password=app dbname=app")
        XCTAssertTrue(client.exec("SELECT 1").ok)

        try config(poolSize: 8).write(toFile: directory + "/pgproxy.toml", atomically: true, encoding: .utf8)
        kill(pid, SIGHUP)
        for _ in 0..<100 where poolSize(console) != "8" { usleep(50_000) }
        XCTAssertEqual(poolSize(console), "8")
        XCTAssertEqual(client.exec("SELECT 'still connected'").firstValue, "still connected")
        let log = (try? String(contentsOfFile: directory + "/pgproxy.log", encoding: .utf8)) ?? ""
        XCTAssertTrue(log.contains("default_pool_size: 3 -> 8"), log)

        kill(pid, SIGTERM)
        var status: Int32 = 0
        for _ in 0..<200 {
            if waitpid(pid, &status, WNOHANG) == pid { break }
            usleep(50_000)
        }
        XCTAssertEqual(status, 0, "pgproxy exits cleanly on SIGTERM")
    }
}
