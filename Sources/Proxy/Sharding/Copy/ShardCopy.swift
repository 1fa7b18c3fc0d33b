import NIOCore

/// The client's side of a COPY FROM STDIN into a sharded table: every shard runs the COPY in a
/// transaction (a `ShardFanout` in COPY mode); once all are ready the client gets one
/// CopyInResponse, and each row it sends goes to the shard its key belongs to (the plugin chain
/// decides, through `CopyRowRouter`). The client's CopyDone ends every shard's COPY, and the
/// shards commit together (or all roll back); CopyFail fails them all.
///
/// Takes the client's bytes from the COPY statement until the client's CopyDone or CopyFail;
/// what follows goes back to the normal path. When the COPY fails first (a shard's error, a row
/// pgproxy cannot route), the client gets the error at once, as from PostgreSQL, and the copy
/// data it still sends is dropped.
final class ShardCopy {
    private unowned let client: ClientSession
    let fanout: ShardFanout
    private let statement: CopyFromStatement
    /// The sharded table and the router of its rows; nil for an omnisharded table, whose
    /// every row goes to every shard as the client sent it.
    private let table: ShardedTableConfig?
    private let router: CopyRowRouter?
    private var splitter: CopyRowSplitter?
    private var framer: MessageFramer

    private enum State {
        /// The shards are starting their COPY; the client's data (if any) waits.
        case starting
        case streaming
        /// The COPY failed or was given up: the client's data is dropped till its CopyDone.
        case discarding
    }
    private var state = State.starting
    /// Client messages that came before the shards were ready.
    private var early: [(id: UInt8, body: ByteBuffer)] = []
    /// Rows cut but not yet routed: their ranges in the splitter and their keys.
    private var rows: [Range<Int>] = []
    private var keys: [CopyRowSplitter.Key] = []
    private var shards: [Int] = []
    /// Rows for each shard, sent as one CopyData per shard per client read: each output is that
    /// message, its header written first and its length filled in when it is sent.
    private var outputs: [ByteBuffer]
    /// A COPY row must fit in this many bytes (the fanout's gather limit).
    private let rowLimit: Int

    init(client: ClientSession, fanout: ShardFanout, statement: CopyFromStatement, table: ShardedTableConfig?,
         router: CopyRowRouter?, shardCount: Int, maximumMessage: Int) {
        self.client = client
        self.fanout = fanout
        self.statement = statement
        self.table = table
        self.router = router
        framer = MessageFramer(maximumLength: maximumMessage)
        outputs = Array(repeating: Self.copyDataHeader(capacity: 0), count: shardCount)
        rowLimit = fanout.limit
    }

    // MARK: the shards

    /// Every shard waits for the data: find the key's column, then let the client send.
    func shardsReady(_ legs: [ShardLeg]) {
        guard case .starting = state, let response = legs.first?.copyInResponse else { return }
        if let table { guard startSplitting(legs, table) else { return } }
        state = .streaming
        var message = ByteBuffer()
        message.writeMessage(id: BackendID.copyInResponse) { body in
            var response = response
            body.writeBuffer(&response)
        }
        client.writeToClient(message)
        client.flushToClient()
        let held = early
        early = []
        for (id, body) in held where !handle(id, body) { break }
        cutRows(final: false)
        sendRows()
    }

    /// Finds the key's column; false (the COPY failed) when it cannot.
    private func startSplitting(_ legs: [ShardLeg], _ table: ShardedTableConfig) -> Bool {
        var columns = statement.columns
        if columns.isEmpty {
            columns = legs[0].probeValues
            if let different = legs.first(where: { $0.probeValues != columns }) {
                fail(ErrorFields(.error, SQLState.featureNotSupported,
                    "table \(statement.table) has different columns on shard \(legs[0].shard) and shard \(different.shard); pgproxy cannot tell where each COPY row's key is",
                    hint: "give the COPY a column list"))
                return false
            }
        }
        guard let keyIndex = columns.firstIndex(of: table.column) else {
            fail(ErrorFields(.error, SQLState.featureNotSupported,
                "COPY into sharded table \(statement.table) must include its sharding key column \"\(table.column)\""))
            return false
        }
        splitter = CopyRowSplitter(format: statement, keyIndex: keyIndex, keyName: table.column)
        return true
    }

    /// The fanout failed or was cancelled: drop what the client still sends.
    func abandon() {
        state = .discarding
        early = []
        splitter = nil
    }

    // MARK: the client

