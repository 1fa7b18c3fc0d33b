import Foundation
import TOMLKit

extension ConfigLoader {
    /// Keys of a `[[users]]` entry that this version reads.
    static let userKeys = [
        "name", "password", "database", "pool_size", "pool_mode", "min_pool_size",
        "max_client_connections", "server_user", "server_password",
    ]

    /// The `[[users]]` entries that have a valid name and are not duplicates.
    ///
    /// - Parameters:
    ///   - general: `[general]`, or nil when the config file could not be read: then checks that
    ///     depend on it are skipped rather than made against defaults the file may not have.
    ///   - authType: nil likewise, and also when `auth_type` itself was refused.
    ///   - databases: the configured databases, nil when the config file could not be read.
    static func readUsers(
        _ value: any TOMLValueConvertible,
        general: GeneralConfig?,
        authType: ClientAuthType?,
        databases: [DatabaseConfig]?,
        file: String,
        source: SourceMap,
        log: ErrorLog
    ) -> [UserConfig] {
        guard let array = value.array else {
            let line = source.line(section: "users") ?? source.line(section: nil, key: "users")
            log.add(file: file, line: line, key: "users",
                    reason: "expected an array of tables ([[users]]), got \(SectionReader.describe(value.type))")
            return []
        }
        var users: [UserConfig] = []
        var firstLine: [[String?]: Int?] = [:]  // by [name, database]
        for index in 0..<array.count {
            let element = array[index]
            guard let table = element.table else {
                log.add(file: file, line: source.line(section: "users", index: index), key: "users[\(index)]",
                        reason: "expected a table ([[users]]), got \(SectionReader.describe(element.type))")
                continue
            }
            let reader = SectionReader(table: table, file: file, section: "users", index: index, source: source, log: log)
            guard let user = readUser(reader, general: general, authType: authType, databases: databases) else { continue }

            let pair = [user.name, user.database]
            if let earlier = firstLine[pair] {
                let scope = user.database.map { "for database '\($0)'" } ?? "for every database"
                let at = earlier.map { " at line \($0)" } ?? ""
                reader.fail("name", "user '\(user.name)' \(scope) is already defined\(at)")
                continue
            }
            firstLine[pair] = source.line(section: "users", index: index, key: "name")
            users.append(user)
        }
        return users
    }

    /// One entry, or nil when it has no usable name.
    private static func readUser(
        _ reader: SectionReader,
        general: GeneralConfig?,
        authType: ClientAuthType?,
        databases: [DatabaseConfig]?
    ) -> UserConfig? {
        reader.refuseUnknownKeys(known: userKeys, place: .user, elsewhere: [
            "database_name": "[[databases]] in the config file",
            "host": "[[databases]] in the config file",
            "default_pool_size": "[general] in the config file",
        ])
        let name = reader.require(reader.string("name", nonEmpty: true), "name")
        let password = reader.string("password", nonEmpty: true)
        let database = reader.string("database", nonEmpty: true)
        let poolSize = reader.int("pool_size", atLeast: 1)
        let poolMode = reader.choice("pool_mode", PoolMode.self)
        let minPoolSize = reader.int("min_pool_size", atLeast: 0)
        let maxClientConnections = reader.int("max_client_connections", atLeast: 1)
        let serverUser = reader.string("server_user", nonEmpty: true)
        let serverPassword = reader.string("server_password", nonEmpty: true)

        if let authType { checkPassword(password, reader, authType: authType) }
        if let database, let databases, !databases.contains(where: { $0.name == database }) {
            var reason = "database '\(database)' is not configured in [[databases]]"
            if let guess = closest(to: database, among: databases.map(\.name)) { reason += "; did you mean '\(guess)'?" }
            reader.fail("database", reason)
        }

        guard let name else { return nil }
        let user = UserConfig(
            name: name,
            password: password,
            database: database,
            poolSize: poolSize,
            poolMode: poolMode,
            minPoolSize: minPoolSize,
            maxClientConnections: maxClientConnections,
            serverUser: serverUser,
            serverPassword: serverPassword
        )
        if let general, let databases { checkPoolSizes(user, reader, general: general, databases: databases) }
        return user
    }

    /// The user's min_pool_size must fit in every pool the user gets, whichever level set each side.
    private static func checkPoolSizes(_ user: UserConfig, _ reader: SectionReader, general: GeneralConfig, databases: [DatabaseConfig]) {
        guard user.minPoolSize != nil || user.poolSize != nil,
              !reader.failed("pool_size"), !reader.failed("min_pool_size") else { return }
        let reachable = databases.filter { user.database == nil || $0.name == user.database }
        for database in reachable {
            let minimum = user.minPoolSize ?? database.minPoolSize ?? general.minPoolSize
            let size = user.poolSize ?? database.poolSize ?? general.defaultPoolSize
            guard minimum > size else { continue }
            if user.minPoolSize != nil {
                reader.fail("min_pool_size", "must not exceed the pool size (\(size)) for database '\(database.name)', got \(minimum)")
            } else {
                reader.fail("pool_size", "must not be below min_pool_size (\(minimum)) for database '\(database.name)', got \(size)")
            }
            return
        }
    }

    /// A password that cannot work with `auth_type` would only show up as failed logins later.
    private static func checkPassword(_ password: String?, _ reader: SectionReader, authType: ClientAuthType) {
        guard let password else {
            if authType != .trust, !reader.failed("password") {
                reader.fail("password", "is required when auth_type is \"\(authType.rawValue)\"")
            }
            return
        }
        // A SCRAM secret works with every auth_type (md5 logins are upgraded to SCRAM, as PostgreSQL
        // does), so only its shape is checked here.
        if password.hasPrefix("SCRAM-SHA-256$"), !isWellFormedSCRAMSecret(password) {
            reader.fail("password", "looks like a stored SCRAM secret but is malformed; expected "
                + "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey> as in pg_authid.rolpassword")
        }
    }

    /// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, the form PostgreSQL stores.
    private static func isWellFormedSCRAMSecret(_ secret: String) -> Bool {
        let parts = secret.dropFirst("SCRAM-SHA-256$".count).split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return false }
        let saltPart = parts[0].split(separator: ":", omittingEmptySubsequences: false)
        let keyPart = parts[1].split(separator: ":", omittingEmptySubsequences: false)
        guard saltPart.count == 2, keyPart.count == 2,
              let iterations = Int(saltPart[0]), iterations > 0,
              let salt = Data(base64Encoded: String(saltPart[1])), !salt.isEmpty,
              Data(base64Encoded: String(keyPart[0]))?.count == 32,
              Data(base64Encoded: String(keyPart[1]))?.count == 32
        else { return false }
        return true
    }
}
