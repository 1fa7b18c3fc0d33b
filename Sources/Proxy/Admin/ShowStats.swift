import NIOCore

/// SHOW STATS: per database, totals since start and averages over the last stats_period.
enum ShowStats: AdminCommand {
    static let words = ["SHOW", "STATS"]
    static let usage = "SHOW STATS"

    static let columns: [AdminColumn] = ["database"].map { AdminColumn($0) } + [
        "total_xact_count", "total_query_count", "total_received", "total_sent",
        "total_xact_time", "total_query_time", "total_wait_time",
        "total_server_assignment_count", "total_client_parse_count", "total_server_parse_count", "total_bind_count",
        "total_prepared_evictions",
        "avg_xact_count", "avg_query_count", "avg_recv", "avg_sent",
        "avg_xact_time", "avg_query_time", "avg_wait_time",
    ].map { AdminColumn($0, .numeric) }

    static func run(_ arguments: [String], in context: AdminContext) -> EventLoopFuture<AdminReply> {
        let runtime = context.runtime
        return runtime.totalsByDatabase(on: context.loop).map { totals in
            let averages = runtime.statsPeriods.withLock { $0.averages }
            let rows: [[String?]] = totals.keys.sorted().map { database in
                let total = totals[database]!
                let statements = [total.serverAssignments, total.clientParses, total.serverParses, total.binds, total.statementEvictions]
                return [database] + totalValues(total) + statements.map { String($0) } + averageValues(averages[database] ?? PoolCounters())
            }
            return .rows(columns: columns, rows: rows)
        }
    }

    static func totalValues(_ total: PoolCounters) -> [String?] {
        [total.transactions, total.queries, total.bytesReceived, total.bytesSent,
         total.transactionMicros, total.queryMicros, total.waitMicros].map { String($0) }
    }

    static func averageValues(_ average: PoolCounters) -> [String?] {
        [average.transactions, average.queries, average.bytesReceived, average.bytesSent,
         average.transactionMicros, average.queryMicros, average.waitMicros].map { String($0) }
    }
}

/// SHOW STATS_TOTALS: the totals of SHOW STATS under short names.
enum ShowStatsTotals: AdminCommand {
    static let words = ["SHOW", "STATS_TOTALS"]
    static let usage = "SHOW STATS_TOTALS"

    static let columns: [AdminColumn] = [AdminColumn("database")] + [
        "xact_count", "query_count", "bytes_received", "bytes_sent", "xact_time", "query_time", "wait_time",
    ].map { AdminColumn($0, .numeric) }

    static func run(_ arguments: [String], in context: AdminContext) -> EventLoopFuture<AdminReply> {
        context.runtime.totalsByDatabase(on: context.loop).map { totals in
            .rows(columns: columns, rows: totals.keys.sorted().map { [$0] + ShowStats.totalValues(totals[$0]!) })
        }
    }
}

/// SHOW STATS_AVERAGES: the averages of SHOW STATS under short names.
enum ShowStatsAverages: AdminCommand {
    static let words = ["SHOW", "STATS_AVERAGES"]
    static let usage = "SHOW STATS_AVERAGES"

    static func run(_ arguments: [String], in context: AdminContext) -> EventLoopFuture<AdminReply> {
        let runtime = context.runtime
        return runtime.totalsByDatabase(on: context.loop).map { totals in
            let averages = runtime.statsPeriods.withLock { $0.averages }
            return .rows(columns: ShowStatsTotals.columns, rows: totals.keys.sorted().map {
                [$0] + ShowStats.averageValues(averages[$0] ?? PoolCounters())
            })
        }
    }
}
