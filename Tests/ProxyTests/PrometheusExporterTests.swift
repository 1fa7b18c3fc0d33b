import Logging
import NIOCore
import NIOPosix
import XCTest

@testable import Proxy

final class PrometheusExporterTests: XCTestCase {
    // MARK: Fixtures

    static func pool(_ database: String, _ user: String, mode: String = "transaction", total: UInt64 = 5) -> MetricsReport.PoolFigures {
        MetricsReport.PoolFigures(
            database: database, user: user, mode: mode,
            clientsActive: 3, clientsWaiting: 1, serversActive: 2, serversIdle: 4, serversLogin: 1, serversTested: 0,
            maxWaitSeconds: 0.25, transactions: total, queries: total * 2, bytesReceived: 1000, bytesSent: 4000,
            transactionMicros: 1_500_000, queryMicros: 250_000, waitMicros: 0, errors: 1, serverAssignments: total,
            clientParses: 3, serverParses: 2, binds: total, statementEvictions: 1)
    }

    static func backend(_ database: String, host: String = "10.0.0.1", port: Int = 5432, failures: UInt64 = 2) -> MetricsReport.BackendFigures {
        MetricsReport.BackendFigures(
            database: database, host: host, port: port, role: "primary", healthy: true, banned: false,
            connectFailures: failures)
    }

    static func report(pools: [MetricsReport.PoolFigures], backends: [MetricsReport.BackendFigures] = []) -> MetricsReport {
        MetricsReport(
            pools: pools, backends: backends, clientsConnected: 7, reloadsSucceeded: 2, reloadsFailed: 1,
            lastReloadSuccess: false, lastReloadTimestamp: 1_700_000_100, startTime: 1_700_000_000)
    }

