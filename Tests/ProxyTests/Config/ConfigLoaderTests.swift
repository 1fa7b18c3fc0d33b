import Foundation
import XCTest
@testable import Proxy

final class ConfigLoaderTests: XCTestCase {
    // The smallest files that load; most tests change one of them.
    static let minimalConfig = """
        [[databases]]
        name = "app"
        host = "db.local"
        """
    static let minimalUsers = """
        [[users]]
        name = "alice"
        password = "secret"
        """

    func load(_ config: String, users: String = minimalUsers) throws -> ProxyConfig {
        try ConfigLoader.parse(configText: config, configPath: "pgproxy.toml", usersText: users, usersPath: "users.toml")
    }

    /// Every error of a load that must fail.
    func refusals(
        _ config: String,
        users: String = minimalUsers,
        file: StaticString = #filePath,
        line: UInt = #line
    ) -> [ConfigError] {
        do {
            let loaded = try load(config, users: users)
            XCTFail("loaded although it should not: \(loaded)", file: file, line: line)
            return []
        } catch let errors as ConfigErrors {
            return errors.errors
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
            return []
        }
    }

    /// Asserts exactly one error, at `file:line` about `key`, whose reason contains `reason`.
    func assertOne(
        _ errors: [ConfigError],
        file expectedFile: String = "pgproxy.toml",
        line expectedLine: Int?,
        key: String,
        reason: String,
        file: StaticString = #filePath,
        line: UInt = #line
    ) {
        guard errors.count == 1, let error = errors.first else {
            XCTFail("expected one error, got \(errors.count):\n\(ConfigErrors(errors: errors))", file: file, line: line)
            return
        }
        XCTAssertEqual(error.file, expectedFile, file: file, line: line)
        XCTAssertEqual(error.line, expectedLine, "\(error)", file: file, line: line)
        XCTAssertEqual(error.key, key, "\(error)", file: file, line: line)
        XCTAssertTrue(error.reason.contains(reason), "'\(error.reason)' lacks '\(reason)'", file: file, line: line)
    }

    // MARK: - Reading

    func testMinimalFilesGiveDocumentedDefaults() throws {
        let config = try load(Self.minimalConfig)
        let general = config.general
        XCTAssertEqual(general.host, "0.0.0.0")
        XCTAssertEqual(general.port, 6432)
        XCTAssertEqual(general.workers, min(max(ProcessInfo.processInfo.activeProcessorCount, 1), 256))
        XCTAssertEqual(general.poolMode, .transaction)
        XCTAssertEqual(general.defaultPoolSize, 10)
        XCTAssertEqual(general.minPoolSize, 0)
        XCTAssertEqual(general.maxClientConnections, 10_000)
        XCTAssertEqual(general.authType, .scramSHA256)
        XCTAssertEqual(general.serverIdleTimeout, 600_000)
        XCTAssertEqual(general.serverLifetime, 3_600_000)
        XCTAssertEqual(general.queryWaitTimeout, 120_000)
        XCTAssertEqual(general.serverConnectTimeout, 5_000)
        XCTAssertEqual(general.clientLoginTimeout, 60_000)
        XCTAssertEqual(general.shutdownTimeout, 30_000)
        XCTAssertEqual(general.serverResetQuery, "DISCARD ALL")
        XCTAssertFalse(general.serverResetQueryAlways)
        XCTAssertEqual(general.logLevel, "info")
        XCTAssertEqual(general, GeneralConfig())

        XCTAssertEqual(config.databases, [DatabaseConfig(name: "app", host: "db.local")])
        XCTAssertEqual(config.databases[0].port, 5432)
        XCTAssertEqual(config.databases[0].databaseName, "app")
        XCTAssertEqual(config.users, [UserConfig(name: "alice", password: "secret")])
        XCTAssertEqual(config.configPath, "pgproxy.toml")
        XCTAssertEqual(config.usersPath, "users.toml")
    }

