import Foundation
import Logging
import NIOPosix
import XCTest

@testable import Proxy

/// pgproxy running in the test process on port 0, in front of `cluster`, with its own config.
final class ProxyFixture: @unchecked Sendable {
    let server: ProxyServer
    let port: Int
    /// Where the fixture wrote pgproxy.toml and users.toml (RELOAD and SIGHUP re-read them).
    let directory: String
    let backendPort: Int
    var configPath: String { directory + "/pgproxy.toml" }
    var usersPath: String { directory + "/users.toml" }

    static let adminSection = """
        [admin]
        user = "admin"
        password = "admin"
        """

    /// `general` holds extra `[general]` lines and `sections` extra sections such as `[admin]`;
    /// users are app/app (SCRAM on the server) plus the other test roles, each allowed on
    /// database `app`.
    /// `databases` replaces the `[[databases]]` entries (app and bench on `backendPort`).
    /// `logger` replaces the quiet default (a test that reads what pgproxy logs).
    init(
        backendPort: Int, general: String = "", sections: String = "", users: String? = nil, workers: Int = 2, databases: String? = nil,
        logger custom: Logger? = nil
    ) async throws {
        self.backendPort = backendPort
        directory = NSTemporaryDirectory() + "pgproxy-fixture-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // `make test` runs the suite a second time on SwiftNIO's loops (io_engine = "nio").
        var general = general
        if let engine = ProcessInfo.processInfo.environment["PGPROXY_TEST_IO_ENGINE"], !general.contains("io_engine") {
            general = "io_engine = \"\(engine)\"\n" + general
        }
        try Self.configText(backendPort: backendPort, general: "workers = \(workers)\n" + general, sections: sections, databases: databases)
            .write(toFile: directory + "/pgproxy.toml", atomically: true, encoding: .utf8)
        try (users ?? Self.defaultUsers).write(toFile: directory + "/users.toml", atomically: true, encoding: .utf8)
        let config = try ConfigLoader.load(configPath: directory + "/pgproxy.toml", usersPath: directory + "/users.toml")
        var logger = Logger(label: "pgproxy-test")
        logger.logLevel = ProcessInfo.processInfo.environment["PGPROXY_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        server = try ProxyServer(config: config, logger: custom ?? logger)
        port = try await server.start()
        LiveFixtures.add(server)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// pgproxy.toml as the fixture writes it; port 0 so each fixture gets a free port.
    static func configText(backendPort: Int, general: String, sections: String = "", databases: String? = nil) -> String {
        if let databases {
            return """
                [general]
                host = "127.0.0.1"
                port = 0
                \(general)

                \(databases)

                \(sections)
                """
        }
        return """
        [general]
        host = "127.0.0.1"
        port = 0
        \(general)

        [[databases]]
        name = "app"
        host = "127.0.0.1"
        port = \(backendPort)

        [[databases]]
        name = "bench"
        host = "127.0.0.1"
        port = \(backendPort)

        \(sections)
        """
    }

    static let defaultUsers = """
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

    /// Replaces pgproxy.toml (for RELOAD tests); the port stays whatever was bound.
    func rewriteConfig(general: String, sections: String = "") throws {
        try Self.configText(backendPort: backendPort, general: general, sections: sections)
            .write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    func conninfo(user: String = "app", password: String? = nil, database: String = "app", extra: String = "") -> String {
        "host=127.0.0.1 port=\(port) user=\(user) password=\(password ?? user) dbname=\(database) \(extra)"
    }

    /// A libpq connection to the admin console (needs `adminSection` in `sections`).
    func admin() throws -> PQConnection {
        try PQConnection(conninfo(user: "admin", database: "pgproxy"))
    }

    /// psql through pgproxy; returns stdout, or throws with stderr.
    @discardableResult
    func psql(_ sql: String, user: String = "app", extra: String = "") throws -> String {
        let result = try runCommand("/usr/bin/psql", ["-XAtq", "-v", "ON_ERROR_STOP=1", conninfo(user: user, extra: extra), "-c", sql])
        guard result.status == 0 else { throw NSError(domain: "psql", code: Int(result.status), userInfo: [NSLocalizedDescriptionKey: result.stderr]) }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func stop() async {
        LiveFixtures.remove(server)
        await server.shutdown()
    }
}

/// Live fixtures, for the watchdog's report of a hung test.
enum LiveFixtures {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var servers: [ObjectIdentifier: ProxyServer] = [:]

    static func add(_ server: ProxyServer) {
        lock.withLock { servers[ObjectIdentifier(server)] = server }
    }

    static func remove(_ server: ProxyServer) {
        _ = lock.withLock { servers.removeValue(forKey: ObjectIdentifier(server)) }
    }

    /// SHOW POOLS, CLIENTS and SERVERS of every live fixture, each given two seconds.
    static func report() -> String {
        let all = lock.withLock { Array(servers.values) }
        var text = ""
        for server in all {
            let runtime = server.runtime
            let context = AdminContext(runtime: runtime, loop: runtime.loops[0], processID: 0)
            for command in [ShowPools.self, ShowClients.self, ShowServers.self] as [any AdminCommand.Type] {
                text += "--- \(command.usage) (pgproxy on port \(runtime.config.general.port))\n"
                let done = DispatchSemaphore(value: 0)
                let box = NSLock()
                nonisolated(unsafe) var lines: [String] = ["(no answer within 2 s)"]
                command.run([], in: context).whenComplete { result in
                    box.withLock {
                        if case .success(.rows(let columns, let rows, _)) = result {
                            lines = [columns.map(\.name).joined(separator: " | ")] + rows.map { $0.map { $0 ?? "" }.joined(separator: " | ") }
                        }
                    }
                    done.signal()
                }
                _ = done.wait(timeout: .now() + 2)
                text += box.withLock { lines.joined(separator: "\n") } + "\n"
            }
        }
        return text
    }
}
