import Foundation
import XCTest
@testable import Proxy

/// Refusals of unbuilt features, error ordering, line finding, lookups and file loading.
extension ConfigLoaderTests {
    func testSectionsOfFeaturesNotBuiltYet() {
        for section in ["[rest_api]", "[mqtt]"] {
            let name = section.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            let errors = refusals(Self.minimalConfig + "\n\n\(section)\nenabled = true\n")
            assertOne(errors, line: 5, key: name, reason: "\(section) (")
            XCTAssertTrue(errors.first?.reason.hasSuffix("is not supported yet in this version of pgproxy") ?? false,
                          "\(errors)")
        }
    }

    func testRoutingKeysAreRead() throws {
        let config = try load("""
            [general]
            load_balancing = "round_robin"
            healthcheck_interval = "2s"
            healthcheck_timeout = "500ms"
            ban_time = "30s"
            plugin_dir = "/opt/pgproxy/plugins"

            [[databases]]
            name = "app"
            host = "10.0.0.1"
            role = "primary"

            [[databases]]
            name = "app"
            host = "10.0.0.2"
            role = "replica"
            weight = 3

            [[plugins]]
            name = "read_write_split"
            config = { primary_reads = true, read_only_functions = ["f", "g"] }
            """)
        XCTAssertEqual(config.general.loadBalancing, .roundRobin)
        XCTAssertEqual(config.general.healthcheckInterval, 2000)
        XCTAssertEqual(config.general.healthcheckTimeout, 500)
        XCTAssertEqual(config.general.banTime, 30000)
        XCTAssertEqual(config.hosts(of: "app").map(\.host.role), [.primary, .replica])
        XCTAssertEqual(config.hosts(of: "app").map(\.host.weight), [1, 3])
        XCTAssertEqual(config.plugins.first?.name, "read_write_split")
        XCTAssertEqual(config.plugins.first?.settings.map(\.value), ["true", "f,g"])
    }

    func testHostsOfOneDatabaseMustAgree() {
        let hosts = """
            [[databases]]
            name = "app"
            host = "a"
            role = "primary"
            pool_mode = "session"

            [[databases]]
            name = "app"
            host = "b"
            role = "primary"

            [[databases]]
            name = "ro"
            host = "c"
            role = "replica"
            """
        let errors = refusals(hosts)
        XCTAssertEqual(Set(errors.map(\.key)), ["databases[1].role", "databases[1].pool_mode", "databases[2].role"], "\(errors)")
        XCTAssertTrue(errors.contains { $0.reason.contains("already has a primary") })
        XCTAssertTrue(errors.contains { $0.reason.contains("no host that can take writes") })
        let plugin = refusals(Self.minimalConfig + "\n[[plugins]]\nname = \"x\"\npath = \"/y.so\"\n")
        XCTAssertEqual(plugin.map(\.key), ["plugins[0].path"])
    }

    func testCrossShardWritesIsABoolean() throws {
        XCTAssertFalse(try load(Self.minimalConfig).general.crossShardWrites)
        XCTAssertTrue(try load("[general]\ncross_shard_writes = true\n" + Self.minimalConfig).general.crossShardWrites)
        XCTAssertEqual(refusals("[general]\ncross_shard_writes = 1\n" + Self.minimalConfig).map(\.key), ["general.cross_shard_writes"])
    }

    // MARK: - Many errors at once

    func testEveryErrorOfBothFilesIsReportedInOrder() {
        let config = """
            [general]
            port = 65536
            pool_mode = "statement"
            load_balancing = "fastest"

            [tls]
            cert = "x"

            [[databases]]
            name = "app"
            host = ""
            """
        let users = """
            [[users]]
            name = "alice"
            password = "a"
            database = "nope"
            pool_sise = 3
            """
        let errors = refusals(config, users: users)
        XCTAssertEqual(errors.map { "\($0.file):\($0.line ?? 0):\($0.key)" }, [
            "pgproxy.toml:2:general.port",
            "pgproxy.toml:3:general.pool_mode",
            "pgproxy.toml:4:general.load_balancing",
            "pgproxy.toml:7:tls.cert",
            "pgproxy.toml:11:databases[0].host",
            "users.toml:4:users[0].database",
            "users.toml:5:users[0].pool_sise",
        ])
        let text = ConfigErrors(errors: errors).description
        XCTAssertEqual(text.split(separator: "\n").count, 7)
        XCTAssertTrue(text.hasPrefix("pgproxy.toml:2: general.port: must be between 0 and 65535, got 65536\n"), text)
        XCTAssertEqual(ConfigErrors(errors: errors).localizedDescription, text)
    }

    func testErrorDescriptionWithoutLineOrKey() {
        XCTAssertEqual(ConfigError(file: "a.toml", line: nil, key: "databases", reason: "r").description, "a.toml: databases: r")
        XCTAssertEqual(ConfigError(file: "a.toml", line: 3, key: "", reason: "r").description, "a.toml:3: r")
    }

    // MARK: - Lines found in awkward text

