import Logging
import NIOCore
import Synchronization

/// Identifies a pool: clients of one user on one database share its server connections.
struct PoolKey: Hashable, Sendable, CustomStringConvertible {
    var database: String
    var user: String
    var description: String { "\(database)/\(user)" }
}

/// What a pool needs to know from the config snapshot it was made with.
struct PoolSettings: Sendable {
    var mode: PoolMode
    var size: Int
    var minSize: Int
    var address: BackendAddress
    var credentials: ServerCredentials
    var resetQuery: String
    var resetQueryAlways: Bool
    var idleTimeout: TimeAmount?
    var lifetime: TimeAmount?
    var queryWaitTimeout: TimeAmount?
    var connectTimeout: TimeAmount
    /// How long a host that refuses connections gets no reads (`ban_time`); zero never bans.
    var banTime: TimeAmount = .zero
    /// TLS towards the server (`server_tls`), nil for plain text.
    var tls: TLSContexts?
}

/// The server connections of one (database, user), split into one partition per event loop so
/// that a client and its server always share a loop and the data path takes no locks. The pool
/// size is a budget shared by the partitions through an atomic counter. (`@unchecked`: each
/// partition is touched only on its own loop; everything shared is atomic or locked.)
final class Pool: @unchecked Sendable {
    let key: PoolKey
    private let currentSettings: Mutex<PoolSettings>
    /// `settings.size`, read on every connection open.
    private let size: Atomic<Int>
    /// Bumped when every existing server connection must be replaced (RECONNECT, a new address
    /// or credentials on reload); a connection of an older generation is closed once idle.
    let generation = Atomic<Int>(0)
    /// PAUSE or KILL: no server is handed out or opened, and released ones are closed.
    let paused = Atomic<Bool>(false)
    /// One per event loop; set once, in `init`.
    private(set) var partitions: [PoolPartition] = []
    private let loopIDs: [ObjectIdentifier]
    private let openConnections = Atomic<Int>(0)
    /// Clients waiting in any partition; lets a partition see that another one needs capacity.
    let waitingClients = Atomic<Int>(0)
    /// ParameterStatus values from the first server login: what new clients are told at login.
    private let learnedParameters = Mutex<[String: String]?>(nil)
    private let recoveredSCRAMKeys = Mutex<ServerSCRAMKeys?>(nil)

    /// Where connection attempts are recorded (SHOW BACKENDS, /metrics).
    let backendStatus: BackendStatus
    /// The host this pool connects to.
    let backend: Backend

    init(key: PoolKey, backend: Backend, settings: PoolSettings, loops: [any EventLoop], backendStatus: BackendStatus, logger: Logger) {
        self.key = key
        self.backend = backend
        self.backendStatus = backendStatus
        self.currentSettings = Mutex(settings)
        self.size = Atomic(settings.size)
        self.loopIDs = loops.map { ObjectIdentifier($0) }
        var logger = logger
        logger[metadataKey: "pool"] = "\(key)@\(backend.address)"
        partitions = loops.enumerated().map {
            PoolPartition(index: $0.offset, eventLoop: $0.element, pool: self, settings: settings, logger: logger)
        }
        for partition in partitions { partition.start() }
    }

    /// The partition that serves clients of `loop`.
    func partition(for loop: any EventLoop) -> PoolPartition {
        let id = ObjectIdentifier(loop)
        for (index, loopID) in loopIDs.enumerated() where loopID == id { return partitions[index] }
        return partitions[0]
    }

    /// Takes one connection from the budget, or returns false when the pool is full.
    func reserveConnection() -> Bool {
        var current = openConnections.load(ordering: .relaxed)
        let size = size.load(ordering: .relaxed)
        while current < size {
            let (exchanged, original) = openConnections.compareExchange(
                expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    func returnConnection(from partition: PoolPartition) {
        openConnections.subtract(1, ordering: .relaxed)
        guard waitingClients.load(ordering: .relaxed) > 0 else { return }
        for other in partitions where other !== partition {
            other.eventLoop.execute { withExtendedLifetime(self) { other.openForWaiters() } }
        }
    }

    /// Asks the other partitions to give back an idle connection for a partition whose clients wait.
    func requestIdleConnection(for partition: PoolPartition) {
        for other in partitions where other !== partition {
            other.eventLoop.execute { withExtendedLifetime(self) { other.releaseIdleIfUnneeded() } }
        }
    }

    var openConnectionCount: Int { openConnections.load(ordering: .relaxed) }

    /// Every connection of the budget is open (or opening).
    var isFull: Bool { openConnections.load(ordering: .relaxed) >= size.load(ordering: .relaxed) }

    var settings: PoolSettings { currentSettings.withLock { $0 } }

    /// Applies settings from a reloaded config. Connections to an old address, or logged in with
    /// old credentials, are replaced as soon as they are idle; the rest carry on.
    func update(settings new: PoolSettings) {
        let old = currentSettings.withLock { current in
            defer { current = new }
            return current
        }
        size.store(new.size, ordering: .relaxed)
        // A new pool mode too: transaction-mode connections hold pgproxy's statement names and
        // settings that session-mode clients must not meet.
        if old.address != new.address || !old.credentials.sameLogin(as: new.credentials) || old.mode != new.mode
            || Self.serverTLS(old.tls?.config) != Self.serverTLS(new.tls?.config) {
            generation.add(1, ordering: .relaxed)
        }
        for partition in partitions {
            partition.eventLoop.execute { withExtendedLifetime(self) { partition.apply(settings: new) } }
        }
    }

    /// What of `[tls]` a server connection was opened with: a change means new connections.
    private static func serverTLS(_ config: TLSConfig?) -> [String?] {
        guard let config else { return [] }
        return [config.serverTLS.rawValue, config.serverCACertificate, config.serverCertificate, config.serverPrivateKey]
    }

    /// Replaces every server connection: idle ones now, busy ones when released (RECONNECT).
    func reconnect() {
        generation.add(1, ordering: .relaxed)
        for partition in partitions { partition.eventLoop.execute { withExtendedLifetime(self) { partition.closeStaleIdle() } } }
    }

    /// PAUSE: stop handing out servers and close each one as it is released.
    func pause() {
        paused.store(true, ordering: .relaxed)
        for partition in partitions { partition.eventLoop.execute { withExtendedLifetime(self) { partition.closeStaleIdle() } } }
    }

    /// RESUME: serve the clients that waited.
    func resume() {
        paused.store(false, ordering: .relaxed)
        for partition in partitions { partition.eventLoop.execute { withExtendedLifetime(self) { partition.serveWaiters() } } }
    }

    var serverParameters: [String: String]? { learnedParameters.withLock { $0 } }

    func learn(parameters: [String: String]) {
        learnedParameters.withLock { if $0 == nil { $0 = parameters } }
    }

    /// SCRAM keys from a client's successful login, for logging in to servers with a stored secret.
    var scramKeys: ServerSCRAMKeys? {
        get { recoveredSCRAMKeys.withLock { $0 } }
        set { recoveredSCRAMKeys.withLock { $0 = newValue } }
    }

    func closeAll() {
        for partition in partitions { partition.eventLoop.execute { withExtendedLifetime(self) { partition.closeAll() } } }
    }
}

struct ServerSCRAMKeys: Sendable, Equatable {
    var clientKey: [UInt8]
    var serverKey: [UInt8]
}
