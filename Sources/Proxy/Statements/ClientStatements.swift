import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// A transaction-pooled client's named prepared statements, and the rewriting of its messages
/// for whichever server connection they go to: Parse, Bind, Describe and Close name the shared
/// registry entry; a statement the server lacks is prepared just before its Bind or Describe;
/// Close and DEALLOCATE forget the client's name without touching the server; SQL-level PREPARE
/// and EXECUTE are refused. Everything else passes through untouched, in the same buffer.
final class ClientStatements {
    private let registry: StatementRegistry
    /// The client's statement names. (A `didSet` without `oldValue` keeps changes in place.)
    private(set) var byName: [String: PreparedStatement] = [:] { didSet { lastBound = nil } }
    /// The statement of the last Bind, and the client's name for it: drivers bind the same
    /// statement again and again, and comparing the name's bytes is cheaper than making a
    /// String of them and hashing it. Cleared by every change of `byName`; only statements
    /// without session commands (whose Binds need nothing else) are remembered.
    private var lastBound: PreparedStatement?
    private var lastBoundName: [UInt8] = []
    /// The server knows `lastBound` by another name than the client.
    private var lastBoundRenamed = false
    /// The start of a message that must be read further before it can be sent.
    private var carry: ByteBuffer?
    /// Bytes of a message being passed through that are still to come.
    private var passRemaining = 0
    /// Part of a message went to the server and the rest has not.
    var midMessage: Bool { passRemaining > 0 }
    /// Syncs since the last Execute or Query: those a server in COPY FROM STDIN ignores.
    private var syncsSinceStatement = 0
    /// `prepared_statements_limit`: statements per server connection; 0 passes names through.
    let limit: Int
    /// `track_session_settings`: a session SET follows the client to every server connection.
    let tracksSettings: Bool
    /// The client, told of settings to carry.
    /// Strong, and cleared when the client leaves: a weak reference would give the session a side
    /// table, and every retain and release of it on the data path would take the slow path.
    var session: ClientSession?
    /// Where statistics are counted (the client's partition).
    unowned(unsafe) var partition: PoolPartition?
    /// The text of the last unnamed Parse that does nothing to the session. Drivers send the
    /// same text again and again, and comparing it is cheaper than reading it for commands.
    var lastPlainText: [UInt8] = []

    /// Close of a statement no server has: a client's Close gets the server's CloseComplete in order.
    static let absentClose: ByteBuffer = {
        var buffer = ByteBuffer()
        buffer.writeMessage(id: FrontendID.close) { body in
            body.writeInteger(UInt8(ascii: "S"))
            body.writeCString(StatementRegistry.absentName)
        }
        return buffer
    }()
    /// What DEALLOCATE of a client's name becomes: nothing on the server, answered in order.
    static let noOpQuery: ByteBuffer = {
        var buffer = ByteBuffer()
        buffer.writeQuery("DO $pgproxy$BEGIN END$pgproxy$")
        return buffer
    }()

    init(registry: StatementRegistry, tracksSettings: Bool) {
        self.registry = registry
        self.limit = registry.limit
        self.tracksSettings = tracksSettings
    }

    /// The client left: its names no longer hold their entries.
    func forgetAll() {
        for statement in byName.values { registry.release(statement) }
        byName.removeAll()
    }

    /// Close or DEALLOCATE of one statement: the client's name only; servers keep it.
    func forget(_ name: String) {
        if let statement = byName.removeValue(forKey: name) { registry.release(statement) }
    }

    /// A Parse the server skipped or refused: the name was never made.
    func parseFailed(name: String, statement: PreparedStatement) {
        guard byName[name] === statement else { return }
        byName[name] = nil
        registry.release(statement)
    }