    func testLinesSurviveMultilineStringsAndDottedHeaders() {
        let errors = refusals("""
            [general]
            server_reset_query = \"\"\"
            port = 1
            [[databases]]
            \"\"\"
            'port' = -1

            [[databases]]
            name = "app"   # trailing comment
            host = "h"
            [databases.extra]
            x = 1
            """)
        XCTAssertEqual(errors.map(\.key), ["general.port", "databases[0].extra"])
        XCTAssertEqual(errors.map(\.line), [6, 11])
    }

    // MARK: - Lookups

    func testPoolSettingsPreferUserThenDatabaseThenDefault() throws {
        let config = try load("""
            [general]
            default_pool_size = 10
            min_pool_size = 1
            pool_mode = "transaction"

            [[databases]]
            name = "plain"
            host = "h"

            [[databases]]
            name = "tuned"
            host = "h"
            pool_size = 30
            pool_mode = "session"
            min_pool_size = 3
            """, users: """
            [[users]]
            name = "alice"
            password = "a"

            [[users]]
            name = "alice"
            password = "b"
            database = "tuned"
            pool_size = 7
            min_pool_size = 2

            [[users]]
            name = "bob"
            password = "c"
            database = "plain"
            pool_mode = "session"
            """)
        XCTAssertEqual(config.database(named: "tuned")?.poolSize, 30)
        XCTAssertNil(config.database(named: "missing"))

        XCTAssertEqual(config.user(named: "alice", database: "tuned")?.password, "b")
        XCTAssertEqual(config.user(named: "alice", database: "plain")?.password, "a")
        XCTAssertEqual(config.user(named: "bob", database: "plain")?.password, "c")
        XCTAssertNil(config.user(named: "bob", database: "tuned"))
        XCTAssertNil(config.user(named: "alice", database: "missing"))
        XCTAssertNil(config.user(named: "carol", database: "plain"))

        XCTAssertEqual(config.poolSize(user: "alice", database: "tuned"), 7)
        XCTAssertEqual(config.poolSize(user: "alice", database: "plain"), 10)
        XCTAssertEqual(config.poolSize(user: "bob", database: "plain"), 10)
        XCTAssertEqual(config.poolSize(user: "carol", database: "tuned"), 30)

        XCTAssertEqual(config.poolMode(user: "alice", database: "tuned"), .session)
        XCTAssertEqual(config.poolMode(user: "alice", database: "plain"), .transaction)
        XCTAssertEqual(config.poolMode(user: "bob", database: "plain"), .session)

        XCTAssertEqual(config.minPoolSize(user: "alice", database: "tuned"), 2)
        XCTAssertEqual(config.minPoolSize(user: "alice", database: "plain"), 1)
        XCTAssertEqual(config.minPoolSize(user: "carol", database: "tuned"), 3)
    }

    // MARK: - Files

    func testMissingFilesAreBothNamed() {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pgproxy-config-\(UUID())")
        XCTAssertThrowsError(try ConfigLoader.load(configPath: directory.path + "/pgproxy.toml", usersPath: directory.path + "/users.toml")) {
            let errors = ($0 as? ConfigErrors)?.errors ?? []
            XCTAssertEqual(errors.map(\.file), [directory.path + "/pgproxy.toml", directory.path + "/users.toml"])
            XCTAssertTrue(errors.allSatisfy { $0.reason.contains("does not exist") }, "\(errors)")
        }
    }

    func testLoadReadsFilesFromDisk() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pgproxy-config-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let configPath = directory.appendingPathComponent("pgproxy.toml").path
        let usersPath = directory.appendingPathComponent("users.toml").path
        try Self.minimalConfig.write(toFile: configPath, atomically: true, encoding: .utf8)
        try Self.minimalUsers.write(toFile: usersPath, atomically: true, encoding: .utf8)
        let config = try ConfigLoader.load(configPath: configPath, usersPath: usersPath)
        XCTAssertEqual(config.configPath, configPath)
        XCTAssertEqual(config.users.map(\.name), ["alice"])
    }

    func testExampleFilesInTheRepositoryLoad() throws {
        // Tests/ProxyTests/Config/ThisFile.swift: the repository root is three folders up.
        var root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        for _ in 0..<3 { root.deleteLastPathComponent() }
        let config = try ConfigLoader.load(
            configPath: root.appendingPathComponent("pgproxy.toml").path,
            usersPath: root.appendingPathComponent("users.toml").path
        )
        XCTAssertEqual(config.general.host, "127.0.0.1")
        XCTAssertEqual(config.general.port, 6432)
        XCTAssertEqual(config.general.poolMode, .transaction)
        XCTAssertEqual(config.general.defaultPoolSize, 20)
        // scripts/demo.sh connects with dbname=app to a PostgreSQL on port 15432.
        XCTAssertEqual(config.databases, [DatabaseConfig(name: "app", host: "127.0.0.1", port: 15432)])
        XCTAssertEqual(config.user(named: "app", database: "app")?.password, "app")
    }
}
