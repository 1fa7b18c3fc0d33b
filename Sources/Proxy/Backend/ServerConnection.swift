import Logging
import NIOCore
import NIOSSL

/// One connection from pgproxy to a PostgreSQL server. It lives on one event loop and belongs to
/// the `PoolPartition` of that loop; while a client uses it, bytes are forwarded as they come.
final class ServerConnection: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The large payloads are boxed (`indirect`): the state changes twice per transaction, and
    /// inline, they would make every change copy and destroy a value the size of the largest.
    enum State {
        case connecting
        /// SSLRequest sent; waiting for the server's one-byte answer.
        indirect case negotiatingTLS(ServerCredentials, TLSContexts)
        indirect case loggingIn(ServerLogin, MessageFramer)
        /// In the pool's idle list.
        case idle
        /// Forwarding for `client`.
        case attached
        /// Running a statement of pgproxy's own (parameter sync, reset, rollback).
        indirect case internalQuery(sql: String, error: ErrorFields?, completion: (ErrorFields?) -> Void)
        /// The client left with answers still owed: swallow them, then clean up.
        case draining(owed: Int, resetQuery: String?)
        /// Answering its shard's part of a cross-shard statement, for `leg`.
        case fanout(ShardLeg)
        case closed
    }

    // Stored properties are laid out in the order they are declared: those the data path reads
    // for every message first (a few adjacent cache lines), the login's and the rare ones after.

    unowned(unsafe) let partition: PoolPartition
    private(set) var state: State = .connecting
    /// The connection's socket on pgproxy's own event loop (instead of `context`; see EpollLoop).
    var raw: RawSocket?
    /// The client this connection is serving, while attached.
    private(set) var client: ClientSession?
    private var scanner = MessageScanner(
        notify: MessageSet([BackendID.copyInResponse, BackendID.parseComplete, BackendID.closeComplete]),
        capture: ServerConnection.captured)
    /// Bodies read from the server: ReadyForQuery, ParameterStatus and ErrorResponse, and for a
    /// client whose plugins count rows, CommandComplete.
    private static let captured = MessageSet([BackendID.readyForQuery, BackendID.parameterStatus, BackendID.errorResponse])
    private static let capturedCountingRows = MessageSet([
        BackendID.readyForQuery, BackendID.parameterStatus, BackendID.errorResponse, BackendID.commandComplete,
    ])
    /// The server's socket, written directly once the login is over (plain connections).
    var out = DirectWrites()
    private(set) var transactionStatus: TransactionStatus = .idle
    private(set) var inCopyIn = false
    private var readsPaused = false
    /// The server's socket takes more bytes (as of the last writability change); the attached
    /// client pauses its reads while it does not.
    private(set) var isWritable = true
    /// The connection is encrypted (`server_tls`).
    var usesTLS = false
    /// The named statements this connection has prepared, for transaction-pooled clients.
    private(set) var statements: ServerStatements?
    /// Captured types for the attached client, set before the next scan.
    private var captureChange: MessageSet?
    /// The start of a ParseComplete or CloseComplete that pgproxy takes out of the stream, cut
    /// by the end of a read: held back until the rest of it comes.
    private var heldHeader: ByteBuffer?
    /// The `ClientParameters.signature` this connection was last brought in line with; 0 when
    /// unknown (it changed since, or never was).
    var syncedSignature = 0
    var lastUsedAt = NIODeadline.now()
    /// When `server_lifetime` runs out; the connection is closed the next time it is idle.
    private let expiresAt: NIODeadline?
    /// The pool's generation when this connection was opened (see `Pool.generation`).
    let generation: Int
    var context: ChannelHandlerContext?

    // The login's, and what is read rarely.
    let id: Int
    let address: BackendAddress
    private var onLogin: ((ServerConnection, (any Error)?) -> Void)?
    private var loginDeadline: Scheduled<Void>?
    /// Values the server reported with ParameterStatus.
    var parameters: [String: String] = [:]
    /// Unreported settings pgproxy set on this connection (e.g. extra_float_digits).
    var setValues: [String: String] = [:] {
        didSet { syncedSignature = 0 }
    }
    private(set) var backendKey: (processID: Int32, secretKey: Int32)?
    let createdAt: NIODeadline

    init(
        id: Int, address: BackendAddress, partition: PoolPartition, lifetime: TimeAmount?, generation: Int,
        onLogin: @escaping (ServerConnection, (any Error)?) -> Void
    ) {
        let now = NIODeadline.now()
        self.generation = generation
        self.createdAt = now
        self.expiresAt = lifetime.map { now + $0 }
        self.id = id
        self.address = address
        self.partition = partition
        self.onLogin = onLogin
    }

    @inline(__always)
    func expired(at now: NIODeadline) -> Bool {
        if let expiresAt { return expiresAt < now }
        return false
    }

    var isClosed: Bool { if case .closed = state { return true } else { return false } }

    // MARK: login

    /// Starts the login, first asking for TLS when `server_tls` is on; gives up when the server
    /// is not ready within `timeout` (a server or middlebox that accepts and then says nothing).
    func beginLogin(credentials: ServerCredentials, tls: TLSContexts?, timeout: TimeAmount) {
        guard context != nil || raw != nil else { return }
        // A strong capture, not `[weak self]`: a weak reference would give the connection a side
        // table and make every retain and release of it on the data path take the slow path. The
        // task is cancelled when the login ends either way.
        loginDeadline = partition.eventLoop.scheduleTask(in: timeout) { [self] in
            guard loginDeadline != nil else { return }
            failLogin(ServerLogin.Failure.auth("the server did not finish the login within server_connect_timeout"))
        }
        if let tls, tls.config.serverTLS != .disable {
            state = .negotiatingTLS(credentials, tls)
            write(ServerTLSRequest.packet(allocator: ByteBufferAllocator()))
            flush()
            return
        }
        sendStartup(credentials)
    }

    /// The server's answer to the SSLRequest, on pgproxy's own loop (SwiftNIO's channel reads it
    /// in `channelRead`): OpenSSL goes between the socket and this connection for 'S'.
    private func tlsAnswered(_ buffer: ByteBuffer, credentials: ServerCredentials, tls: TLSContexts) {
        guard let raw else { return }
        switch ServerTLSRequest.answer(buffer, mode: tls.config.serverTLS) {
        case .failed(let failure):
            failLogin(failure)
        case .plain:
            sendStartup(credentials)
        case .encrypted:
            guard let context = tls.ownLoopServerSide else { return failLogin(ServerLogin.Failure.tls("server_tls is disabled")) }
            // From here every byte goes through OpenSSL, so through the socket's queue. Nothing
            // is left unflushed: the SSLRequest went out whole before its answer came.
            _ = out.stop()
            guard raw.startTLS(context, host: address.host) else {
                return failLogin(ServerLogin.Failure.tls("could not start TLS on the connection"))
            }
            usesTLS = true
            sendStartup(credentials)
        }
    }

    func sendStartup(_ credentials: ServerCredentials) {
        let login = ServerLogin(credentials: credentials)
        state = .loggingIn(login, MessageFramer())
        write(login.startupMessage())
        flush()
    }

    private func loginRead(_ buffer: ByteBuffer, login: inout ServerLogin, framer: inout MessageFramer) {
        if usesTLS, login.channelBinding == nil {
            // The handshake is over once the server's first message comes through it.
            if let raw {
                login.channelBinding = raw.tlsPeerCertificate.flatMap { try? TLSContexts.endPointHash(der: $0) }
            } else if let context {
                login.channelBinding = ServerTLSRequest.channelBinding(context.pipeline.syncOperations)
            }
        }
        framer.append(buffer)
        do {
            while let (id, body) = try framer.next() {
                switch try login.receive(id: id, body: body) {
                case .wait: continue
                case .send(let reply):
                    write(reply)
                    flush()
                case .ready:
                    loginDeadline?.cancel()
                    loginDeadline = nil
                    if !usesTLS, raw == nil, let context, let descriptor = SocketDescriptor.of(context.channel) {
                        // The server answered everything sent so far: the channel holds nothing.
                        out.start(descriptor: descriptor, channelOwes: false)
                    }
                    parameters = login.parameters
                    backendKey = login.backendKey
                    state = .idle
                    onLogin?(self, nil)
                    onLogin = nil
                    return
                }
            }
            state = .loggingIn(login, framer)
        } catch {
            failLogin(error)
        }
    }

    func failLogin(_ error: any Error) {
        loginDeadline?.cancel()
        loginDeadline = nil
        let callback = onLogin
        onLogin = nil
        close()
        callback?(self, error)
    }

    // MARK: use by a client

    func attach(to client: ClientSession) {
        self.client = client
        state = .attached
        // Applied at the next read: attach can run inside a scan of this connection's own reads
        // (a checkin from consumeWithoutClient hands it to a waiting client).
        let wanted = client.routing?.chain.wantsEvents == true ? Self.capturedCountingRows : Self.captured
        captureChange = wanted
        statements?.attached()
        // Back-pressure follows the client: a previous client may have left this paused.
        setReadsPaused(!client.isWritable)
    }


    /// A client changed a setting pgproxy does not carry: reset before the next client.
    var settingsDirty = false

    /// The connection's prepared statements, tracked from the first client that uses them.
    func preparedStatements(_ registry: StatementRegistry) -> ServerStatements {
        if let statements { return statements }
        let made = ServerStatements(registry: registry, connection: self)
        statements = made
        return made
    }

    /// Bytes from the attached client, already scanned by it; flushed at the end of its burst.
    @inline(__always)
    func write(_ buffer: ByteBuffer) {
        if out.isOn {
            out.append(buffer)
        } else if let raw {
            // Encrypted on the way out (TLS); nothing goes after a close's Terminate.
            if !isClosed { raw.append(buffer) }
        } else {
            context?.write(wrapOutboundOut(buffer), promise: nil)
        }
    }

    @inline(__always)
    func flush() {
        guard out.isOn else {
            if let raw { raw.flushAppended() } else { context?.flush() }
            return
        }
        if let left = out.flush() {
            // What the socket did not take goes through the channel, and later writes after it.
            DirectWrites.handOff(left, raw: raw, context: context) { [self] written in out.channelWrote(succeeded: written) }
        }
    }

    /// Runs one statement of pgproxy's own; its results never reach a client.
    func runInternal(_ sql: String, completion: @escaping (ErrorFields?) -> Void) {
        guard context != nil || raw != nil, !isClosed else {
            completion(ErrorFields(.error, SQLState.connectionFailure, "server connection closed"))
            return
        }
        state = .internalQuery(sql: sql, error: nil, completion: completion)
        var buffer = ByteBuffer()
        buffer.reserveCapacity(sql.utf8.count + 6)
        buffer.writeQuery(sql)
        write(buffer)
        flush()
    }

    /// The client is done with this connection. `owed` is how many ReadyForQuery it still awaits;
    /// `unsynced` says it sent extended-protocol messages without a Sync.
    /// `extendedCopy`: a COPY FROM STDIN the client started with Execute (its Sync, ignored by
    /// the server, is already in `owed`).
    func release(owed: Int, unsynced: Bool, resetQuery: String?, extendedCopy: Bool = false) {
        client = nil
        lastUsedAt = partition.clock
        // Paused for a client that could not keep up: without a client, answers are drained
        // here, and the next client must find the connection reading.
        if readsPaused { setReadsPaused(false) }
        guard !isClosed else { return }
        var owed = owed
        var unsynced = unsynced
        if inCopyIn {
            failCopyOfDepartedClient()
            // After an Execute's COPY fails, the server waits for a Sync before it answers.
            if extendedCopy {
                var sync = ByteBuffer()
                sync.writeMessage(id: FrontendID.sync) { _ in }
                write(sync)
                unsynced = false
            }
        }
        if unsynced {
            var buffer = ByteBuffer()
            buffer.writeMessage(id: FrontendID.sync) { _ in }
            write(buffer)
            owed += 1
        }
        if owed > 0 {
            flush()
            state = .draining(owed: owed, resetQuery: resetQuery)
            return
        }
        cleanUp(resetQuery: resetQuery)
    }

    /// Rolls back what the last client left open and runs the reset query, then returns to the pool.
    private func cleanUp(resetQuery: String?) {
        if statements?.unknown == true {
            // Which statements it still has is not known: a fresh connection replaces it.
            close()
            return
        }
        if transactionStatus != .idle {
            runInternal("ROLLBACK") { [self] error in
                if error != nil { close(); return }
                cleanUp(resetQuery: resetQuery)
            }
            return
        }
        if settingsDirty {
            // The settings go back to this connection's own; the next client's are applied afresh.
            runInternal("RESET SESSION AUTHORIZATION; RESET ROLE; RESET ALL") { [self] error in
                if error != nil { close(); return }
                settingsDirty = false
                setValues.removeAll()
                cleanUp(resetQuery: resetQuery)
            }
            return
        }
        if let resetQuery, !resetQuery.isEmpty {
            runInternal(resetQuery) { [self] error in
                if error != nil { close(); return }
                setValues.removeAll()
                settingsDirty = false
                if SessionCommand.dropsStatements(resetQuery) { statements?.forgetAll() }
                state = .idle
                partition.checkin(self)
            }
            return
        }
        state = .idle
        partition.checkin(self)
    }

    /// Sends a Terminate and closes; the partition is told through channelInactive.
    func close() {
        let unflushed = out.stop()
        if let raw, !isClosed {
            state = .closed
            var buffer = ByteBuffer()
            buffer.writeTerminate()
            raw.close(after: unflushed + [buffer])
            return
        }
        guard let context, !isClosed else {
            state = .closed
            return
        }
        state = .closed
        for buffer in unflushed { context.write(wrapOutboundOut(buffer), promise: nil) }
        var buffer = context.channel.allocator.buffer(capacity: 5)
        buffer.writeTerminate()
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in context.close(promise: nil) }
    }

    /// Stops or resumes reading from the server (back-pressure from a slow client).
    func setReadsPaused(_ paused: Bool) {
        guard paused != readsPaused else { return }
        readsPaused = paused
        if let raw { raw.setReading(!paused) } else { context?.setReading(!paused) }
    }

    // MARK: reading

    var localAddress: SocketAddress? { raw?.localAddress ?? context?.channel.localAddress }

    /// Bytes from the server (through SwiftNIO or a `RawSocket`).
    @inline(__always)
    func received(_ buffer: ByteBuffer) {
        // `client` is set exactly while attached: test it first and skip copying `state`.
        if let client {
            if let captureChange {
                // Between reads the idle connection stands between messages.
                scanner.capture = captureChange
                self.captureChange = nil
            }
            forwardToClient(buffer, client)
            return
        }
        switch state {
        case .attached:
            break
        case .loggingIn(var login, var framer):
            state = .connecting  // placeholder while the values are borrowed
            loginRead(buffer, login: &login, framer: &framer)
        case .internalQuery, .draining, .idle:
            consumeWithoutClient(buffer)
        case .fanout(let leg):
            consumeForLeg(buffer, leg)
        case .negotiatingTLS(let credentials, let tls):
            tlsAnswered(buffer, credentials: credentials, tls: tls)
        case .connecting, .closed:
            break
        }
    }

    /// Serves one leg of a cross-shard statement: its answers go to `leg`, not to a client.
    func attach(to leg: ShardLeg) {
        state = .fanout(leg)
        if readsPaused { setReadsPaused(false) }
    }

    /// A leg's answers: the connection's own bookkeeping first (status, parameters), as without
    /// a client; then the leg reads them whole.
    private func consumeForLeg(_ buffer: ByteBuffer, _ leg: ShardLeg) {
        consumeWithoutClient(buffer)
        guard !isClosed else { return }
        leg.received(buffer)
    }

    @inline(__always)
    private func forwardToClient(_ buffer: ByteBuffer, _ client: ClientSession) {
        var ready = 0
        var cuts: StreamCuts?
        do {
            try scanner.scan(buffer) { id, body, end in
                switch id {
                case BackendID.readyForQuery:
                    readyForQuery(body)
                    ready += 1
                case BackendID.parseComplete, BackendID.closeComplete:
                    if let statements, !statements.answered(id) {
                        // pgproxy's own Parse or Close: its answer is not the client's.
                        if cuts == nil { cuts = StreamCuts(held: heldHeader) }
                        cuts!.cut(messageEndingAt: end, in: buffer)
                    }
                case BackendID.parameterStatus:
                    if let body, let (name, value) = recordParameter(body) { client.trackParameter(name, value) }
                case BackendID.copyInResponse:
                    inCopyIn = true
                case BackendID.errorResponse:
                    statements?.errorArrived()
                    client.serverSentError()
                case BackendID.commandComplete:
                    if let body { client.routing?.count(commandTag: body) }
                default:
                    break
                }
            }
        } catch {
            partition.logger.error("server \(address) sent a malformed message: \(error)")
            client.serverLost(reason: "server sent a malformed message")
            close()
            return
        }
        if heldHeader != nil || cuts != nil || (statements != nil && scanner.partialHeader != nil) {
            writeCut(buffer, cuts, to: client)
        } else {
            client.writeFromServer(buffer)
        }
        // A pipelining client's answers can bring several ReadyForQuery in one read.
        if ready > 0 { client.serverReadyForQuery(transactionStatus, count: ready) }
    }

    /// Writes `buffer` without the answers pgproxy takes out, holding back a header cut by the
    /// end of the read when it starts such an answer.
    private func writeCut(_ buffer: ByteBuffer, _ cuts: StreamCuts?, to client: ClientSession) {
        var cuts = cuts ?? StreamCuts(held: heldHeader)
        heldHeader = nil
        if let statements, let partial = scanner.partialHeader, statements.nextIsSwallowed(partial.id) {
            var held = ByteBuffer()
            if partial.count > buffer.readableBytes, let earlier = cuts.takeHeld() {
                held = earlier  // the same header, cut by two reads in a row
            }
            let here = min(partial.count, buffer.readableBytes)
            held.writeImmutableBuffer(buffer.getSlice(at: buffer.writerIndex - here, length: here)!)
            heldHeader = held
            cuts.cut(buffer.writerIndex - here..<buffer.writerIndex)
        }
        cuts.write(buffer) { client.writeFromServer($0) }
    }

    /// Ends the COPY FROM STDIN of a client that left (written, not flushed).
    private func failCopyOfDepartedClient() {
        var buffer = ByteBuffer()
        buffer.writeCopyFail("client disconnected during COPY")
        write(buffer)
    }

    /// A ReadyForQuery: the transaction status, and the statements' bookkeeping.
    @inline(__always)
    private func readyForQuery(_ body: ByteBuffer?) {
        recordReadyForQuery(body)
        statements?.readyForQuery(transactionStatus)
    }

    @inline(__always)
    private func recordReadyForQuery(_ body: ByteBuffer?) {
        if let body, let status = body.getInteger(at: body.readerIndex, as: UInt8.self) {
            transactionStatus = TransactionStatus(rawValue: status) ?? .idle
        }
        inCopyIn = false
    }

    @discardableResult
    private func recordParameter(_ body: ByteBuffer) -> (String, String)? {
        var body = body
        guard let name = body.readNullTerminatedString(), let value = body.readNullTerminatedString() else { return nil }
        parameters[name] = value
        syncedSignature = 0
        return (name, value)
    }

    /// Reads while no client is attached: pgproxy's own statements, the tail of a departed
    /// client's answers, or something unsolicited from an idle server.
    private func consumeWithoutClient(_ buffer: ByteBuffer) {
        heldHeader = nil
        do {
            try scanner.scan(buffer) { id, body, _ in
                switch id {
                case BackendID.readyForQuery:
                    readyForQuery(body)
                    internalReadyForQuery()
                case BackendID.parseComplete, BackendID.closeComplete:
                    _ = statements?.answered(id)
                case BackendID.parameterStatus:
                    if let body { recordParameter(body) }
                case BackendID.errorResponse:
                    statements?.errorArrived()
                    let fields = ErrorFields.decode(body: body ?? ByteBuffer())
                    if case .internalQuery(let sql, nil, let completion) = state {
                        state = .internalQuery(sql: sql, error: fields, completion: completion)
                    } else if fields.isFatal {
                        partition.logger.info("server \(address) closed its connection: \(fields.message)")
                    }
                case BackendID.copyInResponse:
                    inCopyIn = true
                    if case .draining = state {
                        // The client left before its COPY FROM started: no data comes.
                        failCopyOfDepartedClient()
                        flush()
                    }
                default:
                    break
                }
            }
        } catch {
            close()
        }
    }

    private func internalReadyForQuery() {
        switch state {
        case .internalQuery(_, let error, let completion):
            state = .idle
            completion(error)
        case .draining(let owed, let resetQuery):
            if owed > 1 {
                state = .draining(owed: owed - 1, resetQuery: resetQuery)
            } else {
                cleanUp(resetQuery: resetQuery)
            }
        default:
            break
        }
    }

    func writabilityChanged(_ writable: Bool) {
        isWritable = writable
        client?.setReadsPaused(!isWritable)
        if case .fanout(let leg) = state { leg.serverWritabilityChanged() }
    }

    /// The connection is closed (by either side): tell whoever used it, and the partition.
    /// `loginFailure` says why, when it closed during the login and the reason is known.
    func connectionClosed(loginFailure: (any Error)? = nil) {
        _ = out.stop()
        let previous = state
        state = .closed
        switch previous {
        case .connecting, .loggingIn, .negotiatingTLS:
            failLogin(loginFailure ?? ServerLogin.Failure.auth("the server closed the connection during login"))
        case .attached:
            client?.serverLost(reason: "the server closed the connection unexpectedly")
            client = nil
        case .internalQuery(_, _, let completion):
            completion(ErrorFields(.fatal, SQLState.connectionFailure, "server connection lost"))
        case .fanout(let leg):
            leg.serverLost()
        default:
            break
        }
        statements?.closed()
        partition.serverClosed(self)
    }
}