    /// A batch pgproxy answered without a server (a plugin's rows, a routing hint): its named
    /// Parses made statements the client will bind later, its Closes removed some.
    func answeredLocally(_ batch: ByteBuffer) {
        guard limit > 0 else { return }
        var index = batch.readerIndex
        while let id = batch.getInteger(at: index, as: UInt8.self), let length = batch.getInteger(at: index + 1, as: Int32.self), length >= 4 {
            let end = index + 1 + Int(length)
            guard end <= batch.writerIndex else { return }
            if id == FrontendID.parse {
                let nameEnd = Self.cString(batch, from: index + 5, before: end)
                if nameEnd > index + 5, nameEnd < end, let name = batch.getString(at: index + 5, length: nameEnd - index - 5), byName[name] == nil,
                   let key = batch.getSlice(at: nameEnd + 1, length: end - nameEnd - 1) {
                    byName[name] = registry.intern(key: key, clientName: name)
                }
            } else if id == FrontendID.close, batch.getInteger(at: index + 5, as: UInt8.self) == UInt8(ascii: "S") {
                let nameEnd = Self.cString(batch, from: index + 6, before: end)
                if let name = batch.getString(at: index + 6, length: nameEnd - index - 6) { forget(name) }
            }
            index = end
        }
    }

    // MARK: sending

    /// Writes `buffer` (client messages, possibly cut anywhere) to `server`, rewritten for it.
    func send(_ buffer: ByteBuffer, to server: ServerConnection) {
        let statements = server.preparedStatements(registry)
        var buffer = buffer
        if var carried = carry {
            carry = nil
            carried.writeImmutableBuffer(buffer)
            buffer = carried
        }
        var out = ServerOutput(buffer: buffer, server: server)
        var index = buffer.readerIndex
        let end = buffer.writerIndex
        if passRemaining > 0 {
            let count = min(passRemaining, end - index)
            index += count
            passRemaining -= count
        }
        while index < end {
            guard end - index >= 5, let id = buffer.getInteger(at: index, as: UInt8.self),
                  let length = buffer.getInteger(at: index + 1, as: Int32.self) else {
                out.hold(from: index, into: &carry)
                return out.finish()
            }
            let messageEnd = index + 1 + max(Int(length), 4)
            let whole = messageEnd <= end
            switch id {
            case FrontendID.sync, FrontendID.functionCall:
                statements.sentReadyProducing()
                syncsSinceStatement = id == FrontendID.sync ? syncsSinceStatement + 1 : 0
            case FrontendID.execute:
                syncsSinceStatement = 0
            case FrontendID.copyDone, FrontendID.copyFail:
                if server.inCopyIn { statements.readyNotComing(syncsSinceStatement) }
                syncsSinceStatement = 0
            case FrontendID.query:
                guard whole else {
                    out.hold(from: index, into: &carry)
                    return out.finish()
                }
                query(buffer, index..<messageEnd, statements, &out)
                statements.sentReadyProducing()
                syncsSinceStatement = 0
            case _ where limit == 0 && (id == FrontendID.describe || id == FrontendID.close || id == FrontendID.bind):
                break  // names pass through untouched
            case FrontendID.parse, FrontendID.describe, FrontendID.close:
                guard whole else {
                    out.hold(from: index, into: &carry)
                    return out.finish()
                }
                switch id {
                case FrontendID.parse: parse(buffer, index..<messageEnd, statements, &out)
                case FrontendID.describe: describe(buffer, index..<messageEnd, statements, &out)
                default: close(buffer, index..<messageEnd, statements, &out)
                }
            case FrontendID.bind:
                guard bind(buffer, index, messageEnd: messageEnd, statements, &out) else {
                    out.hold(from: index, into: &carry)
                    return out.finish()
                }
            default:
                break
            }
            if messageEnd > end {
                passRemaining = messageEnd - end
                break
            }
            index = messageEnd
        }
        out.finish()
    }

