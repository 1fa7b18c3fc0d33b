import Logging
import NIOCore
import NIOSSL

/// One client connection: its login, then the forwarding of its messages to the server
/// connection it holds for the current transaction (or the whole session). Lives on the client's
/// event loop, as does every server connection it is given.
final class ClientSession: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Phase { case startup, authenticating, awaitingServerForLogin, ready, admin, closed }

    // Stored properties are laid out in the order they are declared. Those the data path reads
    // for every message come first, so a message touches a few adjacent cache lines of the
    // session (after a context switch they are usually cold); the login's, and what only the
    // admin console or a rare event reads, come after them.

    /// The client's socket on pgproxy's own event loop (instead of `context`; see EpollLoop).
    var raw: RawSocket?
    /// The client's socket, written directly once `directWritesAfter` runs out (plain connections;
    /// see ClientSession+Writes).
    var out = DirectWrites()
    var phase = Phase.startup
    /// The server connection in use, if any.
    var server: ServerConnection?
    var partition: PoolPartition?
    /// The client's bytes end at a message boundary (as scanned so far).
    var atMessageBoundary: Bool { scanner.atMessageBoundary }
    private var scanner: MessageScanner
    private static let scanned = MessageSet([
        FrontendID.query, FrontendID.sync, FrontendID.functionCall, FrontendID.terminate,
        FrontendID.parse, FrontendID.bind, FrontendID.execute, UInt8(ascii: "D"), UInt8(ascii: "C"), FrontendID.flush,
        FrontendID.copyDone, FrontendID.copyFail,
    ])
    /// ReadyForQuery messages the server still owes (one per Query, Sync and FunctionCall sent).
    var outstanding = 0
    /// Uptime (ns) when the statements now outstanding were sent, and when the running
    /// transaction's first statement was; 0 when none. Only for the pool's statistics.
    var querySince: UInt64 = 0
    var transactionSince: UInt64 = 0
    private(set) var lastRequest: UInt64 = 0
    /// Set when statements are routed (several hosts or plugins); nil keeps the plain path.
    var routing: ClientRouting?
    /// Named prepared statements carried across server connections (transaction mode).
    var statements: ClientStatements?
    /// A read running on every shard, while it runs.
    var fanout: ShardFanout?
    /// A COPY FROM STDIN split among shards takes the client's bytes till its data ends.
    var shardCopy: ShardCopy?
    var context: ChannelHandlerContext?
    /// Transactions to go before direct writes start; 0: not (or no longer) counting. Finding
    /// the socket costs about as much as 2 transactions save, so a client that connects for one
    /// statement (`pgbench -C`) never pays for it.
    var directWritesAfter = 0
    /// `client_idle_timeout`'s check, while one is set; and when the client last sent something.
    private var idleTimer: Scheduled<Void>?
    private var lastActivity = NIODeadline.uptimeNanoseconds(0)
    /// Client bytes that arrived while no server was attached.
    var pending = CircularBuffer<ByteBuffer>(initialCapacity: 2)
    var pendingBytes = 0
    static let pendingLimit = 256 * 1024
    var mode = PoolMode.transaction
    var waiting = false
    /// Extended-protocol messages were sent after the last Sync.
    var unsynced = false
    var wroteToServer = false
    /// The client's socket takes more bytes (as of the last writability change); a server
    /// attached to this client pauses its reads while it does not.
    private(set) var isWritable = true
    private var pausedForServer = false
    private var pausedForBackpressure = false
    /// Reading is switched off (either pause holds).
    private var readingStopped = false
    var shutdownRequested = false
    /// Syncs since the last Execute or Query: those a server in COPY FROM STDIN ignores.
    private(set) var syncsSinceStatement = 0
    /// When this client started waiting for a server; the partition's janitor times it out.
    var waitingSince = NIODeadline.uptimeNanoseconds(0)
    var parameters = ClientParameters()
    /// The client's (database, user) pools as seen from its loop.
    var groupPart: GroupPartition?
    let runtime: ProxyRuntime
    /// The config this client connected under, read in place (`_read` lends it; no copy).
    let configSnapshot: ConfigSnapshot
    var config: ProxyConfig { _read { yield configSnapshot.value } }
    /// The loop this client lives on, from the moment it connects.
    private(set) var eventLoop: (any EventLoop)?

    // The login, and what is read rarely.
    var login: ClientLogin
    var startupBuffer = ByteBuffer()
    var framer = MessageFramer(maximumLength: 65_536)
    /// Where `client_login_timeout` watches this client while it logs in.
    var loginWatch: (deadlines: LoginDeadlines, slot: Int)?
    /// The TLS handler while the login still needs it (for the client's certificate).
    var tlsHandler: NIOSSLServerHandler?
    /// Who logged in. Kept boxed: a session holds a reference, not the identity's 288 bytes
    /// (the data path never reads it).
    private var identityBox: ClientLogin.Identity.Box?
    var identity: ClientLogin.Identity? {
        get { identityBox?.value }
        set { identityBox = newValue.map(ClientLogin.Identity.Box.init) }
    }
    var pool: Pool?
    /// The console, for a client logged in to the admin database.
    var admin: AdminConsole?
    /// Counted against max_client_connections (and so must be uncounted when leaving).
    var admitted = false
    var countedAsLoggingIn = false
    var processID: Int32 = 0
    var secretKey: Int32 = 0
    /// When the client connected, for SHOW CLIENTS.
    let connectedAt = NIODeadline.now()

    init(runtime: ProxyRuntime, config: ConfigSnapshot) {
        self.runtime = runtime
        self.configSnapshot = config
        self.login = ClientLogin(config: config, verifierForPlain: runtime.verifierForPlain)
        self.scanner = MessageScanner(notify: Self.scanned, capture: MessageSet([]), maximumLength: config.value.general.maxPacketSize)
    }

    var logger: Logger { runtime.logger }

    // MARK: connection events

    /// Waits for its first server login, which tells pgproxy what to report to new clients.
    var awaitsLogin: Bool { phase == .awaitingServerForLogin }

    /// The client connected (through SwiftNIO or on a `RawSocket`).
    func connected(from address: SocketAddress?, on loop: any EventLoop) {
        eventLoop = loop
        let loggingIn = runtime.clientsLoggingIn.add(1, ordering: .relaxed).newValue
        countedAsLoggingIn = true
        login.clientAddress = address
        // Connections that never finish their login count against max_client_connections too,
        // or a flood of them could take every file descriptor.
        if loggingIn + runtime.clientCount.load(ordering: .relaxed) > config.general.maxClientConnections {
            refuse(ErrorFields(.fatal, SQLState.tooManyConnections, "too many client connections (max_client_connections), counting those still logging in"))
            return
        }
        let timeout = config.general.clientLoginTimeout
        if timeout > 0 {
            let deadlines = runtime.loginDeadlines(for: loop)
            loginWatch = (deadlines, deadlines.add(self, timeout: timeout))
        }
    }

    @inline(__always)
    func received(_ buffer: ByteBuffer) {
        switch phase {
        case .ready:
            if idleTimer != nil { lastActivity = .now() }
            clientBytes(buffer)
        case .admin: admin?.receive(buffer)
        case .startup: startupBytes(buffer)
        case .authenticating: authenticationBytes(buffer)
        case .awaitingServerForLogin:
            // Held until the first server login completes; a client that floods meanwhile waits.
            framer.append(buffer)
            if framer.buffer.readableBytes > Self.pendingLimit { setPausedForServer(true) }
        case .closed: break
        }
    }

    @inline(__always)
    func readComplete() {
        if wroteToServer {
            wroteToServer = false
            server?.flush()
        }
    }

    func writabilityChanged(_ writable: Bool) {
        isWritable = writable
        server?.setReadsPaused(!isWritable)
    }


    // MARK: the data path

    @inline(__always)
    func clientBytes(_ buffer: ByteBuffer) {
        var terminateAt: Int?
        let wasIdle = outstanding == 0 && !unsynced
        do {
            try scanner.scan(buffer) { id, _, end in
                switch id {
                case FrontendID.query, FrontendID.functionCall:
                    outstanding += 1
                    syncsSinceStatement = 0
                    routing?.batchEnds(statement: id == FrontendID.query)
                case FrontendID.sync:
                    outstanding += 1
                    syncsSinceStatement += 1
                    unsynced = false
                    routing?.batchEnds(statement: false)
                case FrontendID.terminate:
                    terminateAt = end - 5
                case FrontendID.copyDone, FrontendID.copyFail:
                    // Syncs sent with the Execute that started COPY FROM STDIN got no answer.
                    if server?.inCopyIn == true, syncsSinceStatement > 0 {
                        outstanding = max(outstanding - syncsSinceStatement, 0)
                        unsynced = true  // the server waits for the Sync that ends the COPY
                    }
                    syncsSinceStatement = 0
                case FrontendID.execute:
                    syncsSinceStatement = 0
                    unsynced = true
                    routing?.saw(id)
                default:
                    unsynced = true
                    routing?.saw(id)
                }
            }
        } catch MessageScanner.ScanError.tooLong(let id, let length) {
            refuse(ErrorFields(.fatal, SQLState.protocolViolation,
                               "message '\(Character(Unicode.Scalar(id)))' of \(length) bytes is larger than max_packet_size (\(config.general.maxPacketSize))"))
            return
        } catch {
            refuse(ErrorFields(.fatal, SQLState.protocolViolation, "invalid message from client: \(error)"))
            return
        }
        if let partition {
            partition.counters.bytesReceived &+= UInt64(buffer.readableBytes)
            if wasIdle, outstanding > 0 || unsynced {
                let now = NIODeadline.now().uptimeNanoseconds
                querySince = now
                lastRequest = now
                if transactionSince == 0 { transactionSince = now }
            }
        }
        var buffer = buffer
        if let terminateAt {
            buffer = buffer.getSlice(at: buffer.readerIndex, length: terminateAt - buffer.readerIndex)!
        }
        if let shardCopy, buffer.readableBytes > 0 {
            buffer = shardCopy.clientBytes(buffer) ?? ByteBuffer()
        }
        if buffer.readableBytes > 0 {
            if let routing, routing.holds(serverAttached: server != nil, waiting: waiting, atBoundary: scanner.atMessageBoundary) {
                hold(buffer, routing, atBoundary: scanner.atMessageBoundary)
            } else if let server {
                send(buffer, to: server)
                wroteToServer = true
            } else {
                pending.append(buffer)
                pendingBytes += buffer.readableBytes
                if !waiting {
                    requestServer()
                } else if pendingBytes > Self.pendingLimit {
                    // Stop reading a client that keeps sending while it waits. Not done for every
                    // wait: pausing costs two epoll_ctl calls, and a waiting client rarely sends more.
                    setPausedForServer(true)
                }
                if server == nil { keepPendingCompact() }
            }
        }
        if terminateAt != nil {
            if wroteToServer { server?.flush() }
            leave()
        }
    }

    func requestServer() {
        if routing == nil, let first = groupPart?.partitions.first, first !== partition {
            // A reload moved the database: the next server comes from the new host's pool.
            move(to: first)
        }
        guard let partition else { return }
        requestServer(from: partition)
    }

    /// Called with a server for this client: at once from the idle list, or later by the partition.
    func serverAssigned(_ server: ServerConnection) {
        if waiting, let partition {
            let waited = NIODeadline.now() - waitingSince
            partition.counters.waitMicros &+= UInt64(max(waited.nanoseconds / 1000, 0))
        }
        waiting = false
        guard phase != .closed else {
            server.release(owed: 0, unsynced: false, resetQuery: resetQuery(afterSession: true))
            return
        }
        if phase == .awaitingServerForLogin {
            pool?.learn(parameters: server.parameters)
            completeLogin(serverDefaults: server.parameters)
            let early = framer.takeRemainder()
            framer = MessageFramer()
            if let early {
                waiting = true  // queue the early bytes behind this very server
                clientBytes(early)
                waiting = false
                guard phase != .closed else {
                    // Terminate (or garbage) came with the login: the server goes back.
                    server.release(owed: 0, unsynced: false, resetQuery: nil)
                    return
                }
            }
            if pending.isEmpty, mode == .transaction {
                setPausedForServer(false)
                partition?.checkin(server)
                return
            }
            if let partition, partition.pool.paused.load(ordering: .relaxed) {
                // The server only served the login; the client's statements wait for RESUME.
                partition.checkin(server)
                waiting = true
                waitingSince = .now()
                partition.enqueue(self)
                return
            }
        }
        if server.syncedSignature == parameters.signature {
            attach(server)
            return
        }
        // Until the settings are applied, bytes the client sends wait in `pending` for this
        // very server (as `waiting` says), instead of asking the pool for another one.
        waiting = true
        applySettings(to: server) { [self] error in
            waiting = false
            if let error {
                server.release(owed: 0, unsynced: false, resetQuery: nil)
                refuse(ErrorFields(.fatal, error.sqlState, error.message, detail: "while applying the client's settings to a pooled server connection"))
                return
            }
            guard phase != .closed else {
                server.release(owed: 0, unsynced: false, resetQuery: resetQuery(afterSession: true))
                return
            }
            attach(server)
        }
    }

    /// Brings `server`'s settings in line with the client's (client_encoding, DateStyle,
    /// tracked SETs ...), then calls `done`: at once when they already agree.
    func applySettings(to server: ServerConnection, then done: @escaping (ErrorFields?) -> Void) {
        let signature = parameters.signature
        guard server.syncedSignature != signature else { return done(nil) }
        guard let sync = parameters.synchronization(reported: server.parameters, set: server.setValues) else {
            server.syncedSignature = signature
            return done(nil)
        }
        server.runInternal(sync) { [self] error in
            if let error { return done(error) }
            for (name, value) in parameters.values {
                if ClientParameters.isReported(name) {
                    if let canonical = server.parameters[name] { parameters.set(name, canonical) }
                } else {
                    server.setValues[name] = value
                }
            }
            server.setValues = server.setValues.filter { parameters.values[$0.key] != nil }
            server.syncedSignature = parameters.signature
            done(nil)
        }
    }

    private func attach(_ server: ServerConnection) {
        if let routing, case .begun(let begin) = routing.deferred {
            // The transaction pgproxy answered BEGIN for starts here, before its first statement.
            routing.deferred = .none
            waiting = true
            server.runInternal(begin) { [self] error in
                waiting = false
                guard phase != .closed else {
                    server.release(owed: 0, unsynced: false, resetQuery: resetQuery(afterSession: true))
                    return
                }
                if let error {
                    server.release(owed: 0, unsynced: false, resetQuery: nil)
                    refuse(ErrorFields(.fatal, error.sqlState, error.message, detail: "while starting the transaction pgproxy answered BEGIN for"))
                    return
                }
                attach(server)
            }
            return
        }
        self.server = server
        partition?.counters.serverAssignments &+= 1
        if let routing { routing.attached(to: server.partition.pool.backend) }
        server.attach(to: self)
        while let buffer = pending.popFirst() { send(buffer, to: server) }
        pendingBytes = 0
        server.flush()
        pausedForBackpressure = !server.isWritable
        setPausedForServer(false)
    }

    /// The server in use has received part of a message: nothing else may go to it before the
    /// rest, and it cannot go back to the pool. (Routed clients hold partial messages back, and
    /// so does the statement path for the messages it reads.)
    var midMessageOnServer: Bool {
        if let statements { return statements.midMessage }
        return routing == nil && !scanner.atMessageBoundary
    }

    /// Client bytes to the server, with the client's statement names rewritten when tracked.
    @inline(__always)
    func send(_ buffer: ByteBuffer, to server: ServerConnection) {
        if let statements { statements.send(buffer, to: server) } else { server.write(buffer) }
    }

    // MARK: called by the attached server connection

    func serverSentError() {
        partition?.counters.errors &+= 1
        routing?.failed = true
    }

    func trackParameter(_ name: String, _ value: String) {
        if ClientParameters.isReported(name) { parameters.set(name, value) }
    }

    /// A session SET committed on `server` (`track_session_settings`): replayed on the client's
    /// next server connections; `server` has it already.
    func settingApplied(name: String, statement: String, on server: ServerConnection) {
        let value = parameters.setReplayed(name, statement: statement)
        server.setValues[ClientParameters.canonicalName(name)] = value
        server.syncedSignature = parameters.signature
    }

    /// RESET of `name` (nil: of everything) or DISCARD ALL: those session SETs are no longer
    /// replayed.
    func forgetTrackedSettings(_ name: String?) { parameters.removeReplayed(name) }

    @inline(__always)
    func serverReadyForQuery(_ status: TransactionStatus, count: Int) {
        outstanding = max(outstanding - count, 0)
        guard let partition else { return }
        partition.counters.queries &+= UInt64(count)
        guard outstanding == 0, !unsynced else { return }
        if querySince != 0 {
            let now = NIODeadline.now().uptimeNanoseconds
            if let routing { routing.batchDone(micros: (now &- querySince) / 1000, status: status) }
            partition.counters.queryMicros &+= (now &- querySince) / 1000
            querySince = 0
            if status == .idle, transactionSince != 0 {
                partition.counters.transactions &+= 1
                partition.counters.transactionMicros &+= (now &- transactionSince) / 1000
                transactionSince = 0
            }
        }
        guard status == .idle else { return }
        if directWritesAfter > 0 {
            directWritesAfter -= 1
            if directWritesAfter == 0 { startDirectWrites() }
        }
        routing?.session.transactionEnded()
        // Part of the client's next message may be on this server already: keep it till whole.
        if mode == .transaction, !midMessageOnServer {
            releaseServer()
        }
        if shutdownRequested { closeForShutdown() }
    }

    func serverLost(reason: String) {
        server = nil
        routing?.detached()
        pausedForBackpressure = false
        refuse(ErrorFields(.fatal, SQLState.connectionFailure, "server connection lost: \(reason)", hint: "the transaction in progress, if any, was not committed; reconnect and retry"))
    }

    func setReadsPaused(_ paused: Bool) {
        pausedForBackpressure = paused
        updateReading()
    }

    func setPausedForServer(_ paused: Bool) {
        pausedForServer = paused
        updateReading()
    }

    private func updateReading() {
        let stop = pausedForServer || pausedForBackpressure
        guard stop != readingStopped else { return }
        if let raw {
            raw.setReading(!stop)
        } else if let context {
            context.setReading(!stop)
        } else {
            return
        }
        readingStopped = stop
    }

    private func releaseServer() {
        guard let server else { return }
        self.server = nil
        routing?.detached()
        flushToClient()
        server.release(owed: outstanding, unsynced: unsynced, resetQuery: resetQuery(afterSession: false))
        outstanding = 0
        unsynced = false
        // Paused because that server could not keep up: the next one starts afresh.
        if pausedForBackpressure { setReadsPaused(false) }
    }

    func resetQuery(afterSession: Bool) -> String? {
        // Field by field: a copy of the whole settings would retain each of its strings.
        guard let partition, (afterSession && partition.settings.mode == .session) || partition.settings.resetQueryAlways else {
            return nil
        }
        return partition.settings.resetQuery
    }

    // MARK: leaving

    /// The client is gone (Terminate or closed socket): give back what it holds.
    func leave() {
        guard phase != .closed else { return }
        phase = .closed
        loginEnded()
        if let admin {
            self.admin = nil
            admin.stop()
        }
        _ = out.stop()  // unflushed bytes are dropped, as the channel's close would drop them
        stopLoginClock()
        idleTimer?.cancel()
        shardCopy = nil
        if let fanout {
            self.fanout = nil
            fanout.cancel()
        } else if waiting {
            partition?.cancelWait(for: self)
        }
        waiting = false
        if let server {
            self.server = nil
            routing?.detached()
            if !midMessageOnServer {
                server.release(owed: outstanding, unsynced: unsynced, resetQuery: resetQuery(afterSession: true), extendedCopy: syncsSinceStatement > 0)
            } else {
                // Part of a message reached the server: nothing sent after it would be read right.
                server.close()
            }
        }
        statements?.forgetAll()
        statements?.session = nil
        partition?.clients -= 1
        if processID != 0 { runtime.cancelRegistry.unregister(processID: processID) }
        if admitted, let identity {
            admitted = false
            runtime.clientLeft(user: identity.user)
        }
        closeConnection()
    }

    /// Starts `client_idle_timeout`'s watch, if one is configured (at the end of the login).
    func watchIdleness() {
        guard config.general.clientIdleTimeout > 0 else { return }
        lastActivity = .now()
        armIdleTimer(after: .milliseconds(config.general.clientIdleTimeout))
    }

    private func armIdleTimer(after delay: TimeAmount) {
        // Strong (cancelled in leave): a weak reference would slow every retain of the session.
        idleTimer = eventLoop?.scheduleTask(in: delay) { [self] in idleCheck() }
    }

    /// One timer per client, re-armed for what is left rather than moved at each read.
    private func idleCheck() {
        guard phase == .ready else { return }
        let timeout = TimeAmount.milliseconds(config.general.clientIdleTimeout)
        let now = NIODeadline.now()
        if outstanding > 0 || waiting {
            // An answer is owed: the client waits for pgproxy, not the other way round.
            lastActivity = now
            armIdleTimer(after: timeout)
            return
        }
        let quiet = now - lastActivity
        guard quiet >= timeout else {
            armIdleTimer(after: timeout - quiet)
            return
        }
        idleTimer = nil
        refuse(ErrorFields(.fatal, SQLState.idleSessionTimeout,
                           "closing the connection: the client sent nothing for client_idle_timeout (\(config.general.clientIdleTimeout)ms)"))
    }

    func refuse(_ error: ErrorFields) {
        guard isConnected, phase != .closed else { return }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(128)
        error.write(into: &buffer)
        partition?.counters.errors &+= 1
        writeToClient(buffer)
        leave()
    }
}

