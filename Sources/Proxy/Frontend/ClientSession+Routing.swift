import NIOCore
import PluginABI

extension ClientSession {
    /// Keeps `buffer` with the batch being held, and routes the batch once it is complete.
    func hold(_ buffer: ByteBuffer, _ routing: ClientRouting, atBoundary: Bool) {
        let complete = atBoundary && (routing.batchEnded || !routing.batchHasStatement)
        if complete, pending.isEmpty {
            // The usual case: the whole batch came in one read, and need not wait in `pending`.
            routeHeldBatch(buffer, routing)
            return
        }
        pending.append(buffer)
        pendingBytes += buffer.readableBytes
        routing.holding = true
        if complete || pendingBytes > Self.pendingLimit {
            var batch = pending.popFirst() ?? ByteBuffer()
            while var more = pending.popFirst() { batch.writeBuffer(&more) }
            pendingBytes = 0
            routeHeldBatch(batch, routing)
        } else {
            keepPendingCompact()
        }
    }

    private func routeHeldBatch(_ batch: ByteBuffer, _ routing: ClientRouting) {
        let hasStatement = routing.batchHasStatement
        let responses = routing.batchResponses
        routing.resetBatch()
        guard hasStatement, let groupPart else {
            forward(batch, to: nil)
            return
        }
        let topology = groupPart.topology
        if topology.isSharded, answerDeferredTransaction(batch, routing, responses: responses) { return }
        let deferred: Bool
        if case .begun = routing.deferred { deferred = true } else { deferred = false }
        let inTransaction = deferred || server.map { $0.transactionStatus != .idle } ?? false
        let client = Router.Client(
            names: routing.pluginNames(from: parameters),
            session: routing.session, inTransaction: inTransaction, attached: server != nil,
            shard: topology.isSharded ? routing.backend.map { topology.shard(of: $0) } : nil)
        switch routing.router.route(batch, client: client, topology: topology) {
        case .forward(let backend, let info):
            if let info {
                if info.isWrite { routing.session.transactionHasWritten = true }
                if info.has(PGPROXY_FLAG_READ_ONLY_BEGIN) { routing.session.transactionReadOnly = true }
            }
            forward(batch, to: backend)
        case .hint(let hint):
            switch hint {
            case .serverRole(let role): routing.session.roleHint = role
            case .shardingKey(let key): routing.session.shardingKey = key
            case .shard(let shard): routing.session.shard = shard
            case .invalid(let message):
                answerLocally(batch, .error(ErrorFields(.error, SQLState.invalidParameterValue, message)), responses: responses)
                return
            }
            let isReset = Self.singleQueryText(batch).map { $0.drop { $0.isWhitespace }.lowercased().hasPrefix("reset") } ?? false
            answerLocally(batch, .commandTag(isReset ? "RESET" : "SET"), responses: responses)
        case .block(let error):
            logger.info("statement of \(routing.user)@\(routing.database) blocked: \(error.message)")
            if deferred, server == nil {
                failDeferredTransaction(batch, error, routing, responses: responses)
            } else if inTransaction {
                // The server's transaction must fail too, as the client is told it did.
                forward(LocalAnswer.raisingQueries(error, count: responses), to: nil)
            } else {
                answerLocally(batch, .error(error), responses: responses)
            }
        case .intercept(let result):
            if outstanding > responses {
                // Answers to earlier statements are still on their way: ours must not overtake them.
                forward(batch, to: nil)
            } else {
                answerLocally(batch, .rows(result), responses: responses)
            }
        case .fanout(let role, let write, let copies, let tables):
            startFanout(batch, role: role, write: write, copies: copies, tables: tables, topology: topology, responses: responses)
        case .splitInsert(let rowShards):
            startSplitInsert(batch, rowShards: rowShards, topology: topology, responses: responses)
        case .copyIn(let info):
            startShardCopy(batch, info: info, topology: topology, responses: responses)
        case .unavailable(let error):
            if deferred, server == nil {
                failDeferredTransaction(batch, error, routing, responses: responses)
            } else {
                answerLocally(batch, .error(error), responses: responses)
            }
        }
    }

    /// Sends the batch to the server in use, or asks the pool of `backend` for one.
    private func forward(_ batch: ByteBuffer, to backend: Backend?) {
        if let server {
            send(batch, to: server)
            wroteToServer = true
            return
        }
        if let backend, let target = groupPart?.partition(of: backend), target !== partition {
            move(to: target)
        }
        pending.append(batch)
        pendingBytes = batch.readableBytes
        requestServer()
        if server == nil { keepPendingCompact() }
    }

    /// The client's next server comes from another host's pool.
    func move(to target: PoolPartition) {
        partition?.clients -= 1
        target.clients += 1
        partition = target
        statements?.partition = target
        pool = target.pool
    }

    /// Answers the batch without a server (block, intercept, pgproxy's SET commands).
    private func answerLocally(_ batch: ByteBuffer, _ content: LocalAnswer.Content, responses: Int) {
        let status: TransactionStatus
        if let server {
            status = server.transactionStatus
        } else if case .begun = routing?.deferred {
            status = .inTransaction
        } else {
            status = .idle
        }
        let reply = LocalAnswer.reply(to: batch, content: content, status: status)
        if case .error = content {} else { statements?.answeredLocally(batch) }
        finishLocalAnswer(reply, responses: responses)
    }

    /// Sends a reply pgproxy made for a batch that owed `responses` ReadyForQuery.
    func finishLocalAnswer(_ reply: ByteBuffer, responses: Int) {
        outstanding = max(outstanding - responses, 0)
        if server == nil {
            unsynced = false
            if outstanding == 0 {
                querySince = 0
                transactionSince = 0
            }
        }
        partition?.counters.queries &+= UInt64(responses)
        writeToClient(reply)
    }

    /// A pool's host failed to connect while this client waited: try another host that can serve
    /// the same role. Returns false when there is none (the caller fails the client).
    func reroute(awayFrom failed: Backend) -> Bool {
        guard routing != nil, server == nil, let groupPart, failed.role != .primary,
              let other = groupPart.topology.select(role: .replica, shard: groupPart.topology.shard(of: failed)),
              other !== failed, let target = groupPart.partition(of: other) else { return false }
        move(to: target)
        requestServerAfterReroute()
        return true
    }
}
