import NIOCore

/// A statement that needs every shard, in flight: it goes to one server of each shard at once.
/// A read's answers are gathered whole, merged by `ShardResultMerger` and sent to the client as
/// one answer. A write runs inside a transaction on each shard, and pgproxy commits them all
/// only when every shard succeeded (else rolls them all back), then sums the counts.
/// Lives on the client's event loop, as do the servers it borrows.
final class ShardFanout {
    private unowned let client: ClientSession
    /// How a read's answers are merged; nil for a write.
    let plan: MergePlan?
    /// A write to copies of the same rows: one shard's answer is the answer.
    private var copies = false
    /// What each shard runs, by shard: a read's statement (rewritten for LIMIT/OFFSET and avg,
    /// after the collation probe when `probesCollation`), or BEGIN and a write's statement.
    private let queries: [ByteBuffer]
    /// Each shard first says whether its text order is bytewise (`collationProbe`): text can be
    /// ordered here only then.
    let probesCollation: Bool
    private(set) var legs: [ShardLeg] = []
    private var finished = false
    /// Bytes gathered so far over all legs, against `limit`.
    private var gathered = 0
    let limit: Int

    /// A read: `statement` on every one of `shards` shards; `tables` are the relations it names.
    init(client: ClientSession, plan: MergePlan, statement: String, tables: [String], shards: Int, limit: Int) {
        self.client = client
        self.plan = plan
        // Only ordering compares text (ORDER BY, min, max); counts, sums and equality do not.
        probesCollation = !plan.sort.isEmpty || plan.targets.contains { target in
            if case .aggregate(let aggregate, _) = target { return aggregate == .min || aggregate == .max }
            return false
        }
        var query = ByteBuffer()
        query.writeQuery(probesCollation ? Self.collationProbe(tables: tables) + ";\n" + statement : statement)
        self.queries = Array(repeating: query, count: shards)
        self.limit = limit
    }

    /// A write: `statements[n]` on shard n, each in a transaction of its own. `copies`: the
    /// shards hold the same rows (omnisharded tables), so the answer is one shard's.
    init(client: ClientSession, writes statements: [String], copies: Bool = false, limit: Int) {
        self.client = client
        self.plan = nil
        self.copies = copies
        probesCollation = false
        queries = statements.map { statement in
            var query = ByteBuffer()
            query.writeQuery("BEGIN")
            query.writeQuery(statement)
            return query
        }
        self.limit = limit
    }

    var isWrite: Bool { plan == nil }

    func query(forSlot index: Int) -> ByteBuffer { queries[index] }

    /// A query answering `t` when text in `tables` sorts as its UTF-8 bytes: the database's
    /// default collation is libc's C, POSIX or C.UTF-8, and no column of those tables has
    /// another collation than the default, "C" or "POSIX".
    static func collationProbe(tables: [String]) -> String {
        let names = tables.map { name -> String in
            let relation = name.split(separator: ".").last.map(String.init) ?? name
            return "'" + relation.replacingOccurrences(of: "'", with: "''") + "'"
        }
        return "SELECT (SELECT datlocprovider = 'c' AND datcollate IN ('C', 'POSIX', 'C.UTF-8', 'C.utf8') FROM pg_database WHERE datname = current_database())"
            + " AND NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attnum > 0 AND attcollation NOT IN (0, 100, 950, 951)"
            + " AND attrelid IN (SELECT oid FROM pg_class WHERE relname = ANY (ARRAY[" + (names.isEmpty ? "NULL" : names.joined(separator: ", ")) + "]::name[])))"
    }

    /// Asks each partition (one per shard, of the shards numbered `shards`, all by default) for a
    /// server; the legs send their query when they get one.
    func start(partitions: [PoolPartition], shards: [Int]? = nil) {
        legs = partitions.enumerated().map { ShardLeg(fanout: self, slot: $0.offset, shard: shards?[$0.offset] ?? $0.offset, partition: $0.element) }
        for leg in legs where !finished { leg.requestServer() }
    }

    /// Applies the client's settings to a leg's server before the query runs there.
    func prepare(_ server: ServerConnection, then done: @escaping (ErrorFields?) -> Void) {
        client.applySettings(to: server, then: done)
    }

    func counted(_ bytes: Int) -> Bool {
        gathered += bytes
        return gathered <= limit
    }

