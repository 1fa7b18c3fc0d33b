import NIOCore

/// SHOW DATABASES: every configured database with its pool settings and state.
enum ShowDatabases: AdminCommand {
    static let words = ["SHOW", "DATABASES"]
    static let usage = "SHOW DATABASES"

    static let columns: [AdminColumn] = [
        AdminColumn("name"), AdminColumn("host"), AdminColumn("port", .int4), AdminColumn("database"),
        AdminColumn("force_user"), AdminColumn("pool_size", .int4), AdminColumn("min_pool_size", .int4),
        AdminColumn("reserve_pool", .int4), AdminColumn("pool_mode"), AdminColumn("max_connections", .int4),
        AdminColumn("current_connections", .int4), AdminColumn("paused", .int4), AdminColumn("disabled", .int4),
    ]

    static func run(_ arguments: [String], in context: AdminContext) -> EventLoopFuture<AdminReply> {
        let runtime = context.runtime
        let config = runtime.config
        let pools = runtime.allPools
        let paused = runtime.pausedDatabases.withLock { $0 }
        let disabled = runtime.disabledDatabases.withLock { $0 }
        let rows: [[String?]] = config.databases.sorted { $0.name < $1.name }.map { database in
            let open = pools.filter { $0.key.database == database.name }.reduce(0) { $0 + $1.openConnectionCount }
            return [
                database.name, database.host, String(database.port), database.databaseName, nil,
                String(database.poolSize ?? config.general.defaultPoolSize),
                String(database.minPoolSize ?? config.general.minPoolSize), "0",
                database.poolMode?.rawValue, "0", String(open),
                paused.contains(database.name) ? "1" : "0", disabled.contains(database.name) ? "1" : "0",
            ]
        }
        return context.reply(.rows(columns: columns, rows: rows))
    }
}

/// SHOW USERS: every user of users.toml with its pool mode, if it sets one.
enum ShowUsers: AdminCommand {
    static let words = ["SHOW", "USERS"]
    static let usage = "SHOW USERS"

    static func run(_ arguments: [String], in context: AdminContext) -> EventLoopFuture<AdminReply> {
        var seen = Set<String>()
        let users = context.runtime.config.users.sorted { $0.name < $1.name }.filter { seen.insert($0.name).inserted }
        return context.reply(.rows(columns: [AdminColumn("name"), AdminColumn("pool_mode")],
                                   rows: users.map { [$0.name, $0.poolMode?.rawValue] }))
    }
}

/// SHOW LISTS: how many of each kind of object pgproxy holds, in PgBouncer's 12 rows.
enum ShowLists: AdminCommand {
    static let words = ["SHOW", "LISTS"]
    static let usage = "SHOW LISTS"

    static func run(_ arguments: [String], in context: AdminContext) -> EventLoopFuture<AdminReply> {
        let runtime = context.runtime
        let config = runtime.config
        return runtime.poolReports(on: context.loop).map { reports in
            let clients = runtime.cancelRegistry.count
            let servers = reports.reduce(0) { $0 + $1.figures.serversActive + $1.figures.serversIdle + $1.figures.serversTested }
            let logins = runtime.clientsLoggingIn.load(ordering: .relaxed)
            let items: [(String, Int)] = [
                ("databases", config.databases.count), ("users", Set(config.users.map(\.name)).count),
                ("pools", reports.count), ("free_clients", 0), ("used_clients", clients),
                ("login_clients", max(logins, 0)), ("free_servers", 0), ("used_servers", servers),
                ("dns_names", 0), ("dns_zones", 0), ("dns_queries", 0), ("dns_pending", 0),
            ]
            return .rows(columns: [AdminColumn("list"), AdminColumn("items", .int4)],
                         rows: items.map { [$0.0, String($0.1)] })
        }
    }
}
