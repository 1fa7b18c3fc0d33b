import NIOCore

/// Reads that need every shard: the statement runs on one server of each shard and the client
/// gets the merged answer (see `ShardFanout`).
extension ClientSession {
    /// Cross-shard answers are gathered whole before they are merged; beyond this they are refused.
    static let fanoutLimit = 256 * 1_048_576

    func startFanout(
        _ batch: ByteBuffer, role: BackendRoleChoice, write: Bool, copies: Bool, tables: [String], topology: DatabaseTopology, responses: Int
    ) {
        guard let groupPart, let statement = Self.singleQueryText(batch) else {
            finishLocalAnswer(LocalAnswer.reply(to: batch, content: .error(ErrorFields(.error, SQLState.featureNotSupported,
                "a cross-shard statement must be one simple Query")), status: .idle), responses: responses)
            return
        }
        let plan: MergePlan
        let shardText: String
        switch write ? .plan(MergePlan(targets: [], sort: [], groupBy: [], distinct: false, limit: nil, offset: 0, hiddenColumns: 0), shardText: statement)
                     : routing?.router.mergePlans.plan(for: statement) ?? MergePlan.make(statement) {
        case .refused(let reason):
            let error = ErrorFields(.error, SQLState.featureNotSupported,
                "the statement needs every shard of database \"\(topology.name)\" and its answers cannot be merged: \(reason)",
                hint: "give a sharding key (in the WHERE clause, with SET SHARDING KEY or SET SHARD) so that one shard answers")
            finishLocalAnswer(LocalAnswer.reply(to: batch, content: .error(error), status: .idle), responses: responses)
            return
        case .plan(let made, let text):
            plan = made
            shardText = text
        }
        guard let partitions = shardPartitions(role: role, shards: Array(0..<topology.shardCount), groupPart, batch, responses: responses) else { return }
        let fanout = write
            ? ShardFanout(client: self, writes: Array(repeating: shardText, count: partitions.count), copies: copies, limit: Self.fanoutLimit)
            : ShardFanout(client: self, plan: plan, statement: shardText, tables: tables, shards: partitions.count, limit: Self.fanoutLimit)
        self.fanout = fanout
        // Bytes the client sends meanwhile wait in `pending`, routed once the answer is out.
        waiting = true
        fanout.start(partitions: partitions)
    }

    /// A server of each of `shards` for `role`; nil (the client told why) when a shard has none.
    private func shardPartitions(
        role: BackendRoleChoice, shards: [Int], _ groupPart: GroupPartition, _ batch: ByteBuffer, responses: Int
    ) -> [PoolPartition]? {
        let topology = groupPart.topology
        var partitions: [PoolPartition] = []
        for shard in shards {
            guard let backend = topology.select(role: role, shard: shard), let partition = groupPart.partition(of: backend) else {
                let error = ErrorFields(.error, SQLState.cannotConnectNow,
                    "shard \(shard) of database \"\(topology.name)\" has no \(role == .primary ? "primary" : "host that can take the statement") now",
                    hint: "pgproxy finds the new primary on its next health check")
                finishLocalAnswer(LocalAnswer.reply(to: batch, content: .error(error), status: .idle), responses: responses)
                return nil
            }
            partitions.append(partition)
        }
        return partitions
    }

    /// The merged answer (or the error) is ready, with its ReadyForQuery.
    func fanoutFinished(_ reply: ByteBuffer) {
        fanout = nil
        waiting = false
        setReadsPaused(false)  // paused for a shard server that could not take COPY data
        finishLocalAnswer(reply, responses: 1)
        if shutdownRequested { return closeForShutdown() }
        setPausedForServer(false)
        guard let routing, !pending.isEmpty else { return }
        // What the client sent during the cross-shard statement goes through routing now.
        var held: [ByteBuffer] = []
        while let buffer = pending.popFirst() { held.append(buffer) }
        pendingBytes = 0
        for (index, buffer) in held.enumerated() {
            hold(buffer, routing, atBoundary: index < held.count - 1 || atMessageBoundary)
        }
    }
}

