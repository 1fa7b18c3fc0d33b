import Prometheus

extension PrometheusCollectorRegistry {
    /// Registers (or finds) the gauge of `spec` for `labels`; no labels gives the unlabelled one.
    func gauge(_ spec: MetricSpec, _ labels: [(String, String)] = []) -> Gauge {
        makeGauge(descriptor: spec.descriptor, labels: labels)
    }

    /// Registers (or finds) the counter of `spec` for `labels`; no labels gives the unlabelled one.
    func counter(_ spec: MetricSpec, _ labels: [(String, String)] = []) -> Counter {
        makeCounter(descriptor: spec.descriptor, labels: labels)
    }
}

/// A Prometheus counter fed from a monotonic total that is kept elsewhere.
///
/// swift-prometheus counters can only be incremented, while the pools report running totals.
/// This remembers the last total seen and adds the difference. A total lower than the last one
/// means its source started over (a pool or backend was recreated by a reload), so the whole new
/// total is added: the exported counter never goes backwards, which Prometheus would read as a
/// process restart.
struct MonotonicCounter {
    let counter: Counter
    /// 1 for counts, exported as integers; anything else scales the total (microseconds to
    /// seconds, clock ticks to seconds) and is exported as a float.
    private let divisor: UInt64
    private var lastTotal: UInt64 = 0

    init(_ counter: Counter, divisor: UInt64 = 1) {
        self.counter = counter
        self.divisor = max(divisor, 1)
    }

    /// Adds what `total` grew by since the last call (all of it, if it shrank).
    mutating func advance(to total: UInt64) {
        let delta = total >= lastTotal ? total - lastTotal : total
        lastTotal = total
        guard delta > 0 else { return }
        if divisor == 1 {
            counter.increment(by: Int64(clamping: delta))
        } else {
            counter.increment(by: Double(delta) / Double(divisor))
        }
    }
}

/// The series of one pool: its gauges and counters, labelled {database, user}.
struct PoolSeries {
    /// Pools are identified by database and user; the mode is a property that a reload may change.
    struct Key: Hashable, Sendable {
        var database: String
        var user: String
    }

    private let registry: PrometheusCollectorRegistry
    private let labels: [(String, String)]
    private var mode: String
    /// Carries `mode` as a label, so it is replaced (not updated) when the mode changes.
    private var info: Gauge
    private let clients: [(gauge: Gauge, read: (MetricsReport.PoolFigures) -> Int)]
    private let servers: [(gauge: Gauge, read: (MetricsReport.PoolFigures) -> Int)]
    private let maxWait: Gauge
    private var totals: [(counter: MonotonicCounter, read: @Sendable (MetricsReport.PoolFigures) -> UInt64)]

    init(registry: PrometheusCollectorRegistry, figures: MetricsReport.PoolFigures) {
        let labels = [("database", figures.database), ("user", figures.user)]
        func state(_ spec: MetricSpec, _ name: String) -> Gauge {
            registry.gauge(spec, labels + [("state", name)])
        }
        self.registry = registry
        self.labels = labels
        self.mode = figures.mode
        self.info = registry.gauge(MetricCatalog.poolInfo, labels + [("mode", figures.mode)])
        self.clients = [
            (state(MetricCatalog.poolClients, "active"), { $0.clientsActive }),
            (state(MetricCatalog.poolClients, "waiting"), { $0.clientsWaiting }),
        ]
        self.servers = [
            (state(MetricCatalog.poolServers, "active"), { $0.serversActive }),
            (state(MetricCatalog.poolServers, "idle"), { $0.serversIdle }),
            (state(MetricCatalog.poolServers, "login"), { $0.serversLogin }),
            (state(MetricCatalog.poolServers, "tested"), { $0.serversTested }),
        ]
        self.maxWait = registry.gauge(MetricCatalog.poolMaxWait, labels)
        self.totals = MetricCatalog.poolTotals.map { total in
            (MonotonicCounter(registry.counter(total.spec, labels), divisor: total.divisor), total.read)
        }
        info.set(to: 1)
    }

    /// Sets the gauges to the pool's current state and advances its counters to its totals.
    mutating func apply(_ figures: MetricsReport.PoolFigures) {
        if figures.mode != mode {
            registry.unregisterGauge(info)
            mode = figures.mode
            info = registry.gauge(MetricCatalog.poolInfo, labels + [("mode", mode)])
            info.set(to: 1)
        }
        for (gauge, read) in clients + servers {
            gauge.set(to: Double(read(figures)))
        }
        maxWait.set(to: figures.maxWaitSeconds)
        for index in totals.indices {
            totals[index].counter.advance(to: totals[index].read(figures))
        }
    }

    /// Removes every series of this pool, so pools dropped by a reload leave no stale label sets.
    func unregister() {
        registry.unregisterGauge(info)
        for (gauge, _) in clients + servers {
            registry.unregisterGauge(gauge)
        }
        registry.unregisterGauge(maxWait)
        for (counter, _) in totals {
            registry.unregisterCounter(counter.counter)
        }
    }
}

