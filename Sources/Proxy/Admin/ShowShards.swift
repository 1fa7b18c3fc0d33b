import NIOCore

/// SHOW SHARDS: every shard of every database, with its hosts, their roles and health, the
/// host that takes its writes now, and the database's sharded tables.
enum ShowShards: AdminCommand {
    static let words = ["SHOW", "SHARDS"]
    static let usage = "SHOW SHARDS"

    static let columns: [AdminColumn] = [
        AdminColumn("database"), AdminColumn("shard", .int4), AdminColumn("hosts"), AdminColumn("roles"),
        AdminColumn("health"), AdminColumn("primary"), AdminColumn("sharded_tables"), AdminColumn("omnisharded_tables"),
    ]

    static func run(_ arguments: [String], in context: AdminContext) -> EventLoopFuture<AdminReply> {
        let runtime = context.runtime
        let config = runtime.config
        let now = NIODeadline.now().uptimeNanoseconds
        var rows: [[String?]] = []
        var names: [String] = []
        for database in config.databases where !names.contains(database.name) { names.append(database.name) }
        for name in names.sorted() {
            guard let topology = runtime.topology(of: name) else { continue }
            let sharded = config.shardedTables.filter { $0.database == name }
                .map { "\($0.table)(\($0.column) \($0.dataType.rawValue))" }.joined(separator: ", ")
            let omnisharded = config.omnishardedTables.filter { $0.database == name }.map(\.table).joined(separator: ", ")
            for shard in 0..<topology.shardCount {
                let hosts = topology.backends.indices.filter { topology.shards[$0] == shard }.map { topology.backends[$0] }
                let primary = topology.primary(shard: shard)
                rows.append([
                    name, String(shard),
                    hosts.map { $0.address.description }.joined(separator: ", "),
                    hosts.map { ShowBackends.role(of: $0) }.joined(separator: ", "),
                    hosts.map { ShowBackends.state(of: $0, entry: runtime.backendStatus.entry(database: name, address: $0.address), now: now) }
                        .joined(separator: ", "),
                    primary?.address.description ?? "none",
                    sharded.isEmpty ? nil : sharded, omnisharded.isEmpty ? nil : omnisharded,
                ])
            }
        }
        return context.reply(.rows(columns: columns, rows: rows))
    }
}
