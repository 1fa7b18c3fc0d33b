import NIOCore

/// What waits in a pool partition's queue for a server connection: a client, or one shard's leg
/// of a cross-shard statement.
protocol PoolWaiter: AnyObject {
    /// Waits for the login of a new pool (served even while the pool is paused).
    var awaitsLogin: Bool { get }
    /// In a partition's queue.
    var waiting: Bool { get set }
    /// When the wait began; the partition's janitor times it out after query_wait_timeout.
    var waitingSince: NIODeadline { get set }
    /// A server for the waiter, at once from the idle list or later.
    func serverAssigned(_ server: ServerConnection)
    /// The janitor took the waiter off the queue: it waited longer than query_wait_timeout.
    func waitTimedOut()
    /// No server can be had (the host cannot be reached, KILL).
    func waitFailed(_ error: ErrorFields)
    /// The host failed to connect: true when the waiter moved to another host's pool.
    func reroute(awayFrom failed: Backend) -> Bool
}

extension PoolWaiter {
    /// A server from `partition`: an idle one at once, else a place in its queue.
    @inline(__always)
    func requestServer(from partition: PoolPartition) {
        if let server = partition.takeIdle() {
            serverAssigned(server)
            return
        }
        waiting = true
        waitingSince = .now()
        partition.enqueue(self)
    }
}

extension ClientSession: PoolWaiter {}
