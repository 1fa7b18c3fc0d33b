import Foundation
import Logging
import NIOPosix
import XCTest

@testable import Proxy

/// pgproxy running in the test process on port 0, in front of `cluster`, with its own config.
final class ProxyFixture: @unchecked Sendable {
    let server: ProxyServer
    let port: Int

    /// `general` holds extra `[general]` lines; users are app/app (SCRAM on the server) plus the
    /// other test roles, each allowed on database `app`.
    init(backendPort: Int, general: String = "", users: String? = nil, workers: Int = 2) async throws {
        let configText = """
            [general]
            host = "127.0.0.1"
            port = 0
            workers = \(workers)
            \(general)

            [[databases]]
            name = "app"
            host = "127.0.0.1"
            port = \(backendPort)

            [[databases]]
            name = "bench"
            host = "127.0.0.1"
            port = \(backendPort)
            """
        let usersText = users ?? """
            [[users]]
            name = "app"
            password = "app"

            [[users]]
            name = "md5_user"
            password = "md5_user"
            database = "app"

            [[users]]
            name = "plain_user"
            password = "plain_user"
            database = "app"

            [[users]]
            name = "trust_user"
            password = "trust_user"
            database = "app"

            [[users]]
            name = "bench"
            password = "bench"
            """
        let config = try ConfigLoader.parse(configText: configText, configPath: "test.toml", usersText: usersText, usersPath: "test-users.toml")
        var logger = Logger(label: "pgproxy-test")
        logger.logLevel = ProcessInfo.processInfo.environment["PGPROXY_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        server = ProxyServer(config: config, logger: logger)
        port = try await server.start()
    }

    func conninfo(user: String = "app", password: String? = nil, database: String = "app", extra: String = "") -> String {
        "host=127.0.0.1 port=\(port) user=\(user) password=\(password ?? user) dbname=\(database) \(extra)"
    }

    /// psql through pgproxy; returns stdout, or throws with stderr.
    @discardableResult
    func psql(_ sql: String, user: String = "app", extra: String = "") throws -> String {
        let result = try runCommand("/usr/bin/psql", ["-XAtq", "-v", "ON_ERROR_STOP=1", conninfo(user: user, extra: extra), "-c", sql])
        guard result.status == 0 else { throw NSError(domain: "psql", code: Int(result.status), userInfo: [NSLocalizedDescriptionKey: result.stderr]) }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func stop() async { await server.shutdown() }
}