    /// A leg has its whole answer.
    func legFinished() {
        guard !finished, legs.allSatisfy(\.isDone) else { return }
        guard let plan else { return concludeWrite() }
        finished = true
        var reply = ByteBuffer()
        if let failure = legs.lazy.compactMap(\.error).first {
            failure.write(into: &reply)
        } else if let error = ShardResultMerger.merge(
            legs.map(\.answer), plan: plan, textOrderIsBytewise: legs.allSatisfy { $0.collation == "t" }, into: &reply) {
            reply.clear()
            var error = error
            if error.sqlState == SQLState.featureNotSupported {
                error.message = "the statement needs every shard and its answers cannot be merged: " + error.message
                if error.hint == nil { error.hint = "give a sharding key (in the WHERE clause, with SET SHARDING KEY or SET SHARD) so that one shard answers" }
            }
            error.write(into: &reply)
        }
        reply.writeReadyForQuery(.idle)
        for leg in legs { leg.release() }
        client.fanoutFinished(reply)
    }

    /// Every shard ran the write: commit everywhere if it worked everywhere, else roll back.
    private func concludeWrite() {
        finished = true
        let commit = legs.allSatisfy { $0.error == nil }
        var remaining = legs.count
        var failedCommits: [(shard: Int, error: ErrorFields)] = []
        for leg in legs {
            leg.conclude(commit: commit) { [self] error in
                if let error { failedCommits.append((leg.shard, error)) }
                remaining -= 1
                guard remaining == 0 else { return }
                var reply = ByteBuffer()
                if !commit, let failure = legs.lazy.compactMap(\.error).first {
                    var failure = failure
                    if legs.count > 1 { failure.detail = "the statement was rolled back on every shard" }
                    failure.write(into: &reply)
                } else if let first = failedCommits.min(by: { $0.shard < $1.shard }) {
                    ErrorFields(.error, "40003",
                        "COMMIT failed on shard \(first.shard): \(first.error.message); the shards \(commit ? "that did not fail committed" : "rolled back")",
                        hint: "check the rows on each shard: a write to every shard is not atomic when a COMMIT fails").write(into: &reply)
                } else {
                    ShardWriteAnswer.merge(copies ? [legs[0].answer] : legs.map(\.answer), into: &reply)
                }
                reply.writeReadyForQuery(.idle)
                for leg in legs { leg.release() }
                client.fanoutFinished(reply)
            }
        }
    }

    /// A leg cannot finish (no server, the server died, too much data): the statement fails,
    /// and the other legs' servers go back once they have answered.
    func legFailed(_ error: ErrorFields) {
        guard !finished else { return }
        finished = true
        var reply = ByteBuffer()
        error.write(into: &reply)
        reply.writeReadyForQuery(.idle)
        for leg in legs { leg.abandon() }
        client.fanoutFinished(reply)
    }

    /// The client left: every server goes back, waits are given up.
    func cancel() {
        guard !finished else { return }
        finished = true
        for leg in legs { leg.abandon() }
    }
}

/// One shard's part of a `ShardFanout`: a wait for a server of that shard, then its answer.
final class ShardLeg: PoolWaiter {
    private unowned let fanout: ShardFanout
    /// The leg's place in the fanout (which query it sends), and the shard it runs on.
    let slot: Int
    let shard: Int
    let partition: PoolPartition
    private(set) var server: ServerConnection?
    private var framer = MessageFramer(maximumLength: 1 << 30)
    private(set) var answer = ShardAnswer(fields: [], rows: [], commandTag: "")
    /// The server's error for this shard, passed to the client as the statement's.
    private(set) var error: ErrorFields?
    private(set) var isDone = false
    private var waiting = false
    private(set) var waitingSince = NIODeadline.now()
    /// ReadyForQuery messages `server` still owes for what this leg wrote (a write's BEGIN and
    /// statement: two); a leg given up hands the count to the connection, which drains them.
    private var owedReady = 0
    private var owed: Bool { owedReady > 0 }
    /// The answer to the collation probe is still to come (see `ShardFanout.probesCollation`).
    private var probing = false
    private(set) var collation: String?

    /// A write's BEGIN is still to be answered: its messages are not the answer.
    private var beginning = false

    init(fanout: ShardFanout, slot: Int, shard: Int, partition: PoolPartition) {
        self.fanout = fanout
        self.slot = slot
        self.shard = shard
        self.partition = partition
    }

    var awaitsLogin: Bool { false }

    /// The server while it runs this leg's statement (the one a cancel goes to).
    var runningServer: ServerConnection? { owed ? server : nil }

    func requestServer() {
        if let server = partition.takeIdle() {
            serverAssigned(server)
            return
        }
        waiting = true
        waitingSince = .now()
        partition.enqueue(self)
    }

