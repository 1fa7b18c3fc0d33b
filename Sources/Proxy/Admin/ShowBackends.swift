import Foundation
import NIOCore

/// SHOW BACKENDS (pgproxy's own): every configured server with its role, shard, weight and what
/// pgproxy's connection attempts say of its health.
enum ShowBackends: AdminCommand {
    static let words = ["SHOW", "BACKENDS"]
    static let usage = "SHOW BACKENDS"

    static let columns: [AdminColumn] = [
        AdminColumn("database"), AdminColumn("host"), AdminColumn("port", .int4), AdminColumn("role"),
        AdminColumn("shard", .int4), AdminColumn("weight", .int4), AdminColumn("state"), AdminColumn("banned_until"),
        AdminColumn("connections", .int4), AdminColumn("connects", .int8), AdminColumn("connect_failures", .int8),
        AdminColumn("last_connect_ms", .numeric), AdminColumn("avg_connect_ms", .numeric), AdminColumn("last_error"),
    ]

    static func run(_ arguments: [String], in context: AdminContext) -> EventLoopFuture<AdminReply> {
        let runtime = context.runtime
        let pools = runtime.allPools
        let rows: [[String?]] = runtime.config.databases.sorted { $0.name < $1.name }.map { database in
            let address = BackendAddress(host: database.host, port: database.port)
            let entry = runtime.backendStatus.entry(database: database.name, address: address)
            let open = pools.filter { $0.key.database == database.name && $0.settings.address == address }
                .reduce(0) { $0 + $1.openConnectionCount }
            let state: String
            switch entry?.healthy {
            case true?: state = "up"
            case false?: state = "down"
            case nil: state = "unknown"
            }
            func milliseconds(_ seconds: Double?) -> String? { seconds.map { String(format: "%.3f", $0 * 1000) } }
            return [
                // Role and shard are the only ones the config accepts until replicas and sharding
                // exist; weight is unset (NULL) until load balancing does.
                database.name, database.host, String(database.port), "primary", "0", nil, state, nil,
                String(open), String(entry?.connects ?? 0), String(entry?.connectFailures ?? 0),
                milliseconds(entry?.lastConnectSeconds), milliseconds(entry?.averageConnectSeconds), entry?.lastError,
            ]
        }
        return context.reply(.rows(columns: columns, rows: rows))
    }
}