/// The series of one backend server, labelled {database, backend="host:port", role}.
struct BackendSeries {
    /// The role is part of the key: a promoted replica becomes a new series, as its label set changes.
    struct Key: Hashable, Sendable {
        var database: String
        var backend: String
        var role: String

        init(_ figures: MetricsReport.BackendFigures) {
            database = figures.database
            backend = BackendSeries.address(host: figures.host, port: figures.port)
            role = figures.role
        }
    }

    private let registry: PrometheusCollectorRegistry
    private let up: Gauge
    private let banned: Gauge
    private var connectFailures: MonotonicCounter

    init(registry: PrometheusCollectorRegistry, key: Key) {
        let labels = [("database", key.database), ("backend", key.backend), ("role", key.role)]
        self.registry = registry
        self.up = registry.gauge(MetricCatalog.backendUp, labels)
        self.banned = registry.gauge(MetricCatalog.backendBanned, labels)
        self.connectFailures = MonotonicCounter(registry.counter(MetricCatalog.backendConnectFailures, labels))
    }

    /// Sets health and ban state and advances the failure counter to its total.
    mutating func apply(_ figures: MetricsReport.BackendFigures) {
        up.set(to: figures.healthy ? 1 : 0)
        banned.set(to: figures.banned ? 1 : 0)
        connectFailures.advance(to: figures.connectFailures)
    }

    /// Removes the backend's series; its latency histogram is the exporter's to drop.
    func unregister() {
        registry.unregisterGauge(up)
        registry.unregisterGauge(banned)
        registry.unregisterCounter(connectFailures.counter)
    }

    /// The `backend` label: "host:port", with IPv6 literals bracketed so the port stays unambiguous.
    static func address(host: String, port: Int) -> String {
        host.contains(":") && !host.hasPrefix("[") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

/// The process-wide resource series, registered only once ``ProcessStats`` could be read, so a
/// platform without `/proc` exports none of them instead of zeros.
struct ProcessSeries {
    private let registry: PrometheusCollectorRegistry
    private let residentMemory: Gauge
    private let virtualMemory: Gauge
    private var cpuSeconds: MonotonicCounter

    init(registry: PrometheusCollectorRegistry, stats: ProcessStats) {
        self.registry = registry
        residentMemory = registry.gauge(MetricCatalog.residentMemory)
        virtualMemory = registry.gauge(MetricCatalog.virtualMemory)
        cpuSeconds = MonotonicCounter(registry.counter(MetricCatalog.cpuSeconds), divisor: stats.ticksPerSecond)
        if let limit = ProcessStats.maxFDs() {
            registry.gauge(MetricCatalog.maxFDs).set(to: Double(limit))
        }
    }

    /// Sets the memory and descriptor gauges and advances CPU time to the ticks read.
    mutating func apply(_ stats: ProcessStats) {
        residentMemory.set(to: Double(stats.residentMemoryBytes))
        virtualMemory.set(to: Double(stats.virtualMemoryBytes))
        // Registered on the first listing that works, for the same reason as the whole type.
        if let count = stats.openFDs {
            registry.gauge(MetricCatalog.openFDs).set(to: Double(count))
        }
        cpuSeconds.advance(to: stats.cpuTicks)
    }
}

/// The routing series: the analysis cache and the plugin chain's outcomes, summed over loops.
struct RoutingSeries {
    let entries: Gauge
    var hits: MonotonicCounter
    var misses: MonotonicCounter
    var evictions: MonotonicCounter
    var routed: MonotonicCounter
    var blocked: MonotonicCounter
    var intercepted: MonotonicCounter

    init(registry: PrometheusCollectorRegistry) {
        entries = registry.gauge(MetricCatalog.routingCacheEntries)
        hits = MonotonicCounter(registry.counter(MetricCatalog.routingCacheLookups, [("result", "hit")]))
        misses = MonotonicCounter(registry.counter(MetricCatalog.routingCacheLookups, [("result", "miss")]))
        evictions = MonotonicCounter(registry.counter(MetricCatalog.routingCacheEvictions))
        routed = MonotonicCounter(registry.counter(MetricCatalog.routingDecisions, [("outcome", "routed")]))
        blocked = MonotonicCounter(registry.counter(MetricCatalog.routingDecisions, [("outcome", "blocked")]))
        intercepted = MonotonicCounter(registry.counter(MetricCatalog.routingDecisions, [("outcome", "intercepted")]))
    }

    mutating func apply(_ totals: RoutingFigures) {
        entries.set(to: Double(totals.cachedStatements))
        hits.advance(to: totals.cacheHits)
        misses.advance(to: totals.cacheMisses)
        evictions.advance(to: totals.cacheEvictions)
        routed.advance(to: totals.routed)
        blocked.advance(to: totals.blocked)
        intercepted.advance(to: totals.intercepted)
    }
}
