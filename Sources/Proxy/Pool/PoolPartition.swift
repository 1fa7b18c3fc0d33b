import Logging
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The part of a pool that lives on one event loop: its idle server connections (most recently
/// used first), its waiting clients in arrival order, and the connections being opened. Every
/// method runs on `eventLoop`, so nothing here is locked.
final class PoolPartition {
    let index: Int
    let eventLoop: any EventLoop
    private(set) var logger: Logger
    /// The pool owns its partitions and outlives them. (A `let`: reading it takes no retain.)
    unowned(unsafe) let pool: Pool
    /// A copy of the pool's settings, so the data path reads a stored value.
    private(set) var settings: PoolSettings
    /// Now, to the second: refreshed by the janitor so the data path never reads the clock.
    private(set) var clock = NIODeadline.now()

    private var idle: [ServerConnection] = []
    private var servers: [ObjectIdentifier: ServerConnection] = [:]
    var serverConnections: Dictionary<ObjectIdentifier, ServerConnection>.Values { servers.values }
    private(set) var waiters = CircularBuffer<any PoolWaiter>()
    private var opening = 0
    private var janitor: RepeatedTask?
    /// Server connection IDs, unique in the process (SHOW SERVERS).
    private static let serverIDs = Atomic<Int>(0)
    private(set) var lastConnectError: String?
    /// Statistics, counted by the clients of this partition on its loop.
    var counters = PoolCounters()
    /// Logged-in clients of this partition.
    var clients = 0
    /// What the pool's clients are told at login, by startup settings.
    var loginReplies = LoginReplies()

    init(index: Int, eventLoop: any EventLoop, pool: Pool, settings: PoolSettings, logger: Logger) {
        self.index = index
        self.eventLoop = eventLoop
        self.pool = pool
        self.settings = settings
        self.logger = logger
    }

    func start() {
        eventLoop.execute { self.startJanitor() }
    }

    // MARK: checkout and checkin

    /// The most recently used idle server, if any.
    @inline(__always)
    func takeIdle() -> ServerConnection? {
        if pool.paused.load(ordering: .relaxed) { return nil }
        while let server = idle.popLast() {
            if server.isClosed { continue }
            if server.expired(at: clock) || isStale(server) {
                server.close()
                continue
            }
            return server
        }
        return nil
    }

    /// Queues `client` until a server is free for it (`client.serverAssigned`).
    func enqueue(_ client: any PoolWaiter) {
        waiters.append(client)
        pool.waitingClients.add(1, ordering: .relaxed)
        openForWaiters()
    }

    /// Forgets a waiting client (it left, or its wait timed out).
    func cancelWait(for client: any PoolWaiter) {
        guard let position = waiters.firstIndex(where: { $0 === client }) else { return }
        waiters.remove(at: position)
        pool.waitingClients.subtract(1, ordering: .relaxed)
    }

    /// A server is free again (its client is done, or it just logged in).
    func checkin(_ server: ServerConnection) {
        guard !server.isClosed else { return }
        if pool.paused.load(ordering: .relaxed), !server.expired(at: clock), !isStale(server),
           let position = waiters.firstIndex(where: \.awaitsLogin) {
            let client = waiters.remove(at: position)
            pool.waitingClients.subtract(1, ordering: .relaxed)
            client.serverAssigned(server)
            return
        }
        if server.expired(at: clock) || isStale(server) || pool.paused.load(ordering: .relaxed) {
            server.close()
            return
        }
        if let client = waiters.popFirst() {
            pool.waitingClients.subtract(1, ordering: .relaxed)
            client.serverAssigned(server)
            return
        }
        if pool.waitingClients.load(ordering: .relaxed) > 0, pool.isFull {
            // Clients of another loop wait for a budget this one holds idle: give it back.
            server.close()
            return
        }
        idle.append(server)
    }

    func serverClosed(_ server: ServerConnection) {
        guard servers.removeValue(forKey: ObjectIdentifier(server)) != nil else { return }
        if let position = idle.firstIndex(where: { $0 === server }) { idle.remove(at: position) }
        pool.returnConnection(from: self)
        openForWaiters()
    }

    // MARK: opening connections

    /// Opens connections for clients that wait and are not already covered by one being opened.
    func openForWaiters() {
        var needed = waiters.count - opening
        if pool.paused.load(ordering: .relaxed) {
            // Paused, a pool still logs in once for a new pool's first clients: that login tells
            // pgproxy what to report to them, and they can connect and wait for RESUME.
            needed = opening == 0 && waiters.contains(where: \.awaitsLogin) ? 1 : 0
        }
        while needed > 0 {
            guard pool.reserveConnection() else {
                pool.requestIdleConnection(for: self)
                return
            }
            open()
            needed -= 1
        }
    }

    func releaseIdleIfUnneeded() {
        guard waiters.isEmpty, let server = idle.popLast() else { return }
        server.close()
    }

    /// Opens one connection; the budget is already reserved.
    private func open() {
        opening += 1
        let serverID = Self.serverIDs.add(1, ordering: .relaxed).newValue
        let settings: PoolSettings = self.settings
        let started = NIODeadline.now()
        let server = ServerConnection(
            id: serverID, address: settings.address, partition: self, lifetime: settings.lifetime,
            generation: pool.generation.load(ordering: .relaxed)
        ) { [self] server, error in
            opening -= 1
            if let error {
                if servers.removeValue(forKey: ObjectIdentifier(server)) != nil { pool.returnConnection(from: self) }
                connectFailed(error)
            } else {
                lastConnectError = nil
                let seconds = Double((NIODeadline.now() - started).nanoseconds) / 1e9
                pool.backendStatus.connected(database: pool.key.database, address: settings.address, seconds: seconds)
                checkin(server)
            }
        }
        servers[ObjectIdentifier(server)] = server
        let connected: (Result<Void, any Error>) -> Void = { [self] result in
            switch result {
            case .success:
                var credentials = settings.credentials
                if let keys = pool.scramKeys { credentials.scramKeys = (keys.clientKey, keys.serverKey) }
                server.beginLogin(credentials: credentials, tls: settings.address.tls(settings.tls), timeout: settings.connectTimeout)
            case .failure(let error):
                servers.removeValue(forKey: ObjectIdentifier(server))
                opening -= 1
                pool.returnConnection(from: self)
                connectFailed(error)
            }
        }
        if let loop = eventLoop as? EpollLoop {
            RawConnect.start(settings.address, on: loop, timeout: settings.connectTimeout) { result in
                switch result {
                case .success(let socket):
                    connected(server.start(on: socket) ? .success(()) : .failure(IOError(errnoCode: EBADF, reason: "epoll_ctl")))
                case .failure(let error):
                    connected(.failure(error))
                }
            }
            return
        }
        ClientBootstrap(group: eventLoop)
            .connectTimeout(settings.connectTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(server) }
            }
            .connect(to: settings.address, noDelay: true)
            .whenComplete { result in connected(result.map { _ in () }) }
    }

    private func connectFailed(_ error: any Error) {
        let reason = "could not connect to server \(settings.address) for database \"\(pool.key.database)\": \(error)"
        lastConnectError = reason
        pool.backendStatus.connectFailed(database: pool.key.database, address: settings.address, error: "\(error)")
        logger.warning("\(reason)")
        let backend = pool.backend
        if backend.role != .primary, settings.banTime > .zero, backend.ban(for: settings.banTime) {
            logger.warning("host \(backend.address) of database \(backend.database) gets no reads for \(settings.banTime.nanoseconds / 1_000_000_000)s (ban_time)")
        }
        // Clients only wait for nothing when no connection can ever come back to them.
        guard servers.isEmpty, opening == 0 else { return }
        let failed = waiters
        waiters.removeAll()
        pool.waitingClients.subtract(failed.count, ordering: .relaxed)
        for client in failed where !client.reroute(awayFrom: backend) {
            client.waitFailed(ErrorFields(.fatal, SQLState.cannotConnect, reason))
        }
    }

    // MARK: the janitor

    private func startJanitor() {
        // Captured strongly (a weak reference would slow every retain of the partition); the
        // cycle ends when closeAll cancels the task.
        // Often enough to time out waiting clients close to query_wait_timeout.
        var period = TimeAmount.seconds(1)
        if let wait = settings.queryWaitTimeout { period = .nanoseconds(max(min(period.nanoseconds, wait.nanoseconds / 4), 10_000_000)) }
        janitor = eventLoop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
            self.runJanitor()
        }
    }

    /// Times out clients that waited longer than query_wait_timeout (the queue is in arrival
    /// order, so only its head needs looking at), closes connections idle too long or too old,
    /// and keeps `min_pool_size` open (partition 0). One timer per partition instead of one per wait.
    private func runJanitor() {
        let now = NIODeadline.now()
        clock = now
        if let timeout = settings.queryWaitTimeout {
            while let first = waiters.first, first.waitingSince + timeout < now {
                waiters.removeFirst()
                pool.waitingClients.subtract(1, ordering: .relaxed)
                first.waitTimedOut()
            }
        }
        // A pool made smaller by a reload gives up idle connections beyond its new size.
        var excess = pool.openConnectionCount - settings.size
        while excess > 0, let server = idle.first {
            idle.removeFirst()
            server.close()
            excess -= 1
        }
        let keep = index == 0 && !pool.paused.load(ordering: .relaxed) ? settings.minSize : 0
        var remaining = servers.count
        // The front of `idle` holds the least recently used connections.
        // Closed after the list is rewritten: closing can call back into serverClosed.
        var retired: [ServerConnection] = []
        idle.removeAll { server in
            let tooOld = server.expired(at: now)
            let idleTooLong = settings.idleTimeout.map { server.lastUsedAt + $0 < now } ?? false
            guard tooOld || (idleTooLong && remaining > keep) else { return false }
            remaining -= 1
            retired.append(server)
            return true
        }
        for server in retired { server.close() }
        if servers.count < keep, waiters.isEmpty {
            for _ in servers.count..<keep {
                guard pool.reserveConnection() else { break }
                open()
            }
        }
    }

    /// Whether `server` belongs to a generation RECONNECT or a reload has retired.
    @inline(__always)
    private func isStale(_ server: ServerConnection) -> Bool {
        server.generation != pool.generation.load(ordering: .relaxed)
    }

    /// Takes settings from a reloaded config (the pool has already changed its budget).
    func apply(settings new: PoolSettings) {
        let periodChanged = new.queryWaitTimeout != settings.queryWaitTimeout
        settings = new
        if periodChanged {
            janitor?.cancel()
            startJanitor()
        }
        closeStaleIdle()
        openForWaiters()
    }

    /// Closes idle connections that are stale, or all of them while the pool is paused.
    func closeStaleIdle() {
        let paused = pool.paused.load(ordering: .relaxed)
        var retired: [ServerConnection] = []
        idle.removeAll { server in
            guard paused || isStale(server) else { return false }
            retired.append(server)
            return true
        }
        for server in retired { server.close() }
    }

    /// After RESUME: hand idle connections to waiting clients and open more if needed.
    func serveWaiters() {
        while !waiters.isEmpty, let server = takeIdle() {
            checkin(server)
        }
        openForWaiters()
    }

    /// Drops every client and server of this partition (KILL).
    func killAll(_ error: ErrorFields) {
        let waiting = waiters
        waiters.removeAll()
        pool.waitingClients.subtract(waiting.count, ordering: .relaxed)
        for client in waiting { client.waitFailed(error) }
        for server in servers.values { server.close() }
    }

    func closeAll() {
        janitor?.cancel()
        for server in idle { server.close() }
        idle.removeAll()
    }
}
