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
    /// Parse messages of clients (named and unnamed).
    var clientParses: UInt64 = 0
    /// Named statements prepared on server connections (a client's Parse, or one pgproxy sent
    /// before a Bind or Describe to a connection that lacked the statement).
    var serverParses: UInt64 = 0
    /// Bind messages of clients.
    var binds: UInt64 = 0
    /// Statements closed on a server connection to stay within prepared_statements_limit.
    var statementEvictions: UInt64 = 0

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
        sum.clientParses &+= rhs.clientParses
        sum.serverParses &+= rhs.serverParses
        sum.binds &+= rhs.binds
        sum.statementEvictions &+= rhs.statementEvictions
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
            errors: delta(errors, earlier.errors),
            clientParses: delta(clientParses, earlier.clientParses),
            serverParses: delta(serverParses, earlier.serverParses),
            binds: delta(binds, earlier.binds),
            statementEvictions: delta(statementEvictions, earlier.statementEvictions))
    }
}
