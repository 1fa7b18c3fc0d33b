import Foundation
import TOMLKit

/// Turns `pgproxy.toml` and `users.toml` into one validated ``ProxyConfig``, or throws
/// ``ConfigErrors`` naming every problem in both files with its file, line and key.
///
/// The loader reads both files to the end whatever it finds, because an operator fixing a config
/// one error per restart is the failure this type exists to prevent.
public enum ConfigLoader {
    /// Reads both files; a missing or unreadable file is an error naming it.
    public static func load(configPath: String, usersPath: String) throws -> ProxyConfig {
        let log = ErrorLog()
        let configText = read(configPath, log: log)
        let usersText = read(usersPath, log: log)
        return try assemble(configText: configText, configPath: configPath, usersText: usersText, usersPath: usersPath, log: log)
    }

    /// Builds the snapshot from texts already in memory; the paths only label errors and the result.
    public static func parse(configText: String, configPath: String, usersText: String, usersPath: String) throws -> ProxyConfig {
        try assemble(configText: configText, configPath: configPath, usersText: usersText, usersPath: usersPath, log: ErrorLog())
    }

    // MARK: - Files

    private static func read(_ path: String, log: ErrorLog) -> String? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            log.add(file: path, line: nil, key: "", reason: "cannot read the file: it does not exist")
            return nil
        }
        guard !isDirectory.boolValue else {
            log.add(file: path, line: nil, key: "", reason: "cannot read the file: it is a directory")
            return nil
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            log.add(file: path, line: nil, key: "", reason: "cannot read the file: check its permissions")
            return nil
        }
        guard let text = String(data: data, encoding: .utf8) else {
            log.add(file: path, line: nil, key: "", reason: "cannot read the file: it is not UTF-8 text")
            return nil
        }
        return text
    }

    /// The parsed document, or nil after logging the syntax error with TOMLKit's line.
    private static func parseTOML(_ text: String, file: String, log: ErrorLog) -> TOMLTable? {
        do {
            return try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            log.add(file: file, line: error.source.begin.line, key: "", reason: "invalid TOML: \(error.description)")
        } catch {
            log.add(file: file, line: nil, key: "", reason: "invalid TOML: \(error)")
        }
        return nil
    }

    // MARK: - Both files

    /// Sections each file may hold; the other file's are named in errors to catch mix-ups.
    private static let configSections = ["general", "databases", "admin", "prometheus", "plugins", "tls", "sharded_tables", "omnisharded_tables"]
    private static let usersSections = ["users"]

    /// A nil text stands for a file that could not be read and whose error is logged already;
    /// checks that need it are skipped so they do not add errors that are only echoes of that one.
    private static func assemble(
        configText: String?,
        configPath: String,
        usersText: String?,
        usersPath: String,
        log: ErrorLog
    ) throws -> ProxyConfig {
        let configSource = SourceMap(text: configText ?? "")
        let usersSource = SourceMap(text: usersText ?? "")
        let configTable = configText.flatMap { parseTOML($0, file: configPath, log: log) }
        let usersTable = usersText.flatMap { parseTOML($0, file: usersPath, log: log) }

        var general: GeneralConfig?
        var databases: [DatabaseConfig]?
        var admin: AdminConfig?
        var prometheus: PrometheusConfig?
        var plugins: [PluginConfig] = []
        var tls: TLSConfig?
        var sharding: (sharded: [ShardedTableConfig], omnisharded: [OmnishardedTableConfig]) = ([], [])
        if let configTable {
            (general, databases, admin, prometheus, plugins) = readConfigFile(configTable, file: configPath, usersFile: usersPath, source: configSource, log: log)
            tls = configTable["tls"].flatMap { readTLS($0, file: configPath, source: configSource, log: log) }
            sharding = readShardingTables(configTable, databases: databases ?? [], file: configPath, source: configSource, log: log)
        }
        var users: [UserConfig] = []
        if let usersTable {
            let authTypeKnown = general != nil && !log.hasError(file: configPath, key: "general.auth_type")
            users = readUsersFile(
                usersTable,
                general: general,
                authType: authTypeKnown ? general?.authType : nil,
                databases: databases,
                file: usersPath,
                configFile: configPath,
                source: usersSource,
                log: log
            )
        }

        for (key, name) in [("healthcheck_user", general?.healthcheckUser), ("auth_user", general?.authUser)] {
            if let name, usersTable != nil, !users.contains(where: { $0.name == name }) {
                log.add(file: configPath, line: configSource.line(section: "general", key: key), key: "general.\(key)",
                        reason: "no user '\(name)' in \(usersPath)")
            }
        }
        let hostRules = general?.hbaFile.flatMap { readHostRules($0, configPath: configPath, source: configSource, log: log) }
        var config = ProxyConfig(
            general: general ?? GeneralConfig(),
            databases: databases ?? [],
            users: users,
            admin: admin,
            prometheus: prometheus,
            plugins: plugins,
            tls: tls,
            configPath: configPath,
            usersPath: usersPath
        )
        config.hostRules = hostRules
        config.shardedTables = sharding.sharded
        config.omnishardedTables = sharding.omnisharded
        checkShardedDatabases(config, file: configPath, usersFile: usersPath, source: configSource, log: log)
        let errors = log.sorted(fileOrder: [configPath, usersPath, general?.hbaFile ?? ""])
        guard errors.isEmpty else { throw ConfigErrors(errors: errors) }
        return config
    }

    /// The hba_file's rules; a line it cannot take is reported with the file's own name and line.
    private static func readHostRules(_ path: String, configPath: String, source: SourceMap, log: ErrorLog) -> HostRules? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            log.add(file: configPath, line: source.line(section: "general", key: "hba_file"), key: "general.hba_file",
                    reason: "cannot read \(path)")
            return nil
        }
        do {
            return try HostRules.parse(text, file: path)
        } catch let error as HostRules.ParseError {
            log.add(file: path, line: error.line, key: "", reason: error.reason)
        } catch {
            log.add(file: path, line: nil, key: "", reason: "\(error)")
        }
        return nil
    }

    // MARK: - pgproxy.toml

    private static func readConfigFile(
        _ table: TOMLTable,
        file: String,
        usersFile: String,
        source: SourceMap,
        log: ErrorLog
    ) -> (GeneralConfig, [DatabaseConfig], AdminConfig?, PrometheusConfig?, [PluginConfig]) {
        for key in table.keys.sorted() where !configSections.contains(key) {
            let value = table[key]!
            let line = source.line(section: key)
            if let entry = notBuiltYet(.configSection, key) {
                let shown = value.type == .array ? "[[\(key)]]" : "[\(key)]"
                log.add(file: file, line: line, key: key, reason: "\(shown) (\(entry.feature)) \(notSupportedYet)")
            } else if usersSections.contains(key) {
                log.add(file: file, line: line, key: key, reason: "[[\(key)]] belongs in the users file (\(usersFile))")
            } else if value.type == .table || value.type == .array {
                log.add(file: file, line: line, key: key, reason: unknownSection(key, among: configSections))
            } else if generalKeys.contains(key) {
                log.add(file: file, line: line, key: key,
                        reason: "unknown key '\(key)' at the top level; it belongs in [general]")
            } else if let guess = closest(to: key, among: generalKeys) {
                log.add(file: file, line: line, key: key,
                        reason: "unknown key '\(key)' at the top level; did you mean '\(guess)' in [general]?")
            } else {
                log.add(file: file, line: line, key: key, reason: "unknown key '\(key)' at the top level")
            }
        }

        var general = GeneralConfig()
        if let value = table["general"] {
            if let section = value.table {
                let reader = SectionReader(table: section, file: file, section: "general", index: nil, source: source, log: log)
                general = readGeneral(reader)
            } else {
                log.add(file: file, line: source.line(section: "general"), key: "general",
                        reason: "expected a table ([general]), got \(SectionReader.describe(value.type))")
            }
        }

        let admin = table["admin"].flatMap { readAdmin($0, general: general, file: file, source: source, log: log) }
        let prometheus = table["prometheus"].flatMap { readPrometheus($0, general: general, file: file, source: source, log: log) }
        let plugins = table["plugins"].map { readPlugins($0, file: file, source: source, log: log) } ?? []
        guard let value = table["databases"], value.array.map({ !$0.isEmpty }) ?? true else {
            log.add(file: file, line: source.line(section: nil, key: "databases"), key: "databases",
                    reason: "at least one [[databases]] entry is required: pgproxy has nothing to serve without one")
            return (general, [], admin, prometheus, plugins)
        }
        let databases = readDatabases(value, general: general, file: file, source: source, log: log)
        checkReservedDatabaseNames(databases, file: file, source: source, log: log)
        return (general, databases, admin, prometheus, plugins)
    }

    // MARK: - users.toml

    private static func readUsersFile(
        _ table: TOMLTable,
        general: GeneralConfig?,
        authType: ClientAuthType?,
        databases: [DatabaseConfig]?,
        file: String,
        configFile: String,
        source: SourceMap,
        log: ErrorLog
    ) -> [UserConfig] {
        for key in table.keys.sorted() where !usersSections.contains(key) {
            let value = table[key]!
            let line = source.line(section: key)
            if configSections.contains(key) || notBuiltYet(.configSection, key) != nil {
                let shown = value.type == .array ? "[[\(key)]]" : "[\(key)]"
                log.add(file: file, line: line, key: key, reason: "\(shown) belongs in the config file (\(configFile))")
            } else if value.type == .table || value.type == .array {
                log.add(file: file, line: line, key: key, reason: unknownSection(key, among: usersSections))
            } else if userKeys.contains(key) {
                log.add(file: file, line: line, key: key,
                        reason: "unknown key '\(key)' at the top level; it belongs in a [[users]] entry")
            } else {
                log.add(file: file, line: line, key: key, reason: "unknown key '\(key)' at the top level")
            }
        }
        guard let value = table["users"] else { return [] }
        return readUsers(value, general: general, authType: authType, databases: databases, file: file, source: source, log: log)
    }

    private static func unknownSection(_ key: String, among known: [String]) -> String {
        guard let guess = closest(to: key, among: known) else {
            return "unknown section '\(key)'; expected " + known.map { "'\($0)'" }.joined(separator: " or ")
        }
        return "unknown section '\(key)'; did you mean '\(guess)'?"
    }
}
