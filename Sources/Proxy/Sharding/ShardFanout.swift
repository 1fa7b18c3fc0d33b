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
    /// A COPY FROM STDIN split among the shards: `copy` feeds the legs the client's rows.
    let isCopy: Bool
    /// The COPY first lists its table's columns on each shard (no column list was given).
    let probesColumns: Bool
    /// Held until the fanout ends (answered, failed or cancelled), which breaks the cycle.
    var copy: ShardCopy?
    /// The client's COPY data has ended (CopyDone or CopyFail went to every shard).
    private(set) var copyEnded = false

    private(set) var legs: [ShardLeg] = []
    private var finished = false
    /// Bytes gathered so far over all legs, against `limit`.
    private var gathered = 0
    let limit: Int

    /// A read: `statement` on every one of `shards` shards; `tables` are the relations it names.
    init(client: ClientSession, plan: MergePlan, statement: String, tables: [String], shards: Int, limit: Int) {
        self.client = client
        self.plan = plan
        isCopy = false
        probesColumns = false
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
        isCopy = false
        probesColumns = false
        queries = statements.map { statement in
            var query = ByteBuffer()
            query.writeQuery("BEGIN")
            query.writeQuery(statement)
            return query
        }
        self.limit = limit
    }

    /// A COPY FROM STDIN on every one of `shards` shards, each in a transaction of its own;
    /// `probe` (a query listing the table's columns) runs first when given. `copies`: every
    /// shard gets every row (an omnisharded table).
    init(client: ClientSession, copy statement: String, probe: String?, shards: Int, copies: Bool, limit: Int) {
        self.client = client
        plan = nil
        self.copies = copies
        probesCollation = false
        isCopy = true
        probesColumns = probe != nil
        var query = ByteBuffer()
        query.writeQuery("BEGIN")
        query.writeQuery(probe.map { $0 + ";\n" + statement } ?? statement)
        queries = Array(repeating: query, count: shards)
        self.limit = limit
    }

    var isWrite: Bool { plan == nil }
    var probes: Bool { probesCollation || probesColumns }

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
        guard !finished else { return }
        if isCopy, !copyEnded, let ended = legs.first(where: \.isDone) {
            // A shard ended its COPY while the client's data still comes: the COPY fails.
            return legFailed(ended.error ?? ErrorFields(.error, SQLState.protocolViolation,
                "shard \(ended.shard) ended the COPY before the client's data did"))
        }
        guard legs.allSatisfy(\.isDone) else { return }
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
                copy = nil
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
        copy?.abandon()
        copy = nil
        client.fanoutFinished(reply)
    }

    // MARK: COPY

    /// A leg's shard is ready for the COPY data: once every shard is, the client is told.
    func legInCopy() {
        guard !finished, legs.allSatisfy({ $0.copyInResponse != nil }) else { return }
        copy?.shardsReady(legs)
    }

    /// Rows for the shard of `slot`, as CopyData messages.
    func sendCopy(_ data: ByteBuffer, slot: Int) {
        guard !finished else { return }
        legs[slot].send(data)
    }

    /// The client's data ended: CopyDone (nil) or CopyFail with its message to every shard.
    /// Each shard then answers, and the COPY commits everywhere or nowhere.
    func endCopy(failure: String?) {
        guard !finished, !copyEnded else { return }
        copyEnded = true
        var message = ByteBuffer()
        if let failure {
            message.writeCopyFail(failure)
        } else {
            message.writeMessage(id: FrontendID.copyDone) { _ in }
        }
        for leg in legs { leg.send(message) }
    }

    /// Client reads pause while any shard's server cannot take more data.
    func legWritabilityChanged() {
        guard isCopy, !finished else { return }
        client.setReadsPaused(legs.contains { $0.server.map { !$0.isWritable } ?? false })
    }

    /// The client left: every server goes back, waits are given up.
    func cancel() {
        guard !finished else { return }
        finished = true
        for leg in legs { leg.abandon() }
        copy?.abandon()
        copy = nil
    }
}