    func testEveryKeyIsRead() throws {
        let config = try load("""
            [general]
            host = "127.0.0.1"
            port = 7432
            workers = 3
            pool_mode = "session"
            default_pool_size = 25
            min_pool_size = 2
            max_client_connections = 500
            auth_type = "md5"
            server_idle_timeout = 1000
            server_lifetime = "2h"
            query_wait_timeout = "0"
            server_connect_timeout = "1500ms"
            client_login_timeout = "10s"
            shutdown_timeout = "1m"
            server_reset_query = "RESET ALL"
            server_reset_query_always = true
            log_level = "debug"

            [[databases]]
            name = "app"
            host = "db1"
            port = 5433
            database_name = "app_production"
            pool_size = 40
            pool_mode = "transaction"
            min_pool_size = 4
            role = "primary"
            shard = 0
            """, users: """
            [[users]]
            name = "alice"
            password = "pw"
            database = "app"
            pool_size = 5
            pool_mode = "session"
            min_pool_size = 1
            max_client_connections = 50
            server_user = "alice_srv"
            server_password = "srv_pw"
            """)
        var general = GeneralConfig()
        general.host = "127.0.0.1"
        general.port = 7432
        general.workers = 3
        general.poolMode = .session
        general.defaultPoolSize = 25
        general.minPoolSize = 2
        general.maxClientConnections = 500
        general.authType = .md5
        general.serverIdleTimeout = 1_000
        general.serverLifetime = 7_200_000
        general.queryWaitTimeout = 0
        general.serverConnectTimeout = 1_500
        general.clientLoginTimeout = 10_000
        general.shutdownTimeout = 60_000
        general.serverResetQuery = "RESET ALL"
        general.serverResetQueryAlways = true
        general.logLevel = "debug"
        XCTAssertEqual(config.general, general)
        XCTAssertEqual(config.databases, [
            DatabaseConfig(name: "app", host: "db1", port: 5433, databaseName: "app_production",
                           poolSize: 40, poolMode: .transaction, minPoolSize: 4),
        ])
        XCTAssertEqual(config.users, [
            UserConfig(name: "alice", password: "pw", database: "app", poolSize: 5, poolMode: .session,
                       minPoolSize: 1, maxClientConnections: 50, serverUser: "alice_srv", serverPassword: "srv_pw"),
        ])
    }

    func testDurationsInEveryForm() throws {
        let cases: [(String, Int64)] = [
            ("0", 0), ("1234", 1_234), ("\"0\"", 0), ("\"250ms\"", 250), ("\"30s\"", 30_000),
            ("\"5m\"", 300_000), ("\"1h\"", 3_600_000), ("\"90 s\"", 90_000), ("\"1_000ms\"", 1_000), ("\"2H\"", 7_200_000),
        ]
        for (written, expected) in cases {
            let config = try load("[general]\nserver_idle_timeout = \(written)\n" + Self.minimalConfig)
            XCTAssertEqual(config.general.serverIdleTimeout, expected, written)
        }
        XCTAssertEqual(ConfigLoader.parseDuration("30"), .missingUnit)
        XCTAssertEqual(ConfigLoader.parseDuration("-5s"), .negative)
        XCTAssertEqual(ConfigLoader.parseDuration("1.5s"), .malformed)
        XCTAssertEqual(ConfigLoader.parseDuration("5d"), .malformed)
        XCTAssertEqual(ConfigLoader.parseDuration("s"), .malformed)
        XCTAssertEqual(ConfigLoader.parseDuration("99999999999999999999h"), .tooLarge)
        XCTAssertEqual(ConfigLoader.parseDuration("9999999999999999h"), .tooLarge)
    }

    func testBadDurationsAreRefused() {
        let errors = refusals("""
            [general]
            server_idle_timeout = -1
            server_lifetime = "-5m"
            query_wait_timeout = "30"
            server_connect_timeout = 0
            client_login_timeout = 1.5
            shutdown_timeout = "soon"
            """ + "\n" + Self.minimalConfig)
        XCTAssertEqual(errors.map(\.line), [2, 3, 4, 5, 6, 7])
        XCTAssertEqual(errors.map(\.key), [
            "general.server_idle_timeout", "general.server_lifetime", "general.query_wait_timeout",
            "general.server_connect_timeout", "general.client_login_timeout", "general.shutdown_timeout",
        ])
        XCTAssertEqual(errors[0].reason, "must not be negative")
        XCTAssertEqual(errors[1].reason, "must not be negative")
        XCTAssertTrue(errors[2].reason.contains("needs a unit"), errors[2].reason)
        XCTAssertEqual(errors[3].reason, "must be greater than 0")
        XCTAssertTrue(errors[4].reason.contains("got a floating-point number"), errors[4].reason)
        XCTAssertTrue(errors[5].reason.contains("got \"soon\""), errors[5].reason)
    }

