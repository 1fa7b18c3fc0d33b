import NIOCore

/// How a client's wait for a server connection ends without one: failed, timed out, or moved
/// to another host's pool.
extension ClientSession {
    /// Called by the partition when no server can be had.
    func waitFailed(_ error: ErrorFields) {
        waiting = false
        refuse(error)
    }

    /// Called by the partition's janitor, which has already taken this client off its queue.
    func waitTimedOut() {
        guard waiting, let partition else { return }
        waiting = false
        let seconds = (partition.settings.queryWaitTimeout?.nanoseconds ?? 0) / 1_000_000_000
        var message = "pool \(partition.settings.credentials.database)/\(identity?.user.name ?? "") is exhausted: no server connection became free within \(seconds)s (query_wait_timeout)"
        if let reason = partition.lastConnectError { message += "; last connection error: \(reason)" }
        refuse(ErrorFields(.fatal, SQLState.tooManyConnections, message, hint: "raise pool_size or lower the number of concurrent transactions"))
    }

    /// Moves the last bytes in `pending` to a buffer of their own, for bytes that stay there past
    /// this read. A read hands over the event loop's one read buffer, and bytes kept in it would
    /// make the loop's next read allocate a new one (16 KiB). A buffer mostly full, or a slice
    /// (whose capacity is its length), is kept as it is.
    func keepPendingCompact() {
        guard let last = pending.last, last.capacity > 2 * last.readableBytes else { return }
        pending[pending.index(before: pending.endIndex)] = last.ownCopy()
    }

    /// The partition took this client off its queue to send it to another host's pool.
    func requestServerAfterReroute() {
        waiting = false
        requestServer()
    }
}
