import NIOCore

/// SHOW POOLS: one row per (database, user) pool with its clients and servers by state.
enum ShowPools: AdminCommand {
    static let words = ["SHOW", "POOLS"]
    static let usage = "SHOW POOLS"

    static let columns: [AdminColumn] = [
        AdminColumn("database"), AdminColumn("user"),
        AdminColumn("cl_active", .int4), AdminColumn("cl_waiting", .int4),
        AdminColumn("cl_active_cancel_req", .int4), AdminColumn("cl_waiting_cancel_req", .int4),
        AdminColumn("sv_active", .int4), AdminColumn("sv_active_cancel", .int4), AdminColumn("sv_being_canceled", .int4),
        AdminColumn("sv_idle", .int4), AdminColumn("sv_used", .int4), AdminColumn("sv_tested", .int4),
        AdminColumn("sv_login", .int4), AdminColumn("maxwait", .int4), AdminColumn("maxwait_us", .int4),
        AdminColumn("pool_mode"),
    ]

    static func run(_ arguments: [String], in context: AdminContext) -> EventLoopFuture<AdminReply> {
        context.runtime.poolReports(on: context.loop).map { reports in
            let rows: [[String?]] = reports.map { report in
                let figures = report.figures
                let (maxWait, maxWaitMicros) = AdminFormat.wait(since: figures.oldestWait)
                return [
                    report.key.database, report.key.user,
                    String(figures.clientsActive), String(figures.clientsWaiting), "0", "0",
                    String(figures.serversActive), "0", "0",
                    String(figures.serversIdle), "0", String(figures.serversTested), String(figures.serversLogin),
                    maxWait, maxWaitMicros, report.settings.mode.rawValue,
                ]
            }
            return .rows(columns: columns, rows: rows)
        }
    }
}
