import Logging
import NIOCore
import NIOPosix

/// pgproxy's listener and everything behind it. Start it, read `port`, shut it down.
public final class ProxyServer: @unchecked Sendable {
    public let config: ProxyConfig
    private let group: MultiThreadedEventLoopGroup
    private let ownsGroup: Bool
    private let runtime: ProxyRuntime
    private var listener: (any Channel)?
    private let logger: Logger

    /// `group` defaults to one of `config.general.workers` threads, owned by the server.
    public init(config: ProxyConfig, group: MultiThreadedEventLoopGroup? = nil, logger: Logger) {
        self.config = config
        self.logger = logger
        if let group {
            self.group = group
            self.ownsGroup = false
        } else {
            self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(config.general.workers, 1))
            self.ownsGroup = true
        }
        var loops: [any EventLoop] = []
        for loop in self.group.makeIterator() { loops.append(loop) }
        self.runtime = ProxyRuntime(config: config, loops: loops, logger: logger)
    }

    /// Binds the listening socket; returns the port (useful with `port = 0`).
    @discardableResult
    public func start() async throws -> Int {
        let runtime = self.runtime
        let config = self.config
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.socketOption(.so_keepalive), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ClientSession(runtime: runtime, config: config))
                }
            }
        let channel = try await bootstrap.bind(host: config.general.host, port: config.general.port).get()
        listener = channel
        let port = channel.localAddress?.port ?? config.general.port
        logger.info("pgproxy \(ProxyVersion.string) listening on \(config.general.host):\(port) (\(config.general.workers) workers, \(config.general.poolMode.rawValue) pooling)")
        return port
    }

    public var port: Int? { listener?.localAddress?.port }

    /// Number of connected, logged-in clients.
    public var clientCount: Int { runtime.clientCount.load(ordering: .relaxed) }

    /// Stops accepting, lets running transactions finish for up to `shutdown_timeout`, then closes
    /// every client and server connection.
    public func shutdown() async {
        logger.info("shutting down: no new connections; waiting for running transactions")
        try? await listener?.close()
        for (session, loop) in runtime.cancelRegistry.allSessions() {
            loop.execute { session.requestShutdown() }
        }
        let deadline = NIODeadline.now() + .milliseconds(config.general.shutdownTimeout)
        while runtime.cancelRegistry.count > 0, NIODeadline.now() < deadline {
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
        for (session, loop) in runtime.cancelRegistry.allSessions() {
            loop.execute { session.forceClose() }
        }
        for pool in runtime.allPools { pool.closeAll() }
        try? await Task.sleep(nanoseconds: 100_000_000)
        if ownsGroup { try? await group.shutdownGracefully() }
        logger.info("pgproxy stopped")
    }
}
