import Foundation
import Prometheus
import Synchronization

/// Keeps pgproxy's metrics in a `PrometheusCollectorRegistry` and renders them for `/metrics`.
///
/// The pools keep their own figures; at scrape time the caller gathers a ``MetricsReport``, hands
/// it to ``update(with:)`` and serves ``render()``. Nothing here is touched on the data path:
/// the only call made outside a scrape is ``observeConnectLatency(database:host:port:seconds:)``,
/// once per new server connection.
///
/// Label sets are bounded by the configuration: pools and backends that leave the report are
/// unregistered, so reloads that rename databases or move servers do not grow the output.
///
/// Safe to call from any thread; one lock orders updates so counter deltas are never applied twice.
final class PrometheusExporter: Sendable {
    /// The registry every series lives in; exposed for tests and for metrics added elsewhere.
    let registry: PrometheusCollectorRegistry
    private let state: Mutex<State>
    private let clientsConnected: Gauge
    private let lastReloadSuccess: Gauge
    private let lastReloadTimestamp: Gauge
    /// Unix time now; injected so tests can pin the uptime.
    private let now: @Sendable () -> Double

    /// What update and render need to remember between scrapes.
    private struct State {
        var pools: [PoolSeries.Key: PoolSeries] = [:]
        var backends: [BackendSeries.Key: BackendSeries] = [:]
        var latency: [LatencyKey: ValueHistogram] = [:]
        var reloadsSucceeded: MonotonicCounter
        var reloadsFailed: MonotonicCounter
        var routing: RoutingSeries
        /// Nil until `/proc/self` could be read once (never, off Linux).
        var process: ProcessSeries?
        var startTime: Double = 0
    }

    /// Connect latency is kept per database and backend, without the role: a failover that
    /// changes a server's role should not restart its latency distribution.
    private struct LatencyKey: Hashable {
        var database: String
        var backend: String
    }

    init(
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }
    ) {
        self.registry = registry
        self.now = now
        clientsConnected = registry.gauge(MetricCatalog.clientsConnected)
        lastReloadSuccess = registry.gauge(MetricCatalog.configLastReloadSuccess)
        lastReloadTimestamp = registry.gauge(MetricCatalog.configLastReloadTimestamp)
        // Both results are registered from the start so a rate() over them never lacks a series.
        state = Mutex(
            State(
                reloadsSucceeded: MonotonicCounter(registry.counter(MetricCatalog.configReloads, [("result", "success")])),
                reloadsFailed: MonotonicCounter(registry.counter(MetricCatalog.configReloads, [("result", "failure")])),
                routing: RoutingSeries(registry: registry)))
    }

    // MARK: Feeding

    /// Sets the gauges and advances the counters to the report's totals, and drops the series of
    /// pools and backends the report no longer lists.
    ///
    /// The report must list every pool and backend: a backend left out also loses its connect
    /// latency histogram.
    func update(with report: MetricsReport) {
        clientsConnected.set(to: Double(report.clientsConnected))
        lastReloadSuccess.set(to: report.lastReloadSuccess ? 1 : 0)
        lastReloadTimestamp.set(to: report.lastReloadTimestamp)
        state.withLock { state in
            state.reloadsSucceeded.advance(to: report.reloadsSucceeded)
            state.reloadsFailed.advance(to: report.reloadsFailed)
            state.startTime = report.startTime
            state.routing.apply(report.routing)
            updatePools(report.pools, in: &state)
            updateBackends(report.backends, in: &state)
        }
    }

    /// Records one server connect+login duration against its backend.
    func observeConnectLatency(database: String, host: String, port: Int, seconds: Double) {
        guard seconds.isFinite else { return }
        let key = LatencyKey(database: database, backend: BackendSeries.address(host: host, port: port))
        let histogram = state.withLock { state in
            if let existing = state.latency[key] { return existing }
            let created = registry.makeValueHistogram(
                descriptor: MetricCatalog.backendConnectLatency.descriptor,
                labels: [("database", key.database), ("backend", key.backend)],
                buckets: MetricCatalog.connectLatencyBuckets)
            state.latency[key] = created
            return created
        }
        histogram.record(max(seconds, 0))
    }

    private func updatePools(_ pools: [MetricsReport.PoolFigures], in state: inout State) {
        var seen = Set<PoolSeries.Key>()
        for figures in pools {
            let key = PoolSeries.Key(database: figures.database, user: figures.user)
            seen.insert(key)
            state.pools[key, default: PoolSeries(registry: registry, figures: figures)].apply(figures)
        }
        for (key, series) in state.pools where !seen.contains(key) {
            series.unregister()
            state.pools[key] = nil
        }
    }

    private func updateBackends(_ backends: [MetricsReport.BackendFigures], in state: inout State) {
        var seen = Set<BackendSeries.Key>()
        for figures in backends {
            let key = BackendSeries.Key(figures)
            seen.insert(key)
            state.backends[key, default: BackendSeries(registry: registry, key: key)].apply(figures)
        }
        for (key, series) in state.backends where !seen.contains(key) {
            series.unregister()
            state.backends[key] = nil
        }
        let listed = Set(seen.map { LatencyKey(database: $0.database, backend: $0.backend) })
        for (key, histogram) in state.latency where !listed.contains(key) {
            registry.unregisterValueHistogram(histogram)
            state.latency[key] = nil
        }
    }

    // MARK: Rendering

    /// The text exposition format of every registered series, with the process metrics read fresh.
    func render() -> [UInt8] {
        refreshProcessMetrics()
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 * 1024)
        registry.emit(into: &buffer)
        return buffer
    }

    /// ``update(with:)`` then ``render()``: what a scrape does.
    func render(_ report: MetricsReport) -> [UInt8] {
        update(with: report)
        return render()
    }

    private func refreshProcessMetrics() {
        let stats = ProcessStats.sample()
        let startTime = state.withLock { state -> Double in
            if let stats {
                if state.process == nil {
                    state.process = ProcessSeries(registry: registry, stats: stats)
                }
                state.process?.apply(stats)
            }
            return state.startTime
        }
        // Unknown until the first report; better absent than a start in 1970.
        guard startTime > 0 else { return }
        registry.gauge(MetricCatalog.startTime).set(to: startTime)
        registry.gauge(MetricCatalog.uptime).set(to: max(now() - startTime, 0))
    }
}