    func parse(_ buffer: ByteBuffer, _ message: Range<Int>, _ server: ServerStatements, _ out: inout ServerOutput) {
        let nameEnd = Self.cString(buffer, from: message.lowerBound + 5, before: message.upperBound)
        partition?.counters.clientParses &+= 1
        let named = nameEnd > message.lowerBound + 5
        let name = named ? buffer.getString(at: message.lowerBound + 5, length: nameEnd - message.lowerBound - 5) ?? "" : ""
        let (refusal, deferred) = parsedText(buffer, from: nameEnd + 1, before: message.upperBound, named: named, server)
        guard named, limit > 0 else {
            if let refusal {
                var rewritten = ByteBuffer()
                rewritten.writeParse(name: name, key: refusal)
                out.replace(message, with: rewritten)
            }
            if limit > 0 { server.expect(.parse, forward: true) }
            return
        }
        if let existing = byName[name] {
            // PostgreSQL refuses a second Parse of a name: the server says so, in order.
            ensurePrepared(existing, server, &out, before: message.lowerBound)
            out.replace(message, with: existing.parseMessage)
            server.expect(.parse, forward: true)
            return
        }
        let key = refusal ?? buffer.getSlice(at: nameEnd + 1, length: message.upperBound - nameEnd - 1) ?? ByteBuffer()
        let statement = registry.intern(key: key, clientName: name)
        statement.sessionCommands = deferred
        byName[name] = statement
        let replacement: ByteBuffer? = statement.name == name && refusal == nil ? nil : statement.parseMessage
        if server.has(statement) || server.mustCloseFirst(statement) {
            // Prepared for another client (or maybe): closed and prepared again, so the client's
            // Parse gets the server's own ParseComplete (or error) in its place in the stream.
            out.insert(statement.closeMessage, before: message.lowerBound)
            server.expect(.close, forward: false, statement: statement)
        } else {
            evict(server, &out, before: message.lowerBound)
        }
        server.add(statement)
        if let replacement { out.replace(message, with: replacement) }
        server.expect(.parse, forward: true, statement: statement, client: self, clientName: name)
        partition?.counters.serverParses &+= 1
    }

    /// Returns false when the statement name is not in `buffer` yet.
    private func bind(_ buffer: ByteBuffer, _ start: Int, messageEnd: Int, _ server: ServerStatements, _ out: inout ServerOutput) -> Bool {
        let limit = min(messageEnd, buffer.writerIndex)
        // A whole message without its NULs is passed on for the server to refuse.
        let portalEnd = Self.cString(buffer, from: start + 5, before: limit)
        guard portalEnd < limit else { return messageEnd <= buffer.writerIndex }
        let nameEnd = Self.cString(buffer, from: portalEnd + 1, before: limit)
        guard nameEnd < limit else { return messageEnd <= buffer.writerIndex }
        partition?.counters.binds &+= 1
        guard nameEnd > portalEnd + 1 else { return true }
        let serverName: String
        if let statement = lastBound, Self.bytes(buffer, from: portalEnd + 1, before: nameEnd, equal: lastBoundName) {
            ensurePrepared(statement, server, &out, before: start)
            guard lastBoundRenamed else { return true }
            serverName = statement.name
        } else {
            guard let name = buffer.getString(at: portalEnd + 1, length: nameEnd - portalEnd - 1),
                  let found = self.serverName(for: name, server, &out, before: start, binding: true) else { return true }
            if let statement = byName[name], statement.sessionCommands.isEmpty {
                lastBound = statement
                lastBoundName.removeAll(keepingCapacity: true)
                lastBoundName.append(contentsOf: name.utf8)
                lastBoundRenamed = statement.name != name
            }
            guard found != name else { return true }
            serverName = found
        }
        // A new header, portal and name; the rest of the message passes as it came.
        var prefix = ByteBuffer()
        prefix.reserveCapacity(portalEnd - start + serverName.utf8.count + 2)
        prefix.writeInteger(FrontendID.bind)
        prefix.writeInteger(Int32(messageEnd - start - 1 - (nameEnd - portalEnd - 1) + serverName.utf8.count))
        prefix.writeImmutableBuffer(buffer.getSlice(at: start + 5, length: portalEnd - start - 4)!)
        prefix.writeCString(serverName)
        out.replace(start..<(nameEnd + 1), with: prefix)
        return true
    }

