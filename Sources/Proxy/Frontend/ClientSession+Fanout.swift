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
                     : MergePlan.make(statement) {
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
        let now = NIODeadline.now().uptimeNanoseconds
        var partitions: [PoolPartition] = []
        for shard in 0..<topology.shardCount {
            guard let backend = topology.select(role: role, shard: shard, now: now), let partition = groupPart.partition(of: backend) else {
                let error = ErrorFields(.error, SQLState.cannotConnectNow,
                    "shard \(shard) of database \"\(topology.name)\" has no host that can take the statement now",
                    hint: "pgproxy finds the new primary on its next health check")
                finishLocalAnswer(LocalAnswer.reply(to: batch, content: .error(error), status: .idle), responses: responses)
                return
            }
            partitions.append(partition)
        }
        let fanout = write
            ? ShardFanout(client: self, writes: Array(repeating: shardText, count: partitions.count), copies: copies, limit: Self.fanoutLimit)
            : ShardFanout(client: self, plan: plan, statement: shardText, tables: tables, shards: partitions.count, limit: Self.fanoutLimit)
        self.fanout = fanout
        // Bytes the client sends meanwhile wait in `pending`, routed once the answer is out.
        waiting = true
        fanout.start(partitions: partitions)
    }

    /// The merged answer (or the error) is ready, with its ReadyForQuery.
    func fanoutFinished(_ reply: ByteBuffer) {
        fanout = nil
        waiting = false
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
        var partitions: [PoolPartition] = []
        var statements: [String] = []
        let now = NIODeadline.now().uptimeNanoseconds
        for shard in shards {
            guard let backend = topology.select(role: .primary, shard: shard, now: now), let partition = groupPart.partition(of: backend) else {
                let error = ErrorFields(.error, SQLState.cannotConnectNow, "shard \(shard) of database \"\(topology.name)\" has no primary now",
                                        hint: "pgproxy finds the new primary on its next health check")
                return finishLocalAnswer(LocalAnswer.reply(to: batch, content: .error(error), status: .idle), responses: responses)
            }
            partitions.append(partition)
            statements.append(values.statement(rows: rowShards.indices.filter { rowShards[$0] == shard }))
        }
        let fanout = ShardFanout(client: self, writes: statements, limit: Self.fanoutLimit)
        self.fanout = fanout
        waiting = true
        fanout.start(partitions: partitions, shards: shards)
    }
}