    /// Series (name with its label set, as rendered) to value, from the text format.
    static func samples(_ bytes: [UInt8]) -> [String: Double] {
        var result: [String: Double] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                XCTFail("unparsable line: \(line)")
                continue
            }
            result[String(line[..<space])] = value
        }
        return result
    }

    private func exporter() -> PrometheusExporter {
        PrometheusExporter(now: { 1_700_000_060 })
    }

    // MARK: Exporter

    func testRendersPoolGaugesAndCounters() {
        let exporter = exporter()
        let text = exporter.render(Self.report(pools: [Self.pool("app", "alice"), Self.pool("app", "bob", mode: "session")]))
        let samples = Self.samples(text)
        let output = String(decoding: text, as: UTF8.self)

        XCTAssertTrue(output.contains(#"pgproxy_pool_clients{database="app",user="alice",state="active"} 3.0"#), output)
        XCTAssertTrue(output.contains(#"pgproxy_pool_transactions_total{database="app",user="bob"} 5"#), output)
        XCTAssertTrue(output.contains("# TYPE pgproxy_pool_transactions_total counter"))
        XCTAssertTrue(output.contains("# HELP pgproxy_pool_transactions_total "))
        XCTAssertEqual(samples[#"pgproxy_pool_clients{database="app",user="bob",state="waiting"}"#], 1)
        XCTAssertEqual(samples[#"pgproxy_pool_servers{database="app",user="alice",state="idle"}"#], 4)
        XCTAssertEqual(samples[#"pgproxy_pool_servers{database="app",user="alice",state="tested"}"#], 0)
        XCTAssertEqual(samples[#"pgproxy_pool_max_wait_seconds{database="app",user="alice"}"#], 0.25)
        XCTAssertEqual(samples[#"pgproxy_pool_info{database="app",user="bob",mode="session"}"#], 1)
        XCTAssertEqual(samples[#"pgproxy_pool_queries_total{database="app",user="alice"}"#], 10)
        XCTAssertEqual(samples[#"pgproxy_pool_sent_bytes_total{database="app",user="alice"}"#], 4000)
        XCTAssertEqual(samples[#"pgproxy_pool_transaction_seconds_total{database="app",user="alice"}"#], 1.5)
        XCTAssertEqual(samples[#"pgproxy_pool_wait_seconds_total{database="app",user="alice"}"#], 0)
        XCTAssertEqual(samples["pgproxy_clients_connected"], 7)
        XCTAssertEqual(samples[#"pgproxy_config_reloads_total{result="success"}"#], 2)
        XCTAssertEqual(samples[#"pgproxy_config_reloads_total{result="failure"}"#], 1)
        XCTAssertEqual(samples["pgproxy_config_last_reload_success"], 0)
        XCTAssertEqual(samples["pgproxy_config_last_reload_timestamp_seconds"], 1_700_000_100)
        XCTAssertEqual(samples["pgproxy_process_start_time_seconds"], 1_700_000_000)
        XCTAssertEqual(samples["pgproxy_uptime_seconds"], 60)
    }

    func testCountersAdvanceByDeltaAndSurviveARestartedTotal() {
        let exporter = exporter()
        let series = #"pgproxy_pool_transactions_total{database="app",user="alice"}"#
        exporter.update(with: Self.report(pools: [Self.pool("app", "alice", total: 5)]))
        XCTAssertEqual(Self.samples(exporter.render())[series], 5)
        exporter.update(with: Self.report(pools: [Self.pool("app", "alice", total: 8)]))
        XCTAssertEqual(Self.samples(exporter.render())[series], 8)
        exporter.update(with: Self.report(pools: [Self.pool("app", "alice", total: 8)]))
        XCTAssertEqual(Self.samples(exporter.render())[series], 8)
        // The pool was recreated and counts from zero again: the counter must not go backwards.
        exporter.update(with: Self.report(pools: [Self.pool("app", "alice", total: 3)]))
        XCTAssertEqual(Self.samples(exporter.render())[series], 11)
    }

    func testPoolsAndBackendsLeavingTheReportAreUnregistered() {
        let exporter = exporter()
        exporter.update(with: Self.report(
            pools: [Self.pool("app", "alice"), Self.pool("app", "bob")],
            backends: [Self.backend("app"), Self.backend("app", host: "10.0.0.2")]))
        exporter.observeConnectLatency(database: "app", host: "10.0.0.2", port: 5432, seconds: 0.01)
        XCTAssertTrue(String(decoding: exporter.render(), as: UTF8.self).contains(#"user="bob""#))

        exporter.update(with: Self.report(pools: [Self.pool("app", "alice")], backends: [Self.backend("app")]))
        let output = String(decoding: exporter.render(), as: UTF8.self)
        XCTAssertFalse(output.contains(#"user="bob""#), output)
        XCTAssertFalse(output.contains("10.0.0.2"), output)
        XCTAssertFalse(output.contains("pgproxy_backend_connect_latency_seconds"), output)
        XCTAssertTrue(output.contains(#"pgproxy_pool_info{database="app",user="alice",mode="transaction"} 1.0"#), output)

        exporter.update(with: Self.report(pools: []))
        let empty = String(decoding: exporter.render(), as: UTF8.self)
        XCTAssertFalse(empty.contains("pgproxy_pool_"), empty)
        XCTAssertFalse(empty.contains("pgproxy_backend_"), empty)
    }

    func testModeChangeReplacesTheInfoSeries() {
        let exporter = exporter()
        exporter.update(with: Self.report(pools: [Self.pool("app", "alice", mode: "session")]))
        exporter.update(with: Self.report(pools: [Self.pool("app", "alice", mode: "transaction")]))
        let samples = Self.samples(exporter.render())
        XCTAssertNil(samples[#"pgproxy_pool_info{database="app",user="alice",mode="session"}"#])
        XCTAssertEqual(samples[#"pgproxy_pool_info{database="app",user="alice",mode="transaction"}"#], 1)
    }

    func testRoutingSeriesSumTheLoopsAndAdvance() {
        let exporter = exporter()
        func loop(_ hits: UInt64, _ misses: UInt64, entries: Int, blocked: UInt64 = 0) -> RoutingFigures {
            RoutingFigures(
                cachedStatements: entries, cacheLimit: 100, cacheHits: hits, cacheMisses: misses, cacheEvictions: 1,
                routed: hits + misses, blocked: blocked, intercepted: 0)
        }
        var report = Self.report(pools: [])
        report.routing = RoutingFigures.total([loop(10, 2, entries: 2), loop(5, 3, entries: 3, blocked: 1)])
        exporter.update(with: report)
        report.routing = RoutingFigures.total([loop(20, 2, entries: 2), loop(5, 4, entries: 4, blocked: 1)])
        exporter.update(with: report)
        let samples = Self.samples(exporter.render())
        XCTAssertEqual(samples[#"pgproxy_routing_cache_lookups_total{result="hit"}"#], 25)
        XCTAssertEqual(samples[#"pgproxy_routing_cache_lookups_total{result="miss"}"#], 6)
        XCTAssertEqual(samples["pgproxy_routing_cache_entries"], 6)
        XCTAssertEqual(samples["pgproxy_routing_cache_evictions_total"], 2)
        XCTAssertEqual(samples[#"pgproxy_routing_statements_total{outcome="routed"}"#], 31)
        XCTAssertEqual(samples[#"pgproxy_routing_statements_total{outcome="blocked"}"#], 1)
        XCTAssertEqual(samples[#"pgproxy_routing_statements_total{outcome="intercepted"}"#], 0)
    }

    func testBackendSeriesAndConnectLatencyHistogram() {
        let exporter = exporter()
        exporter.update(with: Self.report(pools: [], backends: [Self.backend("app", failures: 2)]))
        exporter.observeConnectLatency(database: "app", host: "10.0.0.1", port: 5432, seconds: 0.003)
        exporter.observeConnectLatency(database: "app", host: "10.0.0.1", port: 5432, seconds: 7)
        exporter.update(with: Self.report(pools: [], backends: [Self.backend("app", failures: 6)]))
        let samples = Self.samples(exporter.render())
        let labels = #"database="app",backend="10.0.0.1:5432""#
        XCTAssertEqual(samples["pgproxy_backend_up{\(labels),role=\"primary\"}"], 1)
        XCTAssertEqual(samples["pgproxy_backend_banned{\(labels),role=\"primary\"}"], 0)
        XCTAssertEqual(samples["pgproxy_backend_connect_failures_total{\(labels),role=\"primary\"}"], 6)
        XCTAssertEqual(samples["pgproxy_backend_connect_latency_seconds_bucket{\(labels),le=\"0.0025\"}"], 0)
        XCTAssertEqual(samples["pgproxy_backend_connect_latency_seconds_bucket{\(labels),le=\"0.005\"}"], 1)
        XCTAssertEqual(samples["pgproxy_backend_connect_latency_seconds_bucket{\(labels),le=\"5.0\"}"], 1)
        XCTAssertEqual(samples["pgproxy_backend_connect_latency_seconds_bucket{\(labels),le=\"+Inf\"}"], 2)
        XCTAssertEqual(samples["pgproxy_backend_connect_latency_seconds_count{\(labels)}"], 2)
        XCTAssertEqual(samples["pgproxy_backend_connect_latency_seconds_sum{\(labels)}"] ?? 0, 7.003, accuracy: 1e-9)
        XCTAssertEqual(BackendSeries.address(host: "::1", port: 6432), "[::1]:6432")
    }

    func testLabelValuesAreEscaped() {
        let exporter = exporter()
        let output = String(decoding: exporter.render(Self.report(pools: [Self.pool(#"we"ird\db"#, "a\nb")])), as: UTF8.self)
        XCTAssertTrue(output.contains(#"pgproxy_pool_max_wait_seconds{database="we\"ird\\db",user="a\nb"} 0.25"#), output)
    }

    func testProcessMetricsComeFromProc() throws {
        #if os(Linux)
        let samples = Self.samples(exporter().render())
        XCTAssertGreaterThan(samples["pgproxy_process_resident_memory_bytes"] ?? 0, 1_000_000)
        XCTAssertGreaterThan(samples["pgproxy_process_virtual_memory_bytes"] ?? 0, 1_000_000)
        XCTAssertGreaterThan(samples["pgproxy_process_open_fds"] ?? 0, 2)
        XCTAssertNotNil(samples["pgproxy_process_cpu_seconds_total"])
        // No report yet, so no start time to show.
        XCTAssertNil(samples["pgproxy_process_start_time_seconds"])
        #else
        throw XCTSkip("/proc is Linux-only")
        #endif
    }

    func testParsesProcStatWithAwkwardCommandName() {
        let line = "4242 (my (odd) proc) S 1 2 3 0 -1 4194560 500 0 0 0 150 50 0 0 20 0 3 0 12345 104857600 2560 "
            + "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
        let stats = ProcessStats.parse(stat: Array(line.utf8))
        XCTAssertEqual(stats?.cpuTicks, 200)
        XCTAssertEqual(stats?.virtualMemoryBytes, 104_857_600)
        XCTAssertEqual(stats.map { $0.residentMemoryBytes / 2560 }, UInt64(sysconf(Int32(_SC_PAGESIZE))))
        XCTAssertNil(ProcessStats.parse(stat: Array("garbage".utf8)))
    }
}

final class MetricsHTTPServerTests: XCTestCase {
    private var group: MultiThreadedEventLoopGroup!

    override func setUp() {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    }

    override func tearDown() async throws {
        try await group.shutdownGracefully()
    }

    private func startServer(_ provider: @escaping @Sendable () -> EventLoopFuture<[UInt8]>) async throws -> (MetricsHTTPServer, Int) {
        let server = MetricsHTTPServer(
            host: "127.0.0.1", port: 0, group: group, logger: Logger(label: "test"), provider: provider)
        let port = try await server.start()
        XCTAssertGreaterThan(port, 0)
        return (server, port)
    }

    /// One response as read off the wire: status line, headers (lower-cased names), body.
    struct Response {
        var status: String
        var headers: [String: String]
        var body: String
    }

    /// Splits what the server sent into responses; `bodiless` holds the indexes of HEAD requests,
    /// whose Content-Length describes a body that is not sent.
    static func responses(_ raw: [UInt8], bodiless: Set<Int> = []) -> [Response] {
        var result: [Response] = []
        var rest = raw[...]
        let separator = Array("\r\n\r\n".utf8)
        while let end = rest.firstRange(of: separator) {
            let lines = String(decoding: rest[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
            var headers: [String: String] = [:]
            for line in lines.dropFirst() {
                let parts = line.split(separator: ":", maxSplits: 1)
                headers[parts[0].lowercased()] = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
            }
            let length = bodiless.contains(result.count) ? 0 : Int(headers["content-length"] ?? "0") ?? 0
            let body = rest[end.upperBound...].prefix(length)
            result.append(Response(status: lines[0], headers: headers, body: String(decoding: body, as: UTF8.self)))
            rest = rest[body.endIndex...]
        }
        return result
    }

    /// Writes `request` raw and returns every byte the server sent until it closed the connection,
    /// or until `stop` runs (when given) and the server closes it. Gives up after 10 seconds.
    private func exchange(_ request: String, port: Int, whileOpen stop: (() async -> Void)? = nil) async throws -> [UInt8] {
        let received = group.next().makePromise(of: [UInt8].self)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ResponseCollector(done: received))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        channel.eventLoop.scheduleTask(in: .seconds(10)) { channel.close(promise: nil) }
        try await channel.writeAndFlush(ByteBuffer(string: request))
        if let stop {
            try await Task.sleep(for: .milliseconds(200))
            await stop()
        }
        return try await received.futureResult.get()
    }

    func testServesMetricsWithKeepAliveAndAnswers404() async throws {
        let exporter = PrometheusExporter()
        let report = PrometheusExporterTests.report(pools: [PrometheusExporterTests.pool("app", "alice")])
        let loop = group.next()
        let (server, port) = try await startServer { loop.submit { exporter.render(report) } }

        let raw = try await exchange(
            "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\nGET /nope HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            port: port)
        let responses = Self.responses(raw)
        XCTAssertEqual(responses.count, 2, String(decoding: raw, as: UTF8.self))
        XCTAssertEqual(responses.first?.status, "HTTP/1.1 200 OK")
        XCTAssertEqual(responses.first?.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8")
        XCTAssertEqual(responses.first?.headers["content-length"], responses.first.map { String($0.body.utf8.count) })
        XCTAssertTrue(responses.first?.body.contains(#"pgproxy_pool_transactions_total{database="app",user="alice"} 5"#) == true)
        XCTAssertEqual(responses.last?.status, "HTTP/1.1 404 Not Found")
        await server.stop()
    }

    func testHeadRootAndOtherMethods() async throws {
        let (server, port) = try await startServer { [group] in group!.next().makeSucceededFuture(Array("up 1\n".utf8)) }
        let raw = try await exchange(
            "HEAD /metrics HTTP/1.1\r\nHost: h\r\n\r\nPOST /metrics HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
                + "GET /?x=1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
            port: port)
        let responses = Self.responses(raw, bodiless: [0])
        XCTAssertEqual(responses.map(\.status), ["HTTP/1.1 200 OK", "HTTP/1.1 405 Method Not Allowed", "HTTP/1.1 200 OK"])
        XCTAssertEqual(responses.first?.headers["content-length"], "5")
        XCTAssertEqual(responses.dropFirst().first?.headers["allow"], "GET, HEAD")
        XCTAssertTrue(responses.last?.body.contains("/metrics") == true)
        await server.stop()
    }

    func testProviderFailureGives500AndHTTP10Closes() async throws {
        struct Broken: Error {}
        let (server, port) = try await startServer { [group] in group!.next().makeFailedFuture(Broken()) }
        let responses = Self.responses(try await exchange("GET /metrics HTTP/1.0\r\n\r\n", port: port))
        XCTAssertEqual(responses.map(\.status), ["HTTP/1.0 500 Internal Server Error"])
        XCTAssertEqual(responses.first?.body, "metrics collection failed\n")
        await server.stop()
    }

    func testStopClosesKeepAliveConnections() async throws {
        let (server, port) = try await startServer { [group] in group!.next().makeSucceededFuture([]) }
        let start = ContinuousClock.now
        let raw = try await exchange("GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n", port: port, whileOpen: { await server.stop() })
        XCTAssertEqual(Self.responses(raw).map(\.status), ["HTTP/1.1 200 OK"])
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5), "closed by stop(), not by the test's timeout")
    }
}

/// Collects the bytes of one client connection and hands them over when it closes.
private final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private var received: [UInt8] = []
    private let done: EventLoopPromise<[UInt8]>

    init(done: EventLoopPromise<[UInt8]>) {
        self.done = done
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += unwrapInboundIn(data).readableBytesView
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.succeed(received)
    }

    /// The bytes so far still go out through `channelInactive`, which follows the close.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
