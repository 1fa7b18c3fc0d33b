import Foundation
import XCTest

/// auth_query: users not in users.toml log in with the secret PostgreSQL holds for them.
final class AuthQueryTests: IntegrationTestCase {
    private func psql(_ proxy: ProxyFixture, user: String, password: String) -> CommandResult {
        (try? runCommand("/usr/bin/psql", ["-XAtq", "-v", "ON_ERROR_STOP=1", proxy.conninfo(user: user, password: password), "-c", "SELECT current_user"]))
            ?? CommandResult(status: -1, stdout: "", stderr: "psql did not run")
    }

    func testUnlistedUsersLogInWithTheServersSecret() async throws {
        let cluster = TestCluster.shared
        try cluster.psql("DROP ROLE IF EXISTS aq_scram; DROP ROLE IF EXISTS aq_md5")
        try cluster.psql("CREATE ROLE aq_scram LOGIN PASSWORD 'scram-secret'")
        try cluster.psql("SET password_encryption = 'md5'; CREATE ROLE aq_md5 LOGIN PASSWORD 'md5-secret'")
        // The server must ask aq_md5 for MD5: pgproxy holds only the hash to answer with.
        let hba = cluster.directory + "/data/pg_hba.conf"
        let original = try String(contentsOfFile: hba, encoding: .utf8)
        try ("host all aq_md5 127.0.0.1/32 md5\n" + original).write(toFile: hba, atomically: false, encoding: .utf8)
        try cluster.psql("SELECT pg_reload_conf()")
        defer {
            try? original.write(toFile: hba, atomically: false, encoding: .utf8)
            _ = try? cluster.psql("SELECT pg_reload_conf()")
            _ = try? cluster.psql("DROP ROLE IF EXISTS aq_scram; DROP ROLE IF EXISTS aq_md5")
        }
        // Only the lookup user is listed; pg_hba.conf of the test cluster wants SCRAM or MD5 from these roles.
        let users = """
            [[users]]
            name = "app"
            password = "app"
            """
        let proxy = try await ProxyFixture(
            backendPort: cluster.port, general: "auth_type = \"scram-sha-256\"\nauth_user = \"app\"\nauth_query_cache_ttl = 0", users: users)
        defer { Task { await proxy.stop() } }

        let scram = psql(proxy, user: "aq_scram", password: "scram-secret")
        XCTAssertEqual(scram.status, 0, scram.stderr)
        XCTAssertEqual(scram.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "aq_scram")
        let md5 = psql(proxy, user: "aq_md5", password: "md5-secret")
        XCTAssertEqual(md5.status, 0, md5.stderr)

        for (user, password) in [("aq_scram", "wrong"), ("aq_md5", "wrong"), ("nobody_at_all", "x")] {
            let refused = psql(proxy, user: user, password: password)
            XCTAssertTrue(refused.stderr.contains("password authentication failed for user \"\(user)\""), "\(user): \(refused.stderr)")
        }

        // With no cache, a changed password counts at the next login, for new server connections too.
        try cluster.psql("ALTER ROLE aq_scram PASSWORD 'renewed'")
        _ = try cluster.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'aq_scram'")
        XCTAssertNotEqual(psql(proxy, user: "aq_scram", password: "scram-secret").status, 0)
        let renewed = psql(proxy, user: "aq_scram", password: "renewed")
        XCTAssertEqual(renewed.status, 0, renewed.stderr)
    }

    func testTheCacheKeepsASecretForItsTTL() async throws {
        let cluster = TestCluster.shared
        try cluster.psql("DROP ROLE IF EXISTS aq_cached; CREATE ROLE aq_cached LOGIN PASSWORD 'first'")
        defer { _ = try? cluster.psql("DROP ROLE IF EXISTS aq_cached") }
        let proxy = try await ProxyFixture(
            backendPort: cluster.port, general: "auth_type = \"scram-sha-256\"\nauth_user = \"app\"\nauth_query_cache_ttl = \"1h\"",
            workers: 1)
        defer { Task { await proxy.stop() } }
        XCTAssertEqual(psql(proxy, user: "aq_cached", password: "first").status, 0)
        // The server's secret changes; pgproxy checks clients against the cached one until the TTL
        // ends (or RELOAD), and the pooled server connection (one worker: one pool) goes on serving.
        try cluster.psql("ALTER ROLE aq_cached PASSWORD 'second'")
        XCTAssertEqual(psql(proxy, user: "aq_cached", password: "first").status, 0, "cached secret")
        if case .refused(let errors) = proxy.server.reload() { XCTFail("\(errors)") }
        XCTAssertNotEqual(psql(proxy, user: "aq_cached", password: "first").status, 0, "RELOAD empties the cache")
    }
}
