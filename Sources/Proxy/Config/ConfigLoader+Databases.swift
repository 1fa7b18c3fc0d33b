import TOMLKit

extension ConfigLoader {
    /// Keys of a `[[databases]]` entry that this version reads.
    static let databaseKeys = [
        "name", "host", "port", "database_name", "pool_size", "pool_mode", "min_pool_size", "role", "weight", "load_balancing", "shard",
    ]

    /// The `[[databases]]` entries that have at least a valid, unique name.
    ///
    /// Entries with other problems are still returned (their problems are logged), so users that
    /// name them are not also refused as naming an unknown database.
    static func readDatabases(
        _ value: any TOMLValueConvertible,
        general: GeneralConfig,
        file: String,
        source: SourceMap,
        log: ErrorLog
    ) -> [DatabaseConfig] {
        guard let array = value.array else {
            let line = source.line(section: "databases") ?? source.line(section: nil, key: "databases")
            log.add(file: file, line: line, key: "databases",
                    reason: "expected an array of tables ([[databases]]), got \(SectionReader.describe(value.type))")
            return []
        }
        var databases: [DatabaseConfig] = []
        var readers: [SectionReader] = []
        for index in 0..<array.count {
            let element = array[index]
            guard let table = element.table else {
                log.add(file: file, line: source.line(section: "databases", index: index), key: "databases[\(index)]",
                        reason: "expected a table ([[databases]]), got \(SectionReader.describe(element.type))")
                continue
            }
            let reader = SectionReader(table: table, file: file, section: "databases", index: index, source: source, log: log)
            guard let database = readDatabase(reader, general: general) else { continue }
            databases.append(database)
            readers.append(reader)
        }
        checkHosts(databases, readers: readers)
        return databases
    }

    /// Entries sharing a name are the hosts of one database: they must agree on how clients are
    /// pooled and balanced, and writes need exactly one place to go.
    private static func checkHosts(_ databases: [DatabaseConfig], readers: [SectionReader]) {
        var seen: [String: Int] = [:]
        for (position, database) in databases.enumerated() {
            let reader = readers[position]
            guard let first = seen[database.name] else {
                seen[database.name] = position
                continue
            }
            let firstLine = readers[first].source.line(section: "databases", index: readers[first].index ?? 0, key: "name")
            let at = firstLine.map { " (line \($0))" } ?? ""
            if databases[first..<position].contains(where: { $0.name == database.name && $0.host == database.host && $0.port == database.port }) {
                reader.fail("port", "database '\(database.name)' lists \(database.address) twice")
            }
            if database.role == .primary,
               databases[..<position].contains(where: { $0.name == database.name && $0.shard == database.shard && $0.role == .primary }) {
                let which = database.shard == 0 ? "" : " in shard \(database.shard)"
                reader.fail("role", "database '\(database.name)' already has a primary\(which); give the others role = \"replica\" or \"auto\"")
            }
            if database.poolMode != databases[first].poolMode {
                reader.fail("pool_mode", "must be the same for every host of database '\(database.name)'\(at)")
            }
            if database.loadBalancing != databases[first].loadBalancing {
                reader.fail("load_balancing", "must be the same for every host of database '\(database.name)'\(at)")
            }
        }
        for (name, first) in seen {
            let hosts = databases.filter { $0.name == name }
            let shards = Set(hosts.map(\.shard))
            for shard in shards.sorted() where !hosts.contains(where: { $0.shard == shard && $0.role != .replica }) {
                let which = shards.count > 1 ? " has no host in shard \(shard)" : " has no host"
                readers[first].fail("role", "database '\(name)'\(which) that can take writes: give one role = \"primary\" (or \"auto\" to let pgproxy find it)")
            }
            if let missing = (0..<shards.count).first(where: { !shards.contains($0) }) {
                readers[first].fail("shard", "the shards of database '\(name)' must be numbered 0, 1, 2 ... without gaps; shard \(missing) has no host (found \(shards.sorted().map(String.init).joined(separator: ", ")))")
            }
        }
    }

    /// One entry, or nil when it has no usable name.
    private static func readDatabase(_ reader: SectionReader, general: GeneralConfig) -> DatabaseConfig? {
        reader.refuseUnknownKeys(known: databaseKeys, place: .database, elsewhere: [
            "default_pool_size": "[general] (here it is pool_size)",
            "database": "[[users]] (here the server's name for it is database_name)",
            "password": "[[users]] in the users file",
            "server_user": "[[users]] in the users file",
        ])
        let name = reader.require(reader.string("name", nonEmpty: true), "name")
        let host = reader.require(reader.string("host", nonEmpty: true), "host")
        let port = reader.int("port", atLeast: 1, atMost: 65535)
        let databaseName = reader.string("database_name", nonEmpty: true)
        let poolSize = reader.int("pool_size", atLeast: 1)
        let poolMode = reader.choice("pool_mode", PoolMode.self)
        let minPoolSize = reader.int("min_pool_size", atLeast: 0)
        let role = reader.choice("role", BackendRole.self)
        let weight = reader.int("weight", atLeast: 0, atMost: 1_000_000)
        let loadBalancing = reader.choice("load_balancing", LoadBalancing.self)
        let shard = reader.int("shard", atLeast: 0, atMost: 1023)

        let effectiveMin = minPoolSize ?? general.minPoolSize
        let effectiveSize = poolSize ?? general.defaultPoolSize
        if effectiveMin > effectiveSize, !reader.failed("pool_size"), !reader.failed("min_pool_size") {
            if minPoolSize != nil {
                reader.fail("min_pool_size", "must not exceed the pool size (\(effectiveSize)), got \(effectiveMin)")
            } else if poolSize != nil {
                reader.fail("pool_size", "must not be below min_pool_size (\(effectiveMin)) from [general], got \(effectiveSize)")
            }
        }

        guard let name else { return nil }
        return DatabaseConfig(
            name: name,
            host: host ?? "",
            port: port ?? 5432,
            databaseName: databaseName,
            poolSize: poolSize,
            poolMode: poolMode,
            minPoolSize: minPoolSize,
            role: role ?? .primary,
            weight: weight ?? 1,
            loadBalancing: loadBalancing,
            shard: shard ?? 0
        )
    }
}