    // MARK: - Syntax, unknown sections and keys

    func testSyntaxErrorCarriesTOMLKitsLine() {
        let errors = refusals("""
            [general]
            port = 6432
            host = "unterminated
            """)
        assertOne(errors, line: 3, key: "", reason: "invalid TOML")
    }

    func testSyntaxErrorsInBothFilesAreBothReported() {
        let errors = refusals("[general\n", users: "\n\nname = = 1\n")
        XCTAssertEqual(errors.map(\.file), ["pgproxy.toml", "users.toml"])
        XCTAssertEqual(errors.map(\.line), [1, 3])
    }

    func testUnknownKeyInGeneralSuggestsTheClosestKnownOne() {
        let errors = refusals("""
            # comment
            [general]
            port = 6432
            defualt_pool_size = 5
            """ + "\n" + Self.minimalConfig)
        assertOne(errors, line: 4, key: "general.defualt_pool_size",
                  reason: "unknown key 'defualt_pool_size'; did you mean 'default_pool_size'?")
    }

    func testUnknownKeyInTheSecondDatabaseGetsThatEntrysLine() {
        let errors = refusals("""
            [[databases]]
            name = "one"
            host = "h"
            pool_size = 3

            [[databases]]
            name = "two"
            host = "h"
            pool_szie = 3
            """)
        assertOne(errors, line: 9, key: "databases[1].pool_szie", reason: "unknown key 'pool_szie'; did you mean 'pool_size'?")
    }

    func testUnknownKeyWithoutNearMatch() {
        let errors = refusals(Self.minimalConfig + "\ncolour = \"blue\"\n")
        assertOne(errors, line: 4, key: "databases[0].colour", reason: "unknown key 'colour'")
        XCTAssertFalse(errors[0].reason.contains("did you mean"))
    }

    func testSuggestionsStayPlausible() {
        XCTAssertEqual(ConfigLoader.closest(to: "prot", among: ConfigLoader.generalKeys), "port")
        XCTAssertEqual(ConfigLoader.closest(to: "Pool_Mode", among: ConfigLoader.generalKeys), "pool_mode")
        XCTAssertNil(ConfigLoader.closest(to: "pool_szie", among: ConfigLoader.generalKeys), "pool_mode is three slips away")
        XCTAssertNil(ConfigLoader.closest(to: "b", among: ["a"]))
    }

    func testKeyOfAnotherSectionSaysWhereItBelongs() {
        let errors = refusals(Self.minimalConfig + "\ndefault_pool_size = 4\n")
        assertOne(errors, line: 4, key: "databases[0].default_pool_size", reason: "it belongs in [general]")
    }

    func testUnknownSectionSuggestsTheClosestKnownOne() {
        let errors = refusals("[genral]\nport = 1\n\n" + Self.minimalConfig)
        assertOne(errors, line: 1, key: "genral", reason: "unknown section 'genral'; did you mean 'general'?")
    }

    func testTopLevelKeySaysItBelongsInGeneral() {
        let errors = refusals("port = 7000\n" + Self.minimalConfig)
        assertOne(errors, line: 1, key: "port", reason: "at the top level; it belongs in [general]")
    }

    func testSectionsInTheWrongFile() {
        let errors = refusals(Self.minimalConfig + "\n[[users]]\nname = \"x\"\n", users: Self.minimalUsers + "\n[general]\nport = 1\n")
        XCTAssertEqual(errors.count, 2, "\(errors)")
        XCTAssertEqual(errors.map(\.file), ["pgproxy.toml", "users.toml"])
        XCTAssertEqual(errors.map(\.line), [4, 4])
        XCTAssertEqual(errors.map(\.key), ["users", "general"])
        XCTAssertTrue(errors[0].reason.contains("belongs in the users file (users.toml)"))
        XCTAssertTrue(errors[1].reason.contains("belongs in the config file (pgproxy.toml)"))
    }

