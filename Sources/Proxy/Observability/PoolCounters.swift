/// Totals a pool partition counts on its own event loop: plain integers, written only by that
/// loop, read by the admin console and the exporter through a task on the same loop, and summed
/// over partitions on demand. Times are microseconds.
struct PoolCounters: Sendable, Equatable {
    /// Transactions that ended (ReadyForQuery 'I' after the client's last statement).
    var transactions: UInt64 = 0
    /// Statements answered: one per Query, Sync or FunctionCall.
    var queries: UInt64 = 0
    /// Times a client was given a server connection.
    var serverAssignments: UInt64 = 0
    /// Bytes received from clients.
    var bytesReceived: UInt64 = 0
    /// Bytes sent to clients.
    var bytesSent: UInt64 = 0
    /// Time from a transaction's first statement to its end.
    var transactionMicros: UInt64 = 0
    /// Time from sending statements to the server until the last answer.
    var queryMicros: UInt64 = 0
    /// Time clients waited for a server connection.
    var waitMicros: UInt64 = 0
    /// ErrorResponses sent to clients, the server's and pgproxy's own.
    var errors: UInt64 = 0

    static func + (lhs: PoolCounters, rhs: PoolCounters) -> PoolCounters {
        var sum = lhs
        sum.transactions &+= rhs.transactions
        sum.queries &+= rhs.queries
        sum.serverAssignments &+= rhs.serverAssignments
        sum.bytesReceived &+= rhs.bytesReceived
        sum.bytesSent &+= rhs.bytesSent
        sum.transactionMicros &+= rhs.transactionMicros
        sum.queryMicros &+= rhs.queryMicros
        sum.waitMicros &+= rhs.waitMicros
        sum.errors &+= rhs.errors
        return sum
    }

    /// What was counted since `earlier` (counters only grow; a reset pool counts from zero).
    func since(_ earlier: PoolCounters) -> PoolCounters {
        func delta(_ now: UInt64, _ then: UInt64) -> UInt64 { now >= then ? now - then : now }
        return PoolCounters(
            transactions: delta(transactions, earlier.transactions),
            queries: delta(queries, earlier.queries),
            serverAssignments: delta(serverAssignments, earlier.serverAssignments),
            bytesReceived: delta(bytesReceived, earlier.bytesReceived),
            bytesSent: delta(bytesSent, earlier.bytesSent),
            transactionMicros: delta(transactionMicros, earlier.transactionMicros),
            queryMicros: delta(queryMicros, earlier.queryMicros),
            waitMicros: delta(waitMicros, earlier.waitMicros),
            errors: delta(errors, earlier.errors))
    }
}
