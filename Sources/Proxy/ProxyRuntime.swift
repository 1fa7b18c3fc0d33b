import Logging
import NIOCore
import Synchronization

/// What every client session shares: the config snapshot, the pools, the cancel keys and the
/// client counts. Read on login and at transaction boundaries, never per message.
final class ProxyRuntime: @unchecked Sendable {
    let loops: [any EventLoop]
    let logger: Logger
    let cancelRegistry = CancelRegistry()
    let backendStatus = BackendStatus()
    let snapshot: Mutex<ConfigSnapshot>
    /// Every pool, one per (database, user, host).
    let pools = Mutex<[PoolID: Pool]>([:])
    /// Pools of hosts a reload removed, kept alive (their partitions and server connections
    /// refer to them) until their last connection and client are gone.
    let retiredPools = Mutex<[Pool]>([])
    /// The pools of each (database, user).
    let groups = Mutex<[PoolKey: PoolGroup]>([:])
    /// Every configured host, kept across reloads while configured.
    let backends = Mutex<[BackendStatus.Key: Backend]>([:])
    /// The hosts of each database, as the current config lists them.
    let topologies = Mutex<[String: DatabaseTopology]>([:])
    /// The plugin chain, loaded at start.
    var plugins = PluginChain.empty
    /// One router per event loop, in `loops` order.
    var routers: [Router] = []
    /// One per loop, like `routers`; each used on its loop only.
    var statementRegistries: [StatementRegistry] = []
    /// One per loop, like `routers`: its clients' login deadlines.
    var loginDeadlines: [LoginDeadlines] = []
    private let clientsPerUser = Mutex<[String: Int]>([:])
    let plainVerifiers = Mutex<[String: SCRAMVerifier]>([:])
    /// auth_query's cache, running and queued lookups.
    let authLookups = Mutex(AuthLookups())
    /// The TLS contexts of the configuration in force (`[tls]`), rebuilt by each reload.
    let tlsContexts = Mutex<TLSContexts?>(nil)
    let clientCount = Atomic<Int>(0)
    /// Connections that have not finished logging in (SHOW LISTS login_clients).
    let clientsLoggingIn = Atomic<Int>(0)
    /// Databases under PAUSE or KILL ("*" for all): pools made for them start paused.
    let pausedDatabases = Mutex<Set<String>>([])
    /// Databases refused to new clients (DISABLE).
    let disabledDatabases = Mutex<Set<String>>([])
    /// Outcomes of RELOAD, SIGHUP and autoreload.
    let reloads = Mutex(ReloadHistory())
    /// Totals at the start of the current stats period, and the averages of the last one.
    let statsPeriods = Mutex(StatsPeriods())
    /// When the process started (wall clock, seconds since 1970).
    let startTime = wallClockSeconds()
    /// Set by the server: stops pgproxy as SIGTERM would (`waitForClients`: as SHUTDOWN WAIT_FOR_CLIENTS).
    let shutdownHandler = Mutex<(@Sendable (_ waitForClients: Bool) -> Void)?>(nil)

    init(config: ProxyConfig, loops: [any EventLoop], logger: Logger) {
        self.snapshot = Mutex(ConfigSnapshot(config))
        self.loops = loops
        self.logger = logger
        rebuildTopologies(config: config)
    }

    var config: ProxyConfig { snapshot.withLock { $0.value } }
    /// The current config by reference: what a new client session keeps.
    var configSnapshot: ConfigSnapshot { snapshot.withLock { $0 } }

    /// The pools of (database, user), made on first use from the current config.
    func group(for key: PoolKey, identity: ClientLogin.Identity) -> PoolGroup {
        if let group = groups.withLock({ $0[key] }) { return group }
        let made = PoolGroup(key: key, layout: layout(for: key, user: identity.user, config: config), loops: loops)
        return groups.withLock { groups in
            if let existing = groups[key] { return existing }
            groups[key] = made
            return made
        }
    }

