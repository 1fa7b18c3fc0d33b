import PostgresNIO
import XCTest

/// Client-facing auth (pgproxy checks users.toml) and server-facing auth (pgproxy logs in to
/// PostgreSQL with SCRAM, MD5, cleartext or trust, as pg_hba.conf demands per role).
final class AuthenticationTests: IntegrationTestCase {
    func testEveryClientAuthTypeWithPostgresNIO() async throws {
        for authType in ["scram-sha-256", "md5", "plain", "trust"] {
            let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, general: "auth_type = \"\(authType)\"")
            let connection = try await NIOClient.connect(port: proxy.port, user: "app", password: "app")
            let rows = try await connection.query("SELECT current_user", logger: NIOClient.logger)
            var users: [String] = []
            for try await user in rows.decode(String.self) { users.append(user) }
            XCTAssertEqual(users, ["app"], authType)
            try await connection.close()
            if authType != "trust" {
                do {
                    _ = try await NIOClient.connect(port: proxy.port, user: "app", password: "wrong")
                    XCTFail("\(authType): a wrong password was accepted")
                } catch {
                    XCTAssertEqual(NIOClient.sqlState(error), "28P01", "\(authType): \(String(reflecting: error))")
                }
            }
            await proxy.stop()
        }
    }

    func testUnknownUserAndDatabase() async throws {
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port)
        defer { Task { await proxy.stop() } }
        do {
            _ = try await NIOClient.connect(port: proxy.port, user: "nobody", password: "x")
            XCTFail("unknown user accepted")
        } catch {
            // Asked for a password, then refused like a wrong one: unknown users do not show.
            XCTAssertEqual(NIOClient.sqlState(error), "28P01", String(reflecting: error))
        }
        do {
            _ = try await NIOClient.connect(port: proxy.port, user: "app", password: "app", database: "missing")
            XCTFail("unknown database accepted")
        } catch {
            XCTAssertEqual(NIOClient.sqlState(error), "3D000")
        }
    }

    func testServerAuthMethods() async throws {
        // pg_hba.conf: app → scram-sha-256, md5_user → md5, plain_user → password, trust_user → trust.
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port)
        defer { Task { await proxy.stop() } }
        for user in ["app", "md5_user", "plain_user", "trust_user"] {
            XCTAssertEqual(try proxy.psql("SELECT current_user", user: user), user)
        }
    }

    func testStoredSecretsAuthenticateClientsAndServers() async throws {
        let cluster = TestCluster.shared
        // The server's own SCRAM verifier for app: pgproxy can check clients against it and, after a
        // client's SCRAM login, log in to the server with the same keys. Same for the MD5 hash.
        let scram = try cluster.psql("SELECT rolpassword FROM pg_authid WHERE rolname = 'app'")
        let md5 = try cluster.psql("SELECT rolpassword FROM pg_authid WHERE rolname = 'md5_user'")
        XCTAssertTrue(scram.hasPrefix("SCRAM-SHA-256$"))
        XCTAssertTrue(md5.hasPrefix("md5"))
        let users = """
            [[users]]
            name = "app"
            password = "\(scram)"

            [[users]]
            name = "md5_user"
            password = "\(md5)"
            """
        for authType in ["scram-sha-256", "md5"] {
            let proxy = try await ProxyFixture(backendPort: cluster.port, general: "auth_type = \"\(authType)\"", users: users)
            XCTAssertEqual(try proxy.psql("SELECT current_user", user: "app"), "app", authType)
            XCTAssertEqual(try proxy.psql("SELECT current_user", user: "md5_user"), "md5_user", authType)
            XCTAssertThrowsError(try proxy.psql("SELECT 1", user: "app", extra: "password=nope"))
            await proxy.stop()
        }
    }
}

extension AuthenticationTests {
    /// `pgproxy hash-password` prints secrets that users.toml takes: a fresh SCRAM verifier
    /// authenticates the client, and the server learns nothing new (pgproxy still logs in as app).
    func testHashPasswordPrintsSecretsUsersTomlTakes() async throws {
        let binary = repositoryRoot.appendingPathComponent(".build/debug/pgproxy").path
        let scram = try runCommand("/bin/sh", ["-c", "printf app | '\(binary)' hash-password"])
        XCTAssertEqual(scram.status, 0, scram.stderr)
        let verifier = scram.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(verifier.hasPrefix("SCRAM-SHA-256$4096:"), verifier)
        let md5 = try runCommand(binary, ["hash-password", "--method", "md5", "--user", "md5_user", "md5_user"])
        XCTAssertEqual(md5.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                       try TestCluster.shared.psql("SELECT rolpassword FROM pg_authid WHERE rolname = 'md5_user'"),
                       "the same MD5 hash PostgreSQL stores")

        let users = """
            [[users]]
            name = "app"
            password = "\(verifier)"
            server_password = "app"
            """
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, general: "auth_type = \"scram-sha-256\"", users: users)
        defer { Task { await proxy.stop() } }
        XCTAssertEqual(try proxy.psql("SELECT current_user", user: "app"), "app")
        XCTAssertThrowsError(try proxy.psql("SELECT 1", user: "app", extra: "password=nope"))
    }
}
