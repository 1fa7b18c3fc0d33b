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
        let now = NIODeadline.now().uptimeNanoseconds
        let wall = Date().timeIntervalSince1970
        let rows: [[String?]] = runtime.allBackends.sorted { ($0.database, $0.id.load(ordering: .relaxed)) < ($1.database, $1.id.load(ordering: .relaxed)) }.map { backend in
            let database = backend.config
            let address = backend.address
            let entry = runtime.backendStatus.entry(database: database.name, address: address)
            let open = pools.filter { $0.backend === backend }.reduce(0) { $0 + $1.openConnectionCount }
            let banned = backend.bannedUntilUptime(now: now)
            let state = Self.state(of: backend, entry: entry, now: now)
            let shownRole = Self.role(of: backend)
            let bannedUntil = banned.map { until -> String in
                let seconds = wall + Double(until - now) / 1e9
                return AdminFormat.timestamp(unixSeconds: seconds)
            }
            func milliseconds(_ seconds: Double?) -> String? { seconds.map { String(format: "%.3f", $0 * 1000) } }
            return [
                database.name, database.host, String(database.port), shownRole, String(database.shard), String(database.weight), state, bannedUntil,
                String(open), String(entry?.connects ?? 0), String(entry?.connectFailures ?? 0),
                milliseconds(entry?.lastConnectSeconds), milliseconds(entry?.averageConnectSeconds), entry?.lastError,
            ]
        }
        return context.reply(.rows(columns: columns, rows: rows))
    }

    /// up, down, banned or unknown (no connection tried yet).
    static func state(of backend: Backend, entry: BackendStatus.Entry?, now: UInt64) -> String {
        if backend.bannedUntilUptime(now: now) != nil { return "banned" }
        if !backend.healthy { return "down" }
        switch entry?.healthy {
        case false?: return "down"
        case true?: return "up"
        case nil: return backend.detectedRole == nil ? "unknown" : "up"
        }
    }

    /// The role the host plays, with "(auto)" when pgproxy detects it.
    static func role(of backend: Backend) -> String {
        let role = backend.role?.rawValue ?? "unknown"
        return backend.configuredRole == .auto ? "\(role) (auto)" : role
    }
}