    func serverAssigned(_ server: ServerConnection) {
        waiting = false
        self.server = server
        fanout.prepare(server) { [self] error in
            guard self.server === server else { return }  // abandoned meanwhile
            if let error {
                fanout.legFailed(ErrorFields(.error, error.sqlState, error.message, detail: "while applying the client's settings on shard server \(server.address)"))
                return
            }
            server.attach(to: self)
            owedReady = fanout.isWrite ? 2 : 1
            probing = fanout.probesCollation
            beginning = fanout.isWrite
            partition.counters.serverAssignments &+= 1
            server.write(fanout.query(forSlot: slot))
            server.flush()
        }
    }

    func received(_ buffer: ByteBuffer) {
        guard owed, !isDone else { return }
        guard fanout.counted(buffer.readableBytes) else {
            fanout.legFailed(ErrorFields(.error, "54000",
                "the answers of the shards are larger than \(fanout.limit / 1_048_576) MiB; pgproxy gathers a cross-shard result whole before merging it",
                hint: "narrow the query with a sharding key, a LIMIT, or an aggregate"))
            return
        }
        framer.append(buffer)
        do {
            while let (id, body) = try framer.next() {
                if beginning {
                    if id == BackendID.errorResponse, error == nil { error = ErrorFields.decode(body: body) }
                    if id == BackendID.readyForQuery {
                        beginning = false
                        owedReady -= 1
                    }
                    continue
                }
                if probing {
                    if id == BackendID.dataRow, let value = ShardAnswer.readDataRow(body)?.first ?? nil {
                        collation = String(buffer: value)
                    }
                    if id == BackendID.commandComplete || id == BackendID.errorResponse { probing = false }
                    if id != BackendID.errorResponse { continue }
                }
                switch id {
                case BackendID.rowDescription:
                    answer.fields = ShardAnswer.readRowDescription(body) ?? []
                case BackendID.dataRow:
                    guard let row = ShardAnswer.readDataRow(body) else { throw MessageScanner.ScanError.invalidLength(id: id, length: Int32(body.readableBytes)) }
                    answer.rows.append(row)
                case BackendID.commandComplete:
                    var body = body
                    answer.commandTag = body.readNullTerminatedString() ?? ""
                case BackendID.errorResponse:
                    if error == nil { error = ErrorFields.decode(body: body) }
                case BackendID.readyForQuery:
                    owedReady -= 1
                    isDone = true
                default:
                    break  // notices, ParameterStatus (already recorded by the connection)
                }
            }
        } catch {
            fanout.legFailed(ErrorFields(.error, SQLState.protocolViolation, "shard server \(partition.settings.address) sent a malformed message"))
            return
        }
        if isDone { fanout.legFinished() }
    }

    func serverLost() {
        server = nil
        owedReady = 0
        guard !isDone else { return }
        fanout.legFailed(ErrorFields(.error, SQLState.connectionFailure,
            "the connection to shard server \(partition.settings.address) was lost during a cross-shard statement"))
    }

    /// A write's second step: COMMIT or ROLLBACK on this shard, then `done` with its error.
    func conclude(commit: Bool, done: @escaping (ErrorFields?) -> Void) {
        guard let server else {
            return done(ErrorFields(.error, SQLState.connectionFailure, "the connection to shard server \(partition.settings.address) was lost"))
        }
        server.runInternal(commit ? "COMMIT" : "ROLLBACK") { [self] error in
            if error != nil { self.server = nil }  // a connection whose COMMIT failed is not reused
            if error != nil { server.close() }
            done(error)
        }
    }

    /// Done: the server goes back to its pool.
    func release() {
        guard let server else { return }
        self.server = nil
        server.release(owed: 0, unsynced: false, resetQuery: nil)
    }

    /// Given up: a server still owing its answer drains it first; a wait is cancelled.
    func abandon() {
        if waiting {
            waiting = false
            partition.cancelWait(for: self)
        }
        isDone = true
        guard let server else { return }
        self.server = nil
        server.release(owed: owedReady, unsynced: false, resetQuery: nil)
        owedReady = 0
    }

    // MARK: PoolWaiter

    func waitTimedOut() {
        waiting = false
        let seconds = (partition.settings.queryWaitTimeout?.nanoseconds ?? 0) / 1_000_000_000
        fanout.legFailed(ErrorFields(.error, SQLState.tooManyConnections,
            "pool \(partition.settings.credentials.database) of shard server \(partition.settings.address) is exhausted: no server connection became free within \(seconds)s (query_wait_timeout)"))
    }

    func waitFailed(_ error: ErrorFields) {
        waiting = false
        fanout.legFailed(ErrorFields(.error, error.sqlState, error.message))
    }

    func reroute(awayFrom failed: Backend) -> Bool { false }
}
