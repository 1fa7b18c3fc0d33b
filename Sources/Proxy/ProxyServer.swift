import Logging
import NIOCore
import NIOPosix
import Synchronization

/// pgproxy's listener and everything behind it. Start it, read `port`, shut it down.
public final class ProxyServer: @unchecked Sendable {
    private let group: MultiThreadedEventLoopGroup
    private let ownsGroup: Bool
    let runtime: ProxyRuntime
    /// The TCP listener, then the Unix-domain one (`unix_socket_dir`), on SwiftNIO's loops.
    private var listeners: [any Channel] = []
    /// The same when connections run on pgproxy's own loops (`io_engine`).
    private var ownListeners: [EpollListener] = []
    private var socketFile: UnixSocketFile?
    /// pgproxy's own event loops, when connections run on them.
    private let ownLoops: [EpollLoop]
    private var metricsServer: MetricsHTTPServer?
    private var autoreload: RepeatedTask?
    private var statsTask: RepeatedTask?
    private var healthChecker: HealthChecker?
    private let logger: Logger
    private let stopping = Atomic<Bool>(false)
    /// Set by SIGTERM/SHUTDOWN while a SHUTDOWN WAIT_FOR_CLIENTS waits, to drain as usual instead.
    private let drainNow = Atomic<Bool>(false)
    private let stopped = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    /// Connections run on `config.general.workers` event loops: pgproxy's own (`EpollLoop`) or,
    /// with `io_engine = "nio"` or a `group` given, SwiftNIO's (`group`, by default made and
    /// owned here).
    public init(config: ProxyConfig, group: MultiThreadedEventLoopGroup? = nil, logger: Logger) throws {
        self.logger = logger
        let ownLoops = group == nil && Self.runsOwnLoops(config)
        if ownLoops {
            // SwiftNIO still serves /metrics and pgproxy's helper connections (health checks,
            // cancel requests), on its shared loops.
            self.ownLoops = try (0..<max(config.general.workers, 1)).map { try EpollLoop(name: "pgproxy-\($0)") }
            self.group = MultiThreadedEventLoopGroup.singleton
            self.ownsGroup = false
        } else if let group {
            self.ownLoops = []
            self.group = group
            self.ownsGroup = false
        } else {
            self.ownLoops = []
            self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(config.general.workers, 1))
            self.ownsGroup = true
        }
        var loops: [any EventLoop] = ownLoops ? self.ownLoops : []
        if !ownLoops { for loop in self.group.makeIterator() { loops.append(loop) } }
        self.runtime = ProxyRuntime(config: config, loops: loops, logger: logger)
    }

    /// pgproxy's own loops serve clients and servers, in plain text and in TLS; `io_engine =
    /// "nio"` puts everything on SwiftNIO's channels instead.
    static func runsOwnLoops(_ config: ProxyConfig) -> Bool {
        config.general.ioEngine != .nio
    }

    /// The configuration in force (it changes with each successful reload).
    public var config: ProxyConfig { runtime.config }

    /// Binds the listening socket (and /metrics, if configured); returns the client port.
    @discardableResult
    public func start() async throws -> Int {
        let runtime = self.runtime
        let config = runtime.config
        let fileLimit = FileDescriptorLimit.raiseToHardLimit()
        let servers = config.databases.reduce(0) { $0 + ($1.poolSize ?? config.general.defaultPoolSize) } * max(config.users.count, 1)
        if let warning = FileDescriptorLimit.shortfall(limit: fileLimit, clients: config.general.maxClientConnections, servers: servers) {
            logger.warning("\(warning)")
        }
        let tls = try config.tls.map(TLSContexts.init)
        runtime.tlsContexts.withLock { $0 = tls }
        // Plugins first: a plugin that cannot load (or refuses its settings) stops the start.
        runtime.plugins = try PluginChain.load(config, logger: logger)
        runtime.routers = runtime.loops.map { _ in Router(chain: runtime.plugins, cacheLimit: config.general.queryCacheLimit) }
        runtime.statementRegistries = runtime.loops.map { _ in StatementRegistry(limit: config.general.preparedStatementsLimit) }
        runtime.loginDeadlines = runtime.loops.map { LoginDeadlines(loop: $0) }
        let port: Int
        if !ownLoops.isEmpty {
            let accepted = { (descriptor: CInt, address: SocketAddress?, loop: EpollLoop) in
                ClientSession(runtime: runtime, config: runtime.configSnapshot).start(on: RawSocket(descriptor: descriptor, loop: loop), from: address)
            }
            let listener = try EpollListener(host: config.general.host, port: config.general.port, loops: ownLoops, logger: logger, accepted: accepted)
            ownListeners = [listener]
            port = listener.port
            if let directory = config.general.unixSocketDir {
                let file = UnixSocketFile(directory: directory, port: port, mode: config.general.unixSocketMode)
                ownListeners.append(try EpollListener(host: "", port: port, socketFile: file, loops: ownLoops, logger: logger, accepted: accepted))
                socketFile = file
            }
        } else {
            port = try await bindNIOListener(config)
        }
        let socketNote = socketFile.map { " and \($0.path)" } ?? ""
        logger.info("pgproxy \(ProxyVersion.string) listening on \(config.general.host):\(port)\(socketNote) (\(config.general.workers) workers\(ownLoops.isEmpty ? " on SwiftNIO" : ""), \(config.general.poolMode.rawValue) pooling)")
        if let prometheus = config.prometheus { try await startMetrics(prometheus) }
        statsTask = runtime.startStatsPeriods()
        let checker = HealthChecker(runtime: runtime)
        checker.start()
        healthChecker = checker
        if config.general.autoreload > 0 { startAutoreload(every: config.general.autoreload) }
        runtime.shutdownHandler.withLock { handler in
            handler = { [self] waitForClients in
                Task { await self.shutdown(waitForClients: waitForClients) }
            }
        }
        return port
    }

    /// Listens through SwiftNIO (TLS, or `io_engine = "nio"`), on TCP and on the Unix-domain
    /// socket if configured; returns the port.
    private func bindNIOListener(_ config: ProxyConfig) async throws -> Int {
        let runtime = self.runtime
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // Accepted sockets inherit SO_KEEPALIVE and TCP_NODELAY (which ServerBootstrap sets on
            // the listening socket) on Linux: no per-connection setsockopt, and no child options,
            // whose application costs a chain of futures for every accepted client.
            .serverChannelOption(.socketOption(.so_keepalive), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ClientSession(runtime: runtime, config: runtime.configSnapshot))
                }
            }
        let channel = try await bootstrap.bind(host: config.general.host, port: config.general.port).get()
        listeners = [channel]
        let port = channel.localAddress?.port ?? config.general.port
        if let directory = config.general.unixSocketDir {
            let file = UnixSocketFile(directory: directory, port: port, mode: config.general.unixSocketMode)
            let address = try file.address()
            listeners.append(try await bootstrap.bind(to: address).get())
            socketFile = file
            try file.setMode()
        }
        return port
    }

    public var port: Int? { ownListeners.first?.port ?? listeners.first?.localAddress?.port }

    /// The port /metrics listens on, when `[prometheus]` is configured.
    public private(set) var metricsPort: Int?

    /// Number of connected, logged-in clients.
    public var clientCount: Int { runtime.clientCount.load(ordering: .relaxed) }

    /// Re-reads both config files and applies them (what SIGHUP and RELOAD do).
    @discardableResult
    public func reload() -> ReloadOutcome { runtime.reload() }

    private func startMetrics(_ prometheus: PrometheusConfig) async throws {
        let exporter = PrometheusExporter()
        runtime.backendStatus.observeLatency { key, seconds in
            exporter.observeConnectLatency(database: key.database, host: key.address.host, port: key.address.port, seconds: seconds)
        }
        let runtime = self.runtime
        let loop = runtime.loops[0]
        let server = MetricsHTTPServer(host: prometheus.host, port: prometheus.port, group: group, logger: logger) {
            runtime.metricsReport(on: loop).map { exporter.render($0) }
        }
        metricsPort = try await server.start()
        metricsServer = server
        logger.info("serving Prometheus metrics on http://\(prometheus.host):\(metricsPort ?? prometheus.port)/metrics")
    }

    /// Reloads when either file's modification time changes.
    private func startAutoreload(every milliseconds: Int64) {
        let runtime = self.runtime
        var last = ConfigFiles.fingerprint(runtime.config)
        autoreload = runtime.loops[0].scheduleRepeatedTask(initialDelay: .milliseconds(milliseconds), delay: .milliseconds(milliseconds)) { _ in
            let now = ConfigFiles.fingerprint(runtime.config)
            guard now != last else { return }
            last = now
            runtime.logger.info("configuration files changed: reloading (autoreload)")
            _ = runtime.reload()
        }
    }

    /// Returns once the server has stopped (after `shutdown`, SHUTDOWN, or SIGTERM handling).
    public func waitUntilStopped() async {
        await withCheckedContinuation { continuation in
            let done = stopped.withLock { state in
                if !state.done { state.waiters.append(continuation) }
                return state.done
            }
            if done { continuation.resume() }
        }
    }

    /// Stops accepting, lets running transactions finish for up to `shutdown_timeout`, then closes
    /// every client and server connection. With `waitForClients`, first waits for every client
    /// to disconnect on its own (SHUTDOWN WAIT_FOR_CLIENTS), however long that takes.
    public func shutdown(waitForClients: Bool = false) async {
        if stopping.exchange(true, ordering: .relaxed) {
            if !waitForClients { drainNow.store(true, ordering: .relaxed) }
            await waitUntilStopped()
            return
        }
        for listener in listeners { try? await listener.close() }
        for listener in ownListeners { listener.close() }
        // pgproxy's own listener removes its socket file as it closes; SwiftNIO's does not.
        if ownListeners.isEmpty { socketFile?.remove() }
        autoreload?.cancel()
        statsTask?.cancel()
        healthChecker?.stop()
        if waitForClients {
            logger.info("shutting down: no new connections; waiting for every client to disconnect")
            while runtime.clientCount.load(ordering: .relaxed) > 0, !drainNow.load(ordering: .relaxed) {
                try? await Task.sleep(nanoseconds: 50_000_000)
            }
        }
        logger.info("shutting down: no new connections; waiting for running transactions")
        for (session, loop) in runtime.cancelRegistry.allSessions() {
            loop.execute { session.requestShutdown() }
        }
        let deadline = NIODeadline.now() + .milliseconds(runtime.config.general.shutdownTimeout)
        while runtime.cancelRegistry.count > 0, NIODeadline.now() < deadline {
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
        for (session, loop) in runtime.cancelRegistry.allSessions() {
            loop.execute { session.forceClose() }
        }
        for pool in runtime.allPools { pool.closeAll() }
        runtime.plugins.finish()
        await metricsServer?.stop()
        try? await Task.sleep(nanoseconds: 100_000_000)
        if ownsGroup { try? await group.shutdownGracefully() }
        for loop in ownLoops { try? await loop.shutdownGracefully() }
        logger.info("pgproxy stopped")
        let waiters = stopped.withLock { state in
            state.done = true
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