    func testUnknownKeyInUsers() {
        let errors = refusals(Self.minimalConfig, users: Self.minimalUsers + "\npasword = \"x\"\n")
        assertOne(errors, file: "users.toml", line: 4, key: "users[0].pasword", reason: "did you mean 'password'?")
    }

    // MARK: - Types and values

    func testWrongTypes() {
        let errors = refusals("""
            [general]
            port = "6432"
            server_reset_query_always = "yes"
            log_level = 3
            host = 127

            [[databases]]
            name = ["app"]
            host = "h"
            """)
        XCTAssertEqual(errors.map(\.line), [2, 3, 4, 5, 8])
        XCTAssertEqual(errors.map(\.reason), [
            "expected an integer, got a string",
            "expected a boolean (true or false), got a string",
            "expected a string, got an integer",
            "expected a string, got an integer",
            "expected a string, got an array",
        ])
        XCTAssertEqual(errors.map(\.key), [
            "general.port", "general.server_reset_query_always", "general.log_level", "general.host", "databases[0].name",
        ])
    }

    func testBadValuesInGeneral() {
        let errors = refusals("""
            [general]
            host = ""
            port = 70000
            workers = 0
            pool_mode = "statement"
            default_pool_size = 0
            max_client_connections = 0
            auth_type = "password"
            log_level = "verbose"
            """ + "\n" + Self.minimalConfig)
        XCTAssertEqual(errors.map(\.line), Array(2...9))
        XCTAssertEqual(errors.map(\.description), [
            "pgproxy.toml:2: general.host: must not be empty",
            "pgproxy.toml:3: general.port: must be between 0 and 65535, got 70000",
            "pgproxy.toml:4: general.workers: must be between 1 and 256, got 0",
            "pgproxy.toml:5: general.pool_mode: must be one of \"session\", \"transaction\", got \"statement\"",
            "pgproxy.toml:6: general.default_pool_size: must be at least 1, got 0",
            "pgproxy.toml:7: general.max_client_connections: must be at least 1, got 0",
            "pgproxy.toml:8: general.auth_type: must be one of \"scram-sha-256\", \"md5\", \"plain\", \"trust\", got \"password\"",
            "pgproxy.toml:9: general.log_level: must be one of \"trace\", \"debug\", \"info\", \"notice\", \"warning\", "
                + "\"error\", \"critical\", got \"verbose\"",
        ])
    }

    func testPortZeroOnlyForListening() throws {
        XCTAssertEqual(try load("[general]\nport = 0\n" + Self.minimalConfig).general.port, 0)
        let errors = refusals("[general]\nport = -1\n" + Self.minimalConfig + "\nport = 0\n")
        XCTAssertEqual(errors.map(\.description), [
            "pgproxy.toml:2: general.port: must be between 0 and 65535, got -1",
            "pgproxy.toml:6: databases[0].port: must be between 1 and 65535, got 0",
        ])
    }

    func testMinPoolSizeMustFitThePoolSize() {
        let general = refusals("[general]\ndefault_pool_size = 4\nmin_pool_size = 5\n" + Self.minimalConfig)
        assertOne(general, line: 3, key: "general.min_pool_size", reason: "must not exceed default_pool_size (4)")

        let database = refusals(Self.minimalConfig + "\npool_size = 2\nmin_pool_size = 3\n")
        assertOne(database, line: 5, key: "databases[0].min_pool_size", reason: "must not exceed the pool size (2)")

        let inherited = refusals("[general]\nmin_pool_size = 3\n" + Self.minimalConfig + "\npool_size = 2\n")
        assertOne(inherited, line: 6, key: "databases[0].pool_size", reason: "must not be below min_pool_size (3)")

        let user = refusals(Self.minimalConfig + "\npool_size = 5\n", users: Self.minimalUsers + "\nmin_pool_size = 6\n")
        assertOne(user, file: "users.toml", line: 4, key: "users[0].min_pool_size",
                  reason: "must not exceed the pool size (5) for database 'app'")
    }

