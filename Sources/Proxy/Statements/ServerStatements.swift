import NIOCore

/// What one server connection has prepared of its loop's `StatementRegistry`, least recently
/// used first out, and the answers it owes to Parse and Close messages, so that those pgproxy
/// added are taken out of the stream to the client and those the server skipped after an error
/// are known not to have happened.
final class ServerStatements {
    /// What an owed ParseComplete or CloseComplete means.
    struct Expected {
        enum Kind { case parse, close, reset, setting }
        var kind: Kind
        /// The answer goes on to the client (false: pgproxy sent the message on its own).
        var forward: Bool
        /// Answered before ReadyForQuery number `deadline` (counted since attach), or skipped.
        var deadline: Int
        /// What the entry is about, for those about something (not an unnamed Parse): kept in a
        /// box, so that the queue's entries copy with one reference instead of five.
        var subject: Subject?

        final class Subject {
            let statement: PreparedStatement?
            /// The client whose Parse this is, and its name for the statement.
            let client: ClientStatements?
            let clientName: String?
            /// For `setting`: the setting and the SET statement that changed it.
            let setting: (name: String, statement: String)?

            init(statement: PreparedStatement?, client: ClientStatements?, clientName: String?, setting: (name: String, statement: String)?) {
                self.statement = statement
                self.client = client
                self.clientName = clientName
                self.setting = setting
            }
        }

        var statement: PreparedStatement? { subject?.statement }
        var client: ClientStatements? { subject?.client }
        var clientName: String? { subject?.clientName }
        var setting: (name: String, statement: String)? { subject?.setting }
    }

    let registry: StatementRegistry
    unowned(unsafe) let connection: ServerConnection
    private var prepared: [ObjectIdentifier: (statement: PreparedStatement, used: UInt64)] = [:]
    private var clock: UInt64 = 0
    /// `clock` when the last ReadyForQuery with status idle came: statements used since may
    /// back an open portal (closing a statement closes its portals) and are not evicted.
    private var transactionStart: UInt64 = 0
    private var expected = CircularBuffer<Expected>(initialCapacity: 4)
    /// ReadyForQuery-producing messages sent and ReadyForQuery received since the last attach.
    private var readySent = 0
    private var readyReceived = 0
    private var errors = 0
    /// `errors` when the last ReadyForQuery came: errors since then belong to its batch.
    private var errorsAtLastReady = 0
    /// The server's statements are not known any more (a DISCARD ALL failed): close it on release.
    private(set) var unknown = false
    /// Statements the server may or may not have: a Parse or Close of them was skipped after an
    /// error. Held (their names stay taken), and closed before being prepared again.
    private var uncertain: [ObjectIdentifier: PreparedStatement] = [:]
    /// Per statement with answers owed: how many, and the deadline of the last.
    private var inFlight: [ObjectIdentifier: (count: Int, deadline: Int)] = [:]

    init(registry: StatementRegistry, connection: ServerConnection) {
        self.registry = registry
        self.connection = connection
    }

    /// A client gets the connection: nothing is owed (the pool only hands out settled connections).
    func attached() {
        readySent = 0
        readyReceived = 0
        errorsAtLastReady = errors
        transactionStart = clock
        while let entry = expected.popFirst() { settle(entry, answered: true) }
    }

    @inline(__always)
    func has(_ statement: PreparedStatement) -> Bool {
        guard let index = prepared.index(forKey: ObjectIdentifier(statement)) else { return false }
        clock &+= 1
        prepared.values[index].used = clock
        return true
    }

    func add(_ statement: PreparedStatement) {
        let id = ObjectIdentifier(statement)
        guard prepared[id] == nil else { return }
        clock &+= 1
        registry.retain(statement)
        prepared[id] = (statement, clock)
    }

    func remove(_ statement: PreparedStatement) {
        guard prepared.removeValue(forKey: ObjectIdentifier(statement)) != nil else { return }
        registry.release(statement)
    }

    /// The least recently used statement not needed by the open batch, while more than `limit`
    /// are prepared; the caller sends its Close.
    func evictionCandidate(limit: Int) -> PreparedStatement? {
        guard prepared.count > limit else { return nil }
        var oldest: (statement: PreparedStatement, used: UInt64)?
        for entry in prepared.values where entry.used <= transactionStart {
            if oldest == nil || entry.used < oldest!.used { oldest = entry }
        }
        return oldest?.statement
    }

    /// The server forgot every statement (DISCARD ALL, DEALLOCATE ALL, its reset query).
    func forgetAll() {
        for entry in prepared.values { registry.release(entry.statement) }
        prepared.removeAll()
        for statement in uncertain.values { registry.release(statement) }
        uncertain.removeAll()
    }

    // MARK: answers owed

    /// A Sync, Query or FunctionCall went to the server.
    @inline(__always)
    func sentReadyProducing() { readySent += 1 }

    /// Syncs the server ignored (sent while it was in COPY FROM STDIN): no ReadyForQuery for them.
    func readyNotComing(_ count: Int) { readySent -= count }

