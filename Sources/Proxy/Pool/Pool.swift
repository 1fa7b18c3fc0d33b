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
}

/// The server connections of one (database, user), split into one partition per event loop so
/// that a client and its server always share a loop and the data path takes no locks. The pool
/// size is a budget shared by the partitions through an atomic counter. (`@unchecked`: each
/// partition is touched only on its own loop; everything shared is atomic or locked.)
final class Pool: @unchecked Sendable {
    let key: PoolKey
    let settings: PoolSettings
    let partitions: [PoolPartition]
    private let loopIDs: [ObjectIdentifier]
    private let openConnections = Atomic<Int>(0)
    /// Clients waiting in any partition; lets a partition see that another one needs capacity.
    let waitingClients = Atomic<Int>(0)
    /// ParameterStatus values from the first server login: what new clients are told at login.
    private let learnedParameters = Mutex<[String: String]?>(nil)
    private let recoveredSCRAMKeys = Mutex<ServerSCRAMKeys?>(nil)

    init(key: PoolKey, settings: PoolSettings, loops: [any EventLoop], logger: Logger) {
        self.key = key
        self.settings = settings
        self.loopIDs = loops.map { ObjectIdentifier($0) }
        var logger = logger
        logger[metadataKey: "pool"] = "\(key)"
        let partitions = loops.enumerated().map { PoolPartition(index: $0.offset, eventLoop: $0.element, logger: logger) }
        self.partitions = partitions
        for partition in partitions { partition.attach(to: self) }
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
        while current < settings.size {
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
            other.eventLoop.execute { other.openForWaiters() }
        }
    }

    /// Asks the other partitions to give back an idle connection for a partition whose clients wait.
    func requestIdleConnection(for partition: PoolPartition) {
        for other in partitions where other !== partition {
            other.eventLoop.execute { other.releaseIdleIfUnneeded() }
        }
    }

    var openConnectionCount: Int { openConnections.load(ordering: .relaxed) }

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
        for partition in partitions { partition.eventLoop.execute { partition.closeAll() } }
    }
}

struct ServerSCRAMKeys: Sendable {
    var clientKey: [UInt8]
    var serverKey: [UInt8]
}
