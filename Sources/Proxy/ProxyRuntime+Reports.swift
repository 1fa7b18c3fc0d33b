import NIOCore

/// One pool as the admin console and the exporter see it.
struct PoolReport: Sendable {
    var key: PoolKey
    var settings: PoolSettings
    var paused: Bool
    var figures: PartitionReport
}

/// One client as SHOW CLIENTS lists it; made on the client's loop.
struct ClientRow: Sendable {
    var processID: Int32
    var user: String
    var database: String
    var state: String
    var remoteAddress: SocketAddress?
    var localAddress: SocketAddress?
    var connectedAt: NIODeadline
    var requestAt: NIODeadline?
    var waitingSince: NIODeadline?
    var applicationName: String
    var pointer: UInt
    var serverPointer: UInt?
    /// The TLS version, empty for plain text.
    var tls = ""
}

extension ProxyRuntime {
    /// Every pool's figures, each partition read on its own loop; completes on `loop`.
    func poolReports(on loop: any EventLoop) -> EventLoopFuture<[PoolReport]> {
        let pools = allPools.sorted { ($0.key.database, $0.key.user) < ($1.key.database, $1.key.user) }
        let perPool = pools.map { pool in
            let parts = pool.partitions.map { partition in partition.eventLoop.submit { partition.report() } }
            return EventLoopFuture.whenAllSucceed(parts, on: loop).map { reports in
                PoolReport(key: pool.key, settings: pool.settings, paused: pool.paused.load(ordering: .relaxed),
                           figures: reports.reduce(PartitionReport(), +))
            }
        }
        return EventLoopFuture.whenAllSucceed(perPool, on: loop)
    }

    /// Every server connection of every pool.
    func serverRows(on loop: any EventLoop) -> EventLoopFuture<[(PoolKey, ServerRow)]> {
        let pools = allPools.sorted { ($0.key.database, $0.key.user) < ($1.key.database, $1.key.user) }
        let perPool = pools.map { pool in
            let parts = pool.partitions.map { partition in partition.eventLoop.submit { partition.serverRows() } }
            return EventLoopFuture.whenAllSucceed(parts, on: loop).map { rows in rows.flatMap { $0 }.map { (pool.key, $0) } }
        }
        return EventLoopFuture.whenAllSucceed(perPool, on: loop).map { $0.flatMap { $0 } }
    }

    /// Every logged-in client, admin console sessions included.
    func clientRows(on loop: any EventLoop) -> EventLoopFuture<[ClientRow]> {
        let rows = cancelRegistry.allSessions().map { session, sessionLoop in sessionLoop.submit { session.row() } }
        return EventLoopFuture.whenAllSucceed(rows, on: loop).map { rows in
            rows.compactMap { $0 }.sorted { $0.connectedAt < $1.connectedAt }
        }
    }

    /// Statistics totals per database, summed over its pools.
    func totalsByDatabase(on loop: any EventLoop) -> EventLoopFuture<[String: PoolCounters]> {
        poolReports(on: loop).map { reports in
            var totals: [String: PoolCounters] = [:]
            for report in reports {
                totals[report.key.database] = (totals[report.key.database] ?? PoolCounters()) + report.figures.counters
            }
            return totals
        }
    }

    /// Starts the stats period clock: every `stats_period`, averages are taken over the last one.
    func startStatsPeriods() -> RepeatedTask {
        let loop = loops[0]
        let period = TimeAmount.milliseconds(config.general.statsPeriod)
        return loop.scheduleRepeatedAsyncTask(initialDelay: period, delay: period) { [self] _ in
            totalsByDatabase(on: loop).map { totals in
                self.statsPeriods.withLock { $0.close(totals: totals) }
            }
        }
    }
}
