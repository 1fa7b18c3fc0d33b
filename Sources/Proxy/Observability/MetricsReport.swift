/// Everything /metrics shows that is gathered from the pools at scrape time.
///
/// A plain value so the pools can fill it on their own event loops and hand it to
/// ``PrometheusExporter`` on whatever thread serves the scrape. Totals are monotonic since the
/// owning object was created; the exporter turns them into Prometheus counters by delta, so a
/// pool that is recreated (and starts again from zero) does not make a counter go backwards.
struct MetricsReport: Sendable {
    /// One pool, keyed by (database, user). Gauges are the current state; totals count since
    /// the pool was created.
    struct PoolFigures: Sendable {
        var database: String
        var user: String
        var mode: String                 // "session" | "transaction"
        var clientsActive: Int
        var clientsWaiting: Int
        var serversActive: Int
        var serversIdle: Int
        var serversLogin: Int
        var serversTested: Int           // running a reset/rollback/parameter sync
        var maxWaitSeconds: Double
        var transactions: UInt64         // totals since start (monotonic)
        var queries: UInt64
        var bytesReceived: UInt64        // from clients
        var bytesSent: UInt64            // to clients
        var transactionMicros: UInt64
        var queryMicros: UInt64
        var waitMicros: UInt64
        var errors: UInt64               // ErrorResponses sent to clients
        var serverAssignments: UInt64
        var clientParses: UInt64
        var serverParses: UInt64         // named statements prepared on servers
        var binds: UInt64
        var statementEvictions: UInt64   // closed to stay within prepared_statements_limit
    }

    /// One configured server of a database, keyed by (database, host:port, role).
    struct BackendFigures: Sendable {
        var database: String
        var host: String
        var port: Int
        var role: String                 // "primary" | "replica"
        var healthy: Bool
        var banned: Bool
        var connectFailures: UInt64      // total since start (monotonic)
    }

    var pools: [PoolFigures]
    var backends: [BackendFigures]
    /// Every router's counters summed (monotonic, except the cache's size and limit).
    var routing = RoutingFigures()
    var clientsConnected: Int
    var reloadsSucceeded: UInt64         // monotonic
    var reloadsFailed: UInt64            // monotonic
    var lastReloadSuccess: Bool
    var lastReloadTimestamp: Double      // unix seconds, 0 = never
    var startTime: Double                // unix seconds the process started
}
