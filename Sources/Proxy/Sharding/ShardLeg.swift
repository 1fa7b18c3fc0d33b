import NIOCore

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
    var waiting = false
    var waitingSince = NIODeadline.now()
    /// ReadyForQuery messages `server` still owes for what this leg wrote (a write's BEGIN and
    /// statement: two); a leg given up hands the count to the connection, which drains them.
    private var owedReady = 0
    private var owed: Bool { owedReady > 0 }
    /// The answer to the probe is still to come (see `ShardFanout.probes`): the collation
    /// probe's one value, or the names of a COPY's columns.
    private var probing = false
    private(set) var probeValues: [String] = []
    var collation: String? { probeValues.first }
    /// The shard's CopyInResponse (body): it waits for the COPY data.
    private(set) var copyInResponse: ByteBuffer?

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

    func requestServer() { requestServer(from: partition) }

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
            probing = fanout.probes
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
                        probeValues.append(String(buffer: value))
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
                case BackendID.copyInResponse:
                    copyInResponse = body
                    fanout.legInCopy()
                    if isDone { return }  // the fanout gave up meanwhile
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

    /// COPY data (or its end) for this leg's shard.
    func send(_ buffer: ByteBuffer) {
        guard let server, owed else { return }
        server.write(buffer)
        server.flush()
    }

    func serverWritabilityChanged() { fanout.legWritabilityChanged() }

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