    func testDatabaseEntryValues() {
        let errors = refusals("""
            [[databases]]
            name = ""
            host = "h"

            [[databases]]
            name = "b"
            host = " "
            port = 0
            pool_size = 0
            pool_mode = "Session"
            database_name = ""
            """)
        XCTAssertEqual(errors.map(\.key), [
            "databases[0].name", "databases[1].host", "databases[1].port",
            "databases[1].pool_size", "databases[1].pool_mode", "databases[1].database_name",
        ])
        XCTAssertEqual(errors.map(\.line), [2, 7, 8, 9, 10, 11])
        XCTAssertEqual(errors[0].reason, "must not be empty")
        XCTAssertEqual(errors[2].reason, "must be between 1 and 65535, got 0")
    }

    func testMissingRequiredKeysPointAtTheEntry() {
        let errors = refusals("[general]\nport = 1\n\n[[databases]]\nport = 5432\n", users: "[[users]]\npassword = \"x\"\n")
        XCTAssertEqual(errors.map(\.description), [
            "pgproxy.toml:4: databases[0].name: is required",
            "pgproxy.toml:4: databases[0].host: is required",
            "users.toml:1: users[0].name: is required",
        ])
    }

    // MARK: - Entries that conflict

    func testNoDatabasesAtAll() {
        assertOne(refusals("[general]\nport = 6432\n"), line: nil, key: "databases", reason: "at least one [[databases]] entry is required")
        assertOne(refusals("databases = []\n"), line: 1, key: "databases", reason: "at least one [[databases]] entry is required")
    }

    func testSingleTableInsteadOfArrayOfTables() {
        let errors = refusals("[databases]\nname = \"app\"\nhost = \"h\"\n")
        assertOne(errors, line: 1, key: "databases", reason: "expected an array of tables ([[databases]]), got a table")
    }

    func testDuplicateUserForTheSameDatabase() {
        let users = """
            [[users]]
            name = "alice"
            password = "a"

            [[users]]
            name = "alice"
            password = "b"
            database = "app"

            [[users]]
            name = "alice"
            password = "c"
            database = "app"
            """
        let errors = refusals(Self.minimalConfig, users: users)
        assertOne(errors, file: "users.toml", line: 11, key: "users[2].name",
                  reason: "user 'alice' for database 'app' is already defined at line 6")
    }

    func testUserOfAnUnconfiguredDatabase() {
        let errors = refusals(Self.minimalConfig, users: Self.minimalUsers + "\ndatabase = \"ap\"\n")
        assertOne(errors, file: "users.toml", line: 4, key: "users[0].database",
                  reason: "database 'ap' is not configured in [[databases]]; did you mean 'app'?")
    }

    func testPasswordChecks() {
        let missing = refusals(Self.minimalConfig, users: "[[users]]\nname = \"bob\"\n")
        assertOne(missing, file: "users.toml", line: 1, key: "users[0].password",
                  reason: "is required when auth_type is \"scram-sha-256\"")
        XCTAssertNoThrow(try load("[general]\nauth_type = \"trust\"\n" + Self.minimalConfig, users: "[[users]]\nname = \"bob\"\n"))

        let malformed = refusals(Self.minimalConfig, users: "[[users]]\nname = \"bob\"\npassword = \"SCRAM-SHA-256$4096:abc\"\n")
        assertOne(malformed, file: "users.toml", line: 3, key: "users[0].password", reason: "malformed")

        let secret = "SCRAM-SHA-256$4096:oFGzege9wuOnBvZwQdENfA==$UOtI4OgXlHIXX58j+YccE7K8flHy9GvivAvpNK3COIc="
            + ":xU1CCujPrl+qwYXnK0vLmmuHIeDt5IqdMeMECgqnm+M="
        let scramUsers = "[[users]]\nname = \"bob\"\npassword = \"\(secret)\"\n"
        XCTAssertEqual(try load(Self.minimalConfig, users: scramUsers).users.first?.password, secret)
        // md5 logins against a SCRAM secret are upgraded to SCRAM by the login code, as in PostgreSQL.
        XCTAssertNoThrow(try load("[general]\nauth_type = \"md5\"\n" + Self.minimalConfig, users: scramUsers))
    }

    // MARK: - Features not built yet
}
