import Prometheus

/// The name and HELP text of one exported metric family.
///
/// Every family is declared once in ``MetricCatalog`` because the registry traps when one name is
/// registered twice with different help texts; a single source for both rules that out.
struct MetricSpec: Sendable {
    let name: String
    let help: String

    /// The registry takes names through a descriptor; the catalog's names are already complete,
    /// so they go in whole as `metricName` with no namespace or unit to join on.
    var descriptor: MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}

/// Every metric family pgproxy exports. Names are part of the operator-facing interface
/// (dashboards and alerts use them): change them only deliberately.
enum MetricCatalog {
    // MARK: Pools, labelled {database, user}

    static let poolInfo = MetricSpec(
        name: "pgproxy_pool_info", help: "Pools by database and user; the mode label is the pool mode. Always 1.")
    static let poolClients = MetricSpec(
        name: "pgproxy_pool_clients", help: "Clients of the pool by state (active: linked to a server, waiting: queued for one).")
    static let poolServers = MetricSpec(
        name: "pgproxy_pool_servers",
        help: "Server connections of the pool by state (active, idle, login, tested: running a reset or parameter sync).")
    static let poolMaxWait = MetricSpec(
        name: "pgproxy_pool_max_wait_seconds", help: "How long the oldest waiting client of the pool has waited.")

    /// A monotonic total of ``MetricsReport/PoolFigures`` and the counter it feeds.
    struct PoolTotal: Sendable {
        let spec: MetricSpec
        /// 1 for plain counts; 1_000_000 turns microseconds into the exported seconds.
        let divisor: UInt64
        let read: @Sendable (MetricsReport.PoolFigures) -> UInt64

        /// A plain count.
        static func count(_ name: String, _ help: String, _ read: @escaping @Sendable (MetricsReport.PoolFigures) -> UInt64) -> PoolTotal {
            PoolTotal(spec: MetricSpec(name: name, help: help), divisor: 1, read: read)
        }

        /// Microseconds counted, seconds exported.
        static func seconds(_ name: String, _ help: String, _ read: @escaping @Sendable (MetricsReport.PoolFigures) -> UInt64) -> PoolTotal {
            PoolTotal(spec: MetricSpec(name: name, help: help), divisor: 1_000_000, read: read)
        }
    }

    static let poolTotals: [PoolTotal] = [
        .count("pgproxy_pool_transactions_total", "Transactions completed through the pool.") { $0.transactions },
        .count("pgproxy_pool_queries_total", "Queries completed through the pool.") { $0.queries },
        .count("pgproxy_pool_received_bytes_total", "Bytes received from the pool's clients.") { $0.bytesReceived },
        .count("pgproxy_pool_sent_bytes_total", "Bytes sent to the pool's clients.") { $0.bytesSent },
        .seconds("pgproxy_pool_transaction_seconds_total", "Time spent in transactions through the pool.") { $0.transactionMicros },
        .seconds("pgproxy_pool_query_seconds_total", "Time spent in queries through the pool.") { $0.queryMicros },
        .seconds("pgproxy_pool_wait_seconds_total", "Time the pool's clients spent waiting for a server.") { $0.waitMicros },
        .count("pgproxy_pool_errors_total", "ErrorResponses sent to the pool's clients.") { $0.errors },
        .count("pgproxy_pool_server_assignments_total", "Times a server connection was given to a client.") { $0.serverAssignments },
        .count("pgproxy_pool_client_parses_total", "Parse messages from the pool's clients.") { $0.clientParses },
        .count("pgproxy_pool_server_parses_total",
               "Named statements prepared on the pool's server connections (a client's Parse, or one pgproxy sent to a connection that lacked the statement).") { $0.serverParses },
        .count("pgproxy_pool_binds_total", "Bind messages from the pool's clients.") { $0.binds },
        .count("pgproxy_pool_prepared_statement_evictions_total",
               "Prepared statements closed on server connections to stay within prepared_statements_limit.") { $0.statementEvictions },
    ]

    // MARK: Backends, labelled {database, backend="host:port", role}

    static let backendUp = MetricSpec(
        name: "pgproxy_backend_up", help: "1 if the backend passed its last health check, else 0.")
    static let backendBanned = MetricSpec(
        name: "pgproxy_backend_banned", help: "1 if the backend is banned from new server connections, else 0.")
    static let backendConnectFailures = MetricSpec(
        name: "pgproxy_backend_connect_failures_total", help: "Failed connection or login attempts to the backend.")
    /// Labelled {database, backend} only: a role change should not restart the distribution.
    static let backendConnectLatency = MetricSpec(
        name: "pgproxy_backend_connect_latency_seconds",
        help: "Time to connect and log in a new server connection.")
    /// 1 ms to 5 s: a local server logs in within a few ms, a remote TLS+SCRAM login within
    /// hundreds, and anything past 5 s is a connect timeout in all but name.
    static let connectLatencyBuckets: [Double] = [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
    ]

    // MARK: Routing, summed over the event loops

    static let routingCacheEntries = MetricSpec(
        name: "pgproxy_routing_cache_entries", help: "Statement shapes whose analysis is cached.")
    static let routingCacheLookups = MetricSpec(
        name: "pgproxy_routing_cache_lookups_total", help: "Statement analysis cache lookups by result (hit, miss).")
    static let routingCacheEvictions = MetricSpec(
        name: "pgproxy_routing_cache_evictions_total", help: "Statement analyses dropped from the full cache.")
    static let routingDecisions = MetricSpec(
        name: "pgproxy_routing_statements_total",
        help: "Statements routed through the plugin chain, by outcome (routed, blocked, intercepted).")

    // MARK: Process-wide

    static let clientsConnected = MetricSpec(
        name: "pgproxy_clients_connected", help: "Client connections open to pgproxy, in any state.")
    static let configReloads = MetricSpec(
        name: "pgproxy_config_reloads_total", help: "Configuration reloads by result (success, failure).")
    static let configLastReloadSuccess = MetricSpec(
        name: "pgproxy_config_last_reload_success", help: "1 if the last configuration reload succeeded, else 0.")
    static let configLastReloadTimestamp = MetricSpec(
        name: "pgproxy_config_last_reload_timestamp_seconds",
        help: "Unix time of the last configuration reload attempt; 0 if none.")

    static let residentMemory = MetricSpec(
        name: "pgproxy_process_resident_memory_bytes", help: "Resident memory size of the process.")
    static let virtualMemory = MetricSpec(
        name: "pgproxy_process_virtual_memory_bytes", help: "Virtual memory size of the process.")
    static let cpuSeconds = MetricSpec(
        name: "pgproxy_process_cpu_seconds_total", help: "User and system CPU time used by the process.")
    static let openFDs = MetricSpec(
        name: "pgproxy_process_open_fds", help: "File descriptors open in the process.")
    static let maxFDs = MetricSpec(
        name: "pgproxy_process_max_fds", help: "Limit on open file descriptors (RLIMIT_NOFILE soft limit).")
    static let startTime = MetricSpec(
        name: "pgproxy_process_start_time_seconds", help: "Unix time the process started.")
    static let uptime = MetricSpec(
        name: "pgproxy_uptime_seconds", help: "Seconds since the process started.")
}
