import NIOCore

extension ProxyRuntime {
    /// Everything /metrics shows, gathered from the pools (each on its own loop) and the backends.
    func metricsReport(on loop: any EventLoop) -> EventLoopFuture<MetricsReport> {
        return poolReports(on: loop).and(routingFigures(on: loop)).map { [self] reports, routing in
            let pools = reports.map { report in
                let figures = report.figures
                let counters = figures.counters
                let maxWait = figures.oldestWait.map { Double((NIODeadline.now() - $0).nanoseconds) / 1e9 } ?? 0
                return MetricsReport.PoolFigures(
                    database: report.key.database, user: report.key.user, mode: report.settings.mode.rawValue,
                    clientsActive: figures.clientsActive, clientsWaiting: figures.clientsWaiting,
                    serversActive: figures.serversActive, serversIdle: figures.serversIdle,
                    serversLogin: figures.serversLogin, serversTested: figures.serversTested,
                    maxWaitSeconds: maxWait,
                    transactions: counters.transactions, queries: counters.queries,
                    bytesReceived: counters.bytesReceived, bytesSent: counters.bytesSent,
                    transactionMicros: counters.transactionMicros, queryMicros: counters.queryMicros,
                    waitMicros: counters.waitMicros, errors: counters.errors,
                    serverAssignments: counters.serverAssignments,
                    clientParses: counters.clientParses, serverParses: counters.serverParses,
                    binds: counters.binds, statementEvictions: counters.statementEvictions)
            }
            let now = NIODeadline.now().uptimeNanoseconds
            let backends = allBackends.map { backend in
                let entry = backendStatus.entry(database: backend.database, address: backend.address)
                return MetricsReport.BackendFigures(
                    database: backend.database, host: backend.address.host, port: backend.address.port,
                    role: backend.role?.rawValue ?? "unknown",
                    healthy: backend.healthy && (entry?.healthy ?? true), banned: backend.bannedUntilUptime(now: now) != nil,
                    connectFailures: entry?.connectFailures ?? 0)
            }
            let reloads = reloads.withLock { $0 }
            return MetricsReport(
                pools: pools, backends: backends, routing: RoutingFigures.total(routing),
                clientsConnected: clientCount.load(ordering: .relaxed),
                reloadsSucceeded: reloads.succeeded, reloadsFailed: reloads.failed,
                lastReloadSuccess: reloads.lastSucceeded, lastReloadTimestamp: reloads.lastAt,
                startTime: startTime)
        }
    }
}