    private func describe(_ buffer: ByteBuffer, _ message: Range<Int>, _ server: ServerStatements, _ out: inout ServerOutput) {
        guard message.count > 6, buffer.getInteger(at: message.lowerBound + 5, as: UInt8.self) == UInt8(ascii: "S") else { return }
        let nameEnd = Self.cString(buffer, from: message.lowerBound + 6, before: message.upperBound)
        guard nameEnd > message.lowerBound + 6, let name = buffer.getString(at: message.lowerBound + 6, length: nameEnd - message.lowerBound - 6),
              let serverName = serverName(for: name, server, &out, before: message.lowerBound, binding: false), serverName != name else { return }
        var replacement = ByteBuffer()
        replacement.writeMessage(id: FrontendID.describe) { body in
            body.writeInteger(UInt8(ascii: "S"))
            body.writeCString(serverName)
        }
        out.replace(message, with: replacement)
    }

    private func close(_ buffer: ByteBuffer, _ message: Range<Int>, _ server: ServerStatements, _ out: inout ServerOutput) {
        defer { server.expect(.close, forward: true) }
        guard message.count > 6, buffer.getInteger(at: message.lowerBound + 5, as: UInt8.self) == UInt8(ascii: "S") else { return }
        let nameEnd = Self.cString(buffer, from: message.lowerBound + 6, before: message.upperBound)
        guard nameEnd > message.lowerBound + 6, let name = buffer.getString(at: message.lowerBound + 6, length: nameEnd - message.lowerBound - 6) else { return }
        forget(name)
        // The server keeps the statement for other clients; it answers the Close of a name it lacks.
        out.replace(message, with: Self.absentClose)
    }

    /// The name to send for the client's statement `name`, prepared on the server first if it
    /// lacks it; nil to send the message unchanged.
    private func serverName(
        for name: String, _ server: ServerStatements, _ out: inout ServerOutput, before index: Int, binding: Bool
    ) -> String? {
        if let statement = byName[name] {
            ensurePrepared(statement, server, &out, before: index)
            // A named SET (or RESET...) takes effect when it runs: each Bind of it.
            if binding, !statement.sessionCommands.isEmpty { applyEffects(statement.sessionCommands, server) }
            return statement.name
        }
        // Unknown to the client: the server's "does not exist" must not find another client's.
        return registry.isServerName(name) ? StatementRegistry.absentName : nil
    }

    private func ensurePrepared(_ statement: PreparedStatement, _ server: ServerStatements, _ out: inout ServerOutput, before index: Int) {
        let doubtful = server.mustCloseFirst(statement)
        if server.has(statement), !doubtful { return }
        if doubtful {
            out.insert(statement.closeMessage, before: index)
            server.expect(.close, forward: false, statement: statement)
        } else {
            evict(server, &out, before: index)
        }
        server.add(statement)
        out.insert(statement.parseMessage, before: index)
        server.expect(.parse, forward: false, statement: statement)
        partition?.counters.serverParses &+= 1
    }

    private func evict(_ server: ServerStatements, _ out: inout ServerOutput, before index: Int) {
        while let victim = server.evictionCandidate(limit: max(limit - 1, 0)) {
            out.insert(victim.closeMessage, before: index)
            server.expect(.close, forward: false, statement: victim)
            server.remove(victim)
            partition?.counters.statementEvictions &+= 1
        }
    }

    /// Whether the bytes of `buffer` in `start..<end` are `bytes`.
    static func bytes(_ buffer: ByteBuffer, from start: Int, before end: Int, equal bytes: [UInt8]) -> Bool {
        guard end - start == bytes.count else { return false }
        return buffer.withUnsafeReadableBytes { raw in
            bytes.withUnsafeBytes { memcmp(raw.baseAddress! + (start - buffer.readerIndex), $0.baseAddress!, $0.count) == 0 }
        }
    }

    @inline(__always)
    static func cString(_ buffer: ByteBuffer, from start: Int, before end: Int) -> Int {
        buffer.withUnsafeReadableBytes { raw in
            raw.indexOfNUL(from: start - buffer.readerIndex, before: end - buffer.readerIndex) + buffer.readerIndex
        }
    }
}
