import Foundation

/// Seconds since 1970, for the figures shown as dates (connect_time, reload timestamps).
func wallClockSeconds() -> Double { Date().timeIntervalSince1970 }

/// Per-database totals at the start of the current stats period and the averages of the last
/// complete one, as SHOW STATS and SHOW STATS_AVERAGES report them.
struct StatsPeriods: Sendable {
    private(set) var periodStart: [String: PoolCounters] = [:]
    /// Counts and bytes per second; times per transaction, per query and per assignment.
    private(set) var averages: [String: PoolCounters] = [:]
    private(set) var startedAt: Double = wallClockSeconds()

    /// Closes the period that began at the last call, given each database's totals now.
    mutating func close(totals: [String: PoolCounters], at now: Double = wallClockSeconds()) {
        let seconds = max(now - startedAt, 0.001)
        var next: [String: PoolCounters] = [:]
        for (database, total) in totals {
            let delta = total.since(periodStart[database] ?? PoolCounters())
            func perSecond(_ value: UInt64) -> UInt64 { UInt64((Double(value) / seconds).rounded()) }
            func per(_ value: UInt64, _ count: UInt64) -> UInt64 { count == 0 ? 0 : value / count }
            next[database] = PoolCounters(
                transactions: perSecond(delta.transactions),
                queries: perSecond(delta.queries),
                serverAssignments: perSecond(delta.serverAssignments),
                bytesReceived: perSecond(delta.bytesReceived),
                bytesSent: perSecond(delta.bytesSent),
                transactionMicros: per(delta.transactionMicros, delta.transactions),
                queryMicros: per(delta.queryMicros, delta.queries),
                waitMicros: per(delta.waitMicros, delta.serverAssignments),
                errors: perSecond(delta.errors),
                clientParses: perSecond(delta.clientParses),
                serverParses: perSecond(delta.serverParses),
                binds: perSecond(delta.binds),
                statementEvictions: perSecond(delta.statementEvictions))
        }
        averages = next
        periodStart = totals
        startedAt = now
    }
}

/// What became of the reloads so far (RELOAD, SIGHUP, autoreload).
struct ReloadHistory: Sendable {
    var succeeded: UInt64 = 0
    var failed: UInt64 = 0
    var lastSucceeded = true
    /// Seconds since 1970; 0 = never reloaded.
    var lastAt: Double = 0

    mutating func record(success: Bool) {
        if success { succeeded += 1 } else { failed += 1 }
        lastSucceeded = success
        lastAt = wallClockSeconds()
    }
}