    /// The topology of `database` and a pool for each of its hosts (made when missing).
    func layout(for key: PoolKey, user: UserConfig, config: ProxyConfig) -> PoolGroup.Layout {
        let topology = topologies.withLock { $0[key.database] }
            ?? DatabaseTopology(name: key.database, backends: [], loadBalancing: .random)
        let pools = topology.backends.map { backend in
            pool(for: PoolID(key: key, address: backend.address)) {
                let settings = poolSettings(user: user, database: backend.config, config: config)
                let made = Pool(key: key, backend: backend, settings: settings, loops: loops, backendStatus: backendStatus, logger: logger)
                if isPaused(database: key.database) { made.paused.store(true, ordering: .relaxed) }
                return made
            }
        }
        return PoolGroup.Layout(topology: topology, pools: pools)
    }

    private func pool(for id: PoolID, make: () -> Pool) -> Pool {
        if let pool = pools.withLock({ $0[id] }) { return pool }
        let made = make()
        return pools.withLock { pools in
            if let existing = pools[id] { return existing }
            pools[id] = made
            return made
        }
    }

    var allPools: [Pool] { pools.withLock { Array($0.values) } }

    /// The router of `loop`'s clients.
    func router(for loop: any EventLoop) -> Router { routers[loopIndex(loop, of: routers.count)] }

    /// The named statements of `loop`'s clients and servers.
    func statementRegistry(for loop: any EventLoop) -> StatementRegistry {
        statementRegistries[loopIndex(loop, of: statementRegistries.count)]
    }

    /// The login deadlines of `loop`'s clients.
    func loginDeadlines(for loop: any EventLoop) -> LoginDeadlines {
        loginDeadlines[loopIndex(loop, of: loginDeadlines.count)]
    }

    private func loopIndex(_ loop: any EventLoop, of count: Int) -> Int {
        let id = ObjectIdentifier(loop)
        for (index, candidate) in loops.enumerated() where ObjectIdentifier(candidate) == id && index < count { return index }
        return 0
    }

    func poolSettings(user: UserConfig, database: DatabaseConfig, config: ProxyConfig) -> PoolSettings {
        let general = config.general
        func optional(_ milliseconds: Int64) -> TimeAmount? { milliseconds > 0 ? .milliseconds(milliseconds) : nil }
        return PoolSettings(
            mode: config.poolMode(user: user.name, database: database.name),
            size: user.poolSize ?? database.poolSize ?? general.defaultPoolSize,
            minSize: user.minPoolSize ?? database.minPoolSize ?? general.minPoolSize,
            address: BackendAddress(host: database.host, port: database.port),
            credentials: user.serverCredentials(database: database.databaseName),
            resetQuery: general.serverResetQuery,
            resetQueryAlways: general.serverResetQueryAlways,
            idleTimeout: optional(general.serverIdleTimeout),
            lifetime: optional(general.serverLifetime),
            queryWaitTimeout: optional(general.queryWaitTimeout),
            connectTimeout: .milliseconds(max(general.serverConnectTimeout, 1)),
            banTime: .milliseconds(general.banTime),
            tls: tlsContexts.withLock { $0 })
    }

    /// Counts a logged-in client against the global and per-user limits.
    func admitClient(user: UserConfig) -> Bool {
        let limit = config.general.maxClientConnections
        guard clientCount.add(1, ordering: .relaxed).newValue <= limit else {
            clientCount.subtract(1, ordering: .relaxed)
            return false
        }
        let admitted = clientsPerUser.withLock { counts in
            let current = counts[user.name, default: 0]
            if let max = user.maxClientConnections, current >= max { return false }
            counts[user.name] = current + 1
            return true
        }
        if !admitted { clientCount.subtract(1, ordering: .relaxed) }
        return admitted
    }

    func clientLeft(user: UserConfig) {
        clientCount.subtract(1, ordering: .relaxed)
        clientsPerUser.withLock { $0[user.name, default: 1] -= 1 }
    }

    /// A SCRAM verifier for a clear-text password, with a salt chosen once per process, so a
    /// client can use SCRAM even when users.toml holds the password in clear.
    func verifierForPlain(user: String, password: String) -> SCRAMVerifier {
        let key = user + "\u{0}" + password
        if let known = plainVerifiers.withLock({ $0[key] }) { return known }
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let verifier = SCRAMVerifier.make(password: password, salt: salt, iterations: 4096)
        return plainVerifiers.withLock { verifiers in
            if let known = verifiers[key] { return known }
            verifiers[key] = verifier
            return verifier
        }
    }
}