    /// The client's bytes. Returns what follows its CopyDone or CopyFail (or the first message
    /// that is not COPY data), which no longer belongs to the COPY; nil when all was taken.
    func clientBytes(_ buffer: ByteBuffer) -> ByteBuffer? {
        framer.append(buffer)
        while let id = framer.buffer.getInteger(at: framer.buffer.readerIndex, as: UInt8.self) {
            switch id {
            case FrontendID.copyData, FrontendID.copyDone, FrontendID.copyFail, FrontendID.flush, FrontendID.sync:
                break
            default:
                // Anything else ends the COPY as PostgreSQL's protocol says: with an error.
                if case .discarding = state {} else {
                    fail(ErrorFields(.error, SQLState.protocolViolation,
                        "unexpected message type 0x\(String(id, radix: 16, uppercase: true)) during COPY from stdin"))
                }
                return finished()
            }
            let message: (id: UInt8, body: ByteBuffer)?
            do {
                message = try framer.next()
            } catch {
                fail(ErrorFields(.error, SQLState.protocolViolation, "invalid message during COPY from stdin: \(error)"))
                return finished()
            }
            guard let message else { break }
            switch state {
            case .starting:
                early.append(message)
                if message.id == FrontendID.copyDone || message.id == FrontendID.copyFail { return finished() }
            case .streaming:
                if !handle(message.id, message.body) { return finished() }
            case .discarding:
                if message.id == FrontendID.copyDone || message.id == FrontendID.copyFail { return finished() }
            }
        }
        if case .streaming = state {
            cutRows(final: false)
            sendRows()
        }
        return nil
    }

    /// No more COPY messages: the rest goes back to the session.
    private func finished() -> ByteBuffer? {
        client.shardCopyEnded()
        return framer.takeRemainder()
    }

    /// One client message while streaming; false once the client's COPY data has ended.
    private func handle(_ id: UInt8, _ body: ByteBuffer) -> Bool {
        switch id {
        case FrontendID.copyData where router == nil:
            // The same rows for every shard, sent with the others of this read (`sendRows`).
            for index in outputs.indices { outputs[index].writeImmutableBuffer(body) }
            return true
        case FrontendID.copyData:
            // Rows are cut once per read of the client (`clientBytes`), not per message.
            splitter?.append(body.readableBytesView)
            if let unread = splitter?.unreadCount, unread > rowLimit {
                fail(ErrorFields(.error, "54000", "a COPY row is longer than \(rowLimit / 1_048_576) MiB"))
            }
            return true
        case FrontendID.copyDone:
            cutRows(final: true)
            sendRows()
            if case .streaming = state { fanout.endCopy(failure: nil) }
            return false
        case FrontendID.copyFail:
            var body = body
            let reason = body.readNullTerminatedString() ?? ""
            rows.removeAll()
            keys.removeAll()
            fanout.endCopy(failure: reason)
            return false
        default:
            return true  // Flush and Sync mean nothing during COPY
        }
    }

    // MARK: rows

    /// Cuts the whole rows received so far (all of them when `final`) and routes them.
    private func cutRows(final: Bool) {
        while case .streaming = state, let cut = splitter?.next(final: final) {
            switch cut {
            case .row(let range, let key):
                rows.append(range)
                keys.append(key)
                if rows.count >= CopyRowRouter.batchLimit { routeRows() }
            case .everyShard(let range):
                routeRows()
                splitter?.bytes.withUnsafeBufferPointer { bytes in
                    for index in outputs.indices { outputs[index].writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[range]))) }
                }
            case .end:
                break
            case .failed(let message):
                fail(ErrorFields(.error, "22P04", message, detail: "in the COPY data for table \(statement.table)"))
            }
        }
        routeRows()
        splitter?.compact()
    }

    /// Asks the plugins for the shards of the rows cut, and copies each row to its shard's output.
    private func routeRows() {
        guard !rows.isEmpty, case .streaming = state, let splitter, let router else { return }
        if let error = router.route(keys, keyBytes: splitter.keyBytes, binary: splitter.binary, into: &shards) {
            rows.removeAll()
            keys.removeAll()
            return fail(error)
        }
        splitter.bytes.withUnsafeBufferPointer { bytes in
            for (index, range) in rows.enumerated() {
                outputs[shards[index]].writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[range])))
            }
        }
        rows.removeAll(keepingCapacity: true)
        keys.removeAll(keepingCapacity: true)
    }

    /// Each shard's rows go out as one CopyData message, without copying them again.
    private func sendRows() {
        guard case .streaming = state else { return }
        for index in outputs.indices where outputs[index].readableBytes > Self.headerLength {
            var message = outputs[index]
            message.setInteger(Int32(message.readableBytes - 1), at: message.readerIndex + 1)
            // A new buffer for the next rows: the one sent stays with the shard's socket.
            outputs[index] = Self.copyDataHeader(capacity: message.readableBytes)
            fanout.sendCopy(message, slot: index)
        }
    }

    private static let headerLength = 5

    /// A CopyData message's type and (yet unknown) length, with room for `capacity` bytes.
    private static func copyDataHeader(capacity: Int) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(max(capacity, 256))
        buffer.writeInteger(FrontendID.copyData)
        buffer.writeInteger(Int32(0))
        return buffer
    }

    /// pgproxy fails the COPY: the client gets `error`, every shard rolls back.
    private func fail(_ error: ErrorFields) {
        if case .discarding = state { return }
        abandon()
        fanout.legFailed(error)
    }
}