    func expect(
        _ kind: Expected.Kind, forward: Bool, statement: PreparedStatement? = nil,
        client: ClientStatements? = nil, clientName: String? = nil
    ) {
        let deadline = readySent + 1
        if let statement {
            registry.retain(statement)  // its name stays taken until settled
            let id = ObjectIdentifier(statement)
            inFlight[id] = ((inFlight[id]?.count ?? 0) + 1, deadline)
        }
        let subject = statement == nil && client == nil && clientName == nil
            ? nil : Expected.Subject(statement: statement, client: client, clientName: clientName, setting: nil)
        expected.append(Expected(kind: kind, forward: forward, deadline: deadline, subject: subject))
    }

    /// A session SET went out: when its ReadyForQuery says it was committed without error, the
    /// client carries it to its next server connections; otherwise this connection is reset.
    func expectSetting(name: String, statement: String, client: ClientStatements) {
        let subject = Expected.Subject(statement: nil, client: client, clientName: nil, setting: (name, statement))
        expected.append(Expected(kind: .setting, forward: true, deadline: readySent + 1, subject: subject))
    }

    /// Whether a Parse of `statement` must follow a Close of it: the server may have it though
    /// pgproxy's picture says otherwise (a skipped message, or one of an earlier batch whose
    /// answer has not come, that an error before it may yet skip).
    func mustCloseFirst(_ statement: PreparedStatement) -> Bool {
        // Both are nearly always empty: asked first, that costs no hashing.
        let id = ObjectIdentifier(statement)
        if !uncertain.isEmpty, uncertain[id] != nil { return true }
        if !inFlight.isEmpty, let pending = inFlight[id], pending.deadline <= readySent { return true }
        return false
    }

    /// A ParseComplete or CloseComplete came: whether it goes on to the client.
    func answered(_ id: UInt8) -> Bool {
        guard let index = nextAnswer(), expected[index].kind == Self.kind(of: id) else { return true }
        // Nearly always the first entry: popping it is cheaper than removing at an index.
        let entry = index == expected.startIndex ? expected.removeFirst() : expected.remove(at: index)
        settle(entry, answered: true)
        return entry.forward
    }

    /// Whether the next ParseComplete or CloseComplete is one pgproxy takes out (for a
    /// message header split across reads).
    func nextIsSwallowed(_ id: UInt8) -> Bool {
        guard id == BackendID.parseComplete || id == BackendID.closeComplete,
              let index = nextAnswer(), expected[index].kind == Self.kind(of: id) else { return false }
        return !expected[index].forward
    }

    /// The first entry owed a ParseComplete or CloseComplete (reset and setting entries wait
    /// for their ReadyForQuery instead).
    private func nextAnswer() -> CircularBuffer<Expected>.Index? {
        expected.firstIndex { $0.kind == .parse || $0.kind == .close }
    }

    private static func kind(of id: UInt8) -> Expected.Kind { id == BackendID.parseComplete ? .parse : .close }

    /// The entry's message was answered (the server did it) or skipped (it did not).
    private func settle(_ entry: Expected, answered: Bool) {
        guard let statement = entry.statement else { return }
        let id = ObjectIdentifier(statement)
        if answered {
            // The server did it: it has the statement (Parse) or not (Close), as pgproxy has it.
            if let doubted = uncertain.removeValue(forKey: id) { registry.release(doubted) }
        } else {
            // Skipped: the server may have it or not. A skipped Close leaves it there: back to
            // the prepared set, so that it counts and is closed again in time.
            if entry.kind == .close { add(statement) }
            if uncertain[id] == nil {
                registry.retain(statement)  // the name must not go to another statement meanwhile
                uncertain[id] = statement
            }
            if let client = entry.client, let name = entry.clientName { client.parseFailed(name: name, statement: statement) }
        }
        if let pending = inFlight[id] {
            inFlight[id] = pending.count > 1 ? (pending.count - 1, pending.deadline) : nil
        }
        registry.release(statement)
    }

    @inline(__always)
    func errorArrived() { errors += 1 }

    /// A ReadyForQuery came: what was owed before it and not answered was skipped.
    @inline(__always)
    func readyForQuery(_ status: TransactionStatus) {
        readyReceived += 1
        // Nothing sent after this answer can be in a transaction it ended.
        if status == .idle, readySent == readyReceived { transactionStart = clock }
        let batchFailed = errors != errorsAtLastReady
        errorsAtLastReady = errors
        guard !expected.isEmpty else { return }
        while let head = expected.first, head.deadline <= readyReceived {
            expected.removeFirst()
            switch head.kind {
            case .reset:
                if batchFailed { unknown = true }
            case .setting:
                if !batchFailed, status == .idle, let setting = head.setting, let session = head.client?.session {
                    session.settingApplied(name: setting.name, statement: setting.statement, on: connection)
                } else {
                    // Failed, or inside a transaction block that may yet roll back: not carried.
                    connection.settingsDirty = true
                }
            case .parse, .close:
                settle(head, answered: false)
            }
        }
    }

    /// The connection is gone: its statements no longer hold their registry entries.
    func closed() {
        forgetAll()
        while let entry = expected.popFirst() { settle(entry, answered: true) }
    }
}
