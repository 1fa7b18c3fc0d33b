import TOMLKit

extension ConfigLoader {
    static let shardedTableKeys = ["database", "table", "column", "data_type"]
    static let omnishardedTableKeys = ["database", "table"]

    /// `[[sharded_tables]]` and `[[omnisharded_tables]]`; entries with problems are logged and left out.
    static func readShardingTables(
        _ table: TOMLTable, databases: [DatabaseConfig], file: String, source: SourceMap, log: ErrorLog
    ) -> (sharded: [ShardedTableConfig], omnisharded: [OmnishardedTableConfig]) {
        var sharded: [ShardedTableConfig] = []
        var omnisharded: [OmnishardedTableConfig] = []
        for reader in entries(table, "sharded_tables", file: file, source: source, log: log) {
            reader.refuseUnknownKeys(known: shardedTableKeys, place: .otherSection, elsewhere: ["type": "[[sharded_tables]] (here it is data_type)"])
            let database = reader.require(reader.string("database", nonEmpty: true), "database")
            let name = reader.require(reader.string("table", nonEmpty: true), "table")
            let column = reader.require(reader.string("column", nonEmpty: true), "column")
            let type = reader.require(readKeyType(reader), "data_type")
            guard let database, let name, let column, let type, checkDatabase(database, reader, databases) else { continue }
            if sharded.contains(where: { $0.database == database && $0.table == name }) {
                reader.fail("table", "table '\(name)' of database '\(database)' is listed twice in [[sharded_tables]]")
                continue
            }
            sharded.append(ShardedTableConfig(database: database, table: name, column: column, dataType: type))
        }
        for reader in entries(table, "omnisharded_tables", file: file, source: source, log: log) {
            reader.refuseUnknownKeys(known: omnishardedTableKeys, place: .otherSection)
            let database = reader.require(reader.string("database", nonEmpty: true), "database")
            let name = reader.require(reader.string("table", nonEmpty: true), "table")
            guard let database, let name, checkDatabase(database, reader, databases) else { continue }
            if sharded.contains(where: { $0.database == database && $0.table == name }) {
                reader.fail("table", "table '\(name)' of database '\(database)' is already in [[sharded_tables]]; a table is either split by a key or copied to every shard")
                continue
            }
            omnisharded.append(OmnishardedTableConfig(database: database, table: name))
        }
        return (sharded, omnisharded)
    }

    private static func entries(_ table: TOMLTable, _ section: String, file: String, source: SourceMap, log: ErrorLog) -> [SectionReader] {
        guard let value = table[section] else { return [] }
        guard let array = value.array else {
            log.add(file: file, line: source.line(section: section), key: section,
                    reason: "expected an array of tables ([[\(section)]]), got \(SectionReader.describe(value.type))")
            return []
        }
        var readers: [SectionReader] = []
        for index in 0..<array.count {
            guard let entry = array[index].table else {
                log.add(file: file, line: source.line(section: section, index: index), key: "\(section)[\(index)]",
                        reason: "expected a table ([[\(section)]]), got \(SectionReader.describe(array[index].type))")
                continue
            }
            readers.append(SectionReader(table: entry, file: file, section: section, index: index, source: source, log: log))
        }
        return readers
    }

    private static func readKeyType(_ reader: SectionReader) -> ShardKeyType? {
        guard let text = reader.string("data_type", nonEmpty: true) else { return nil }
        let name = text.lowercased()
        if let type = ShardKeyType(rawValue: name) ?? ShardKeyType.aliases[name] { return type }
        reader.fail("data_type", "unknown data_type '\(text)'; expected one of " + ShardKeyType.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", "))
        return nil
    }

    private static func checkDatabase(_ name: String, _ reader: SectionReader, _ databases: [DatabaseConfig]) -> Bool {
        guard databases.contains(where: { $0.name == name }) else {
            let known = Set(databases.map(\.name)).sorted().map { "'\($0)'" }.joined(separator: ", ")
            reader.fail("database", "no [[databases]] entry is named '\(name)' (configured: \(known))")
            return false
        }
        return true
    }

    /// A database split into shards pools in transaction mode (a session would be stuck on the
    /// shard of its first statement), and sharded tables need a plugin that reads their keys.
    static func checkShardedDatabases(_ config: ProxyConfig, file: String, usersFile: String, source: SourceMap, log: ErrorLog) {
        if !config.shardedTables.isEmpty, config.plugins.isEmpty {
            log.add(file: file, line: source.line(section: "sharded_tables", index: 0), key: "sharded_tables",
                    reason: "sharding keys are read by a routing plugin, and no [[plugins]] entry is configured: add [[plugins]] name = \"hash_sharder\"")
        }
        let sharded = Set(config.databases.filter { $0.shard > 0 }.map(\.name))
        for name in sharded.sorted() {
            let index = config.databases.firstIndex { $0.name == name } ?? 0
            let reason = "database '\(name)' has several shards and needs pool_mode = \"transaction\": a session would stay on the shard of its first statement"
            if config.databases[index].poolMode == .session {
                log.add(file: file, line: source.line(section: "databases", index: index, key: "pool_mode"), key: "databases[\(index)].pool_mode", reason: reason)
            } else if config.databases[index].poolMode == nil, config.general.poolMode == .session {
                log.add(file: file, line: source.line(section: "general", key: "pool_mode"), key: "general.pool_mode",
                        reason: reason + " (set it there, or pool_mode = \"transaction\" in its [[databases]] entries)")
            }
            for user in config.users where (user.database == nil || user.database == name) && user.poolMode == .session {
                log.add(file: usersFile, line: nil, key: "users.\(user.name).pool_mode",
                        reason: "user '\(user.name)' of database '\(name)', which has several shards, needs pool_mode = \"transaction\"")
            }
        }
    }
}
