import NIOCore

/// What a partition reports to the admin console and the exporter: counts by state and the
/// statistics totals. Made on the partition's loop.
struct PartitionReport: Sendable {
    var counters = PoolCounters()
    var clientsActive = 0
    var clientsWaiting = 0
    var serversActive = 0
    var serversIdle = 0
    var serversTested = 0
    var serversLogin = 0
    /// When the client waiting longest started waiting; nil when none waits.
    var oldestWait: NIODeadline?

    static func + (lhs: PartitionReport, rhs: PartitionReport) -> PartitionReport {
        var sum = lhs
        sum.counters = lhs.counters + rhs.counters
        sum.clientsActive += rhs.clientsActive
        sum.clientsWaiting += rhs.clientsWaiting
        sum.serversActive += rhs.serversActive
        sum.serversIdle += rhs.serversIdle
        sum.serversTested += rhs.serversTested
        sum.serversLogin += rhs.serversLogin
        switch (lhs.oldestWait, rhs.oldestWait) {
        case let (left?, right?): sum.oldestWait = min(left, right)
        case let (nil, right): sum.oldestWait = right
        default: break
        }
        return sum
    }
}

/// One server connection as SHOW SERVERS lists it.
struct ServerRow: Sendable {
    var id: Int
    var state: String
    var address: BackendAddress
    var localAddress: SocketAddress?
    var connectedAt: NIODeadline
    var lastUsedAt: NIODeadline
    var remoteProcessID: Int32?
    var clientProcessID: Int32?
    var applicationName: String
    var closeNeeded: Bool
    /// Addresses of the connection and of its client, for ptr and link.
    var pointer: UInt
    var clientPointer: UInt?
}

/// An object's address, as PgBouncer shows its connections (ptr, link).
func objectAddress(_ object: AnyObject) -> UInt {
    UInt(bitPattern: Unmanaged.passUnretained(object).toOpaque())
}

extension PoolPartition {
    func report() -> PartitionReport {
        var report = PartitionReport(counters: counters, clientsWaiting: waiters.count, oldestWait: waiters.first?.waitingSince)
        report.clientsActive = max(clients - waiters.count, 0)
        for server in serverConnections {
            switch server.state {
            case .connecting, .negotiatingTLS, .loggingIn: report.serversLogin += 1
            case .idle: report.serversIdle += 1
            case .attached, .fanout: report.serversActive += 1
            case .internalQuery, .draining: report.serversTested += 1
            case .closed: break
            }
        }
        return report
    }

    func serverRows() -> [ServerRow] {
        serverConnections.map { server in
            let state: String
            switch server.state {
            case .connecting, .negotiatingTLS, .loggingIn: state = "login"
            case .idle: state = "idle"
            case .attached, .fanout: state = "active"
            case .internalQuery, .draining: state = "tested"
            case .closed: state = "closed"
            }
            return ServerRow(
                id: server.id, state: state, address: server.address, localAddress: server.localAddress,
                connectedAt: server.createdAt, lastUsedAt: server.lastUsedAt,
                remoteProcessID: server.backendKey?.processID, clientProcessID: server.client?.processID,
                applicationName: server.parameters["application_name"] ?? "",
                closeNeeded: server.generation != pool.generation.load(ordering: .relaxed) || server.expired(at: clock),
                pointer: objectAddress(server), clientPointer: server.client.map(objectAddress))
        }.sorted { $0.id < $1.id }
    }
}
