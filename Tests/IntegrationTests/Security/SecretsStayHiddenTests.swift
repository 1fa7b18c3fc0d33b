import Foundation
import Logging
import Proxy
import XCTest

/// Passwords and secrets never appear in logs (at trace level), SHOW CONFIG or metrics, whatever
/// the logins do: right and wrong passwords of every kind, the admin console, auth_query.
final class SecretsStayHiddenTests: IntegrationTestCase {
    func testNoSecretInLogsShowConfigOrMetrics() async throws {
        let lines = LogLines()
        var logger = Logger(label: "pgproxy-secrets-test") { _ in lines }
        logger.logLevel = .trace
        let clientPassword = "Client-Secret-42"
        let verifier = PasswordHash.scram(password: "Verifier-Secret-7")
        let users = """
            [[users]]
            name = "app"
            password = "\(clientPassword)"
            server_password = "app"

            [[users]]
            name = "md5_user"
            password = "\(verifier)"
            server_password = "md5_user"
            """
        let proxy = try await ProxyFixture(
            backendPort: TestCluster.shared.port,
            general: "auth_type = \"plain\"\nauth_user = \"app\"",
            sections: """
                [admin]
                user = "admin"
                password = "Admin-Secret-9"

                [prometheus]
                host = "127.0.0.1"
                port = 0
                """,
            users: users, logger: logger)
        defer { Task { await proxy.stop() } }

        // Clear-text passwords cross the wire with auth_type = "plain": the most there is to leak.
        XCTAssertEqual(try proxy.psql("SELECT current_user", extra: "password=\(clientPassword)"), "app")
        XCTAssertThrowsError(try proxy.psql("SELECT 1", extra: "password=Wrong-Secret-1"))
        XCTAssertEqual(try proxy.psql("SELECT current_user", user: "md5_user", extra: "password=Verifier-Secret-7"), "md5_user")
        XCTAssertThrowsError(try proxy.psql("SELECT 1", user: "admin", extra: "dbname=pgproxy password=Wrong-Secret-2"))
        XCTAssertThrowsError(try proxy.psql("SELECT 1", user: "trust_user", extra: "dbname=pgproxy password=Wrong-Secret-3"))
        XCTAssertThrowsError(try proxy.psql("SELECT 1", user: "bench", extra: "password=Wrong-Secret-4"), "looked up with auth_query")

        let admin = try PQConnection(proxy.conninfo(user: "admin", password: "Admin-Secret-9", database: "pgproxy"))
        var shown = ""
        for command in ["SHOW CONFIG", "SHOW USERS", "SHOW DATABASES", "SHOW POOLS", "SHOW CLIENTS", "SHOW SERVERS"] {
            let outcome = admin.exec(command)
            XCTAssertTrue(outcome.ok, "\(command): \(outcome.message ?? "")")
            shown += "\(outcome.rows)\n"
        }
        let port = try XCTUnwrap(proxy.server.metricsPort)
        let metrics = try runCommand("/usr/bin/curl", ["-sS", "http://127.0.0.1:\(port)/metrics"]).stdout
        XCTAssertTrue(metrics.contains("pgproxy_"), "metrics were served")

        let logged = lines.text
        XCTAssertTrue(logged.contains("failed login from 127.0.0.1"), "the failed logins were logged with the address:\n\(logged)")
        XCTAssertTrue(logged.contains("admin console login as \"trust_user\""), logged)
        // bench is not in this users.toml: its secret came from the server through auth_query.
        let benchSecret = try TestCluster.shared.psql("SELECT rolpassword FROM pg_authid WHERE rolname = 'bench'")
        XCTAssertFalse(benchSecret.isEmpty)
        for secret in [clientPassword, "Verifier-Secret-7", verifier, "Admin-Secret-9", benchSecret] + (1...4).map({ "Wrong-Secret-\($0)" }) {
            XCTAssertFalse(logged.contains(secret), "\(secret) in the log")
            XCTAssertFalse(shown.contains(secret), "\(secret) in the admin console")
            XCTAssertFalse(metrics.contains(secret), "\(secret) in the metrics")
        }
    }
}

/// A swift-log handler that keeps every line, metadata included.
private final class LogLines: LogHandler, @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    var text: String { lock.withLock { lines.joined(separator: "\n") } }

    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
        let all = self.metadata.merging(metadata ?? [:]) { $1 }
        lock.withLock { lines.append("\(level) \(message) \(all)") }
    }
}