extension ClientSession {
    /// A multi-row INSERT whose rows belong to different shards: each shard gets the INSERT with
    /// its own rows, all in transactions committed together (see `ShardFanout`).
    func startSplitInsert(_ batch: ByteBuffer, rowShards: [Int], topology: DatabaseTopology, responses: Int) {
        func refuse(_ message: String) {
            let error = ErrorFields(.error, SQLState.featureNotSupported, message,
                                    hint: "insert the rows of each shard in a statement of their own")
            finishLocalAnswer(LocalAnswer.reply(to: batch, content: .error(error), status: .idle), responses: responses)
        }
        guard let groupPart, let statement = Self.singleQueryText(batch), let values = InsertValues.split(statement),
              values.rows.count == rowShards.count else {
            return refuse("the rows of this INSERT belong to different shards, and pgproxy could not split its VALUES list")
        }
        let shards = Array(Set(rowShards)).sorted()
        guard let partitions = shardPartitions(role: .primary, shards: shards, groupPart, batch, responses: responses) else { return }
        let statements = shards.map { shard in values.statement(rows: rowShards.indices.filter { rowShards[$0] == shard }) }
        let fanout = ShardFanout(client: self, writes: statements, limit: Self.fanoutLimit)
        self.fanout = fanout
        waiting = true
        fanout.start(partitions: partitions, shards: shards)
    }
}

extension ClientSession {
    /// COPY FROM STDIN into a sharded table: every shard runs the COPY and gets the rows whose
    /// key is its own (see `ShardCopy`); into an omnisharded table, every row goes everywhere.
    func startShardCopy(_ batch: ByteBuffer, info: StatementInfo, topology: DatabaseTopology, responses: Int) {
        func refuse(_ message: String, hint: String? = nil) {
            let error = ErrorFields(.error, SQLState.featureNotSupported, message, hint: hint)
            finishLocalAnswer(LocalAnswer.reply(to: batch, content: .error(error), status: .idle), responses: responses)
        }
        let oneShard = "load the rows of each shard with SET SHARD TO '<n>' and COPY"
        guard let groupPart, let routing, let text = Self.singleQueryText(batch) else {
            return refuse("a COPY into a sharded table must be one simple Query", hint: oneShard)
        }
        let statement: CopyFromStatement
        switch CopyFromStatement.make(text) {
        case .refused(let reason):
            return refuse("pgproxy cannot split this COPY among the shards of database \"\(topology.name)\": \(reason)", hint: oneShard)
        case .statement(let made):
            statement = made
        }
        let table = topology.sharding.shardedTable(named: statement.table)
        guard table != nil || topology.sharding.isOmnisharded(statement.table) else {
            return refuse("COPY into \(statement.table) needs every shard of database \"\(topology.name)\", but it is no sharded table", hint: oneShard)
        }
        guard statement.fromStdin else {
            return refuse("COPY FROM a file or program into sharded table \(statement.table) is read by one server; pgproxy splits only COPY FROM STDIN among shards",
                          hint: "send the data with COPY FROM STDIN (psql's \\copy does)")
        }
        if let table, !statement.columns.isEmpty, !statement.columns.contains(table.column) {
            return refuse("COPY into sharded table \(statement.table) must include its sharding key column \"\(table.column)\"")
        }
        let shards = topology.shardCount
        guard let partitions = shardPartitions(role: .primary, shards: Array(0..<shards), groupPart, batch, responses: responses) else { return }
        let fanout = ShardFanout(client: self, copy: text, probe: table != nil && statement.columns.isEmpty ? statement.columnProbe : nil,
                                 shards: shards, copies: table == nil, limit: Self.fanoutLimit)
        let router = table.map { table in
            CopyRowRouter(chain: routing.chain, info: info, table: table, shardCount: shards, query: text,
                          user: routing.user, database: routing.database,
                          applicationName: routing.applicationName(from: parameters))
        }
        let copy = ShardCopy(client: self, fanout: fanout, statement: statement, table: table, router: router,
                             shardCount: shards, maximumMessage: config.general.maxPacketSize)
        fanout.copy = copy
        self.fanout = fanout
        shardCopy = copy
        waiting = true
        fanout.start(partitions: partitions)
    }

    func shardCopyEnded() { shardCopy = nil }
}
