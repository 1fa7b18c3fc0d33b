import Logging
import NIOCore
import NIOSSL

/// The client's login: startup packet, authentication, and the first ReadyForQuery (after the
/// pool's first server login, for the first client of a pool), or the admin console.
extension ClientSession {
    func startupBytes(_ buffer: ByteBuffer) {
        var buffer = buffer
        startupBuffer.writeBuffer(&buffer)
        do {
            while phase == .startup, let packet = try StartupPacket.decode(from: &startupBuffer) {
                if packet == .sslRequest || packet == .gssEncRequest, startupBuffer.readableBytes > 0 {
                    // The client must wait for the answer; bytes sent before it are refused, as
                    // PostgreSQL does (CVE-2021-23214: they could have been put there by anyone).
                    refuse(ErrorFields(.fatal, SQLState.protocolViolation, "received unencrypted data after SSL request"))
                    return
                }
                if case .startup = packet, let handler = tlsHandler {
                    // The handshake is over by now (the packet came through it).
                    login.tls?.clientCertificate = handler.peerCertificate != nil
                    login.tls?.clientCommonName = handler.peerCertificate.flatMap(TLSContexts.commonName(of:))
                    login.tls?.version = handler.tlsVersion.map(TLSContexts.name(of:)) ?? "TLS"
                    tlsHandler = nil
                } else if case .startup = packet, let raw, raw.isTLS {
                    recordTLSPeer(of: raw)
                }
                perform(login.receiveStartup(packet))
            }
        } catch {
            refuse(ErrorFields(.fatal, SQLState.protocolViolation, "invalid startup packet: \(error)"))
        }
    }

    func authenticationBytes(_ buffer: ByteBuffer) {
        framer.append(buffer)
        do {
            while phase == .authenticating, let (id, body) = try framer.next() {
                guard id == FrontendID.password else {
                    refuse(ErrorFields(.fatal, SQLState.protocolViolation, "expected a password message, got '\(Character(Unicode.Scalar(id)))'"))
                    return
                }
                perform(login.receivePassword(body))
            }
        } catch {
            refuse(ErrorFields(.fatal, SQLState.protocolViolation, "invalid message during authentication: \(error)"))
        }
    }

    func perform(_ action: ClientLogin.Action) {
        guard let loop = eventLoop, isConnected else { return }
        switch action {
        case .wait:
            break
        case .send(let reply):
            writeToClient(reply)
            if !login.expectsStartupPacket {
                phase = .authenticating
                if let rest = takeStartupRemainder() { framer.append(rest) }
            }
        case .refuseLogging(let error, let reason):
            logger.info("failed login from \(Self.describe(login.clientAddress)): \(reason)")
            refuse(error)
        case .refuse(let error):
            // The reason names the user and database; never a password.
            if error.sqlState == SQLState.invalidPassword || error.sqlState == SQLState.invalidAuthorization {
                logger.info("failed login from \(Self.describe(login.clientAddress)): \(error.message)")
            }
            refuse(error)
        case .startTLS:
            // Bytes sent after the SSLRequest but before the handshake could come from anyone on
            // the path (CVE-2021-23214): refuse them rather than read them as if they were encrypted.
            guard startupBuffer.readableBytes == 0 else {
                return refuse(ErrorFields(.fatal, SQLState.protocolViolation, "received unencrypted data after SSL request"))
            }
            guard let contexts = runtime.tlsContexts.withLock({ $0 }) else { return refuse(Self.tlsGone) }
            if let context {
                startTLS(context: context, contexts: contexts)
            } else if let raw {
                startTLS(on: raw, contexts: contexts)
            } else {
                refuse(ErrorFields(.fatal, SQLState.protocolViolation, "TLS is not available on this connection"))
            }
        case .lookUp(let user, let database):
            // Bytes a client sends before it is asked for a password are a protocol violation now.
            phase = .authenticating
            runtime.lookUpSecret(user: user, database: database, on: loop).whenComplete { [self] result in
                guard phase == .authenticating else { return }
                perform(login.lookedUp(result))
            }
        case .cancel(let pid, let key):
            runtime.cancelRegistry.cancel(processID: pid, secretKey: key)
            phase = .closed
            closeConnection()
        case .authenticated(let identity, let reply):
            authenticated(identity, reply: reply)
        }
    }

    /// "127.0.0.1:51188", for the log.
    static func describe(_ address: SocketAddress?) -> String {
        if case .unixDomainSocket = address { return "[local]" }
        guard let address, let ip = address.ipAddress else { return "?" }
        return "\(ip):\(address.port ?? 0)"
    }

    /// A reload took client TLS away between the SSLRequest being read and being answered.
    static let tlsGone = ErrorFields(.fatal, SQLState.protocolViolation, "TLS is no longer configured")

    /// Answers an SSLRequest with 'S' and puts TLS in front of everything else in the pipeline.
    func startTLS(context: ChannelHandlerContext, contexts: TLSContexts) {
        guard let handler = contexts.clientHandler() else { return refuse(Self.tlsGone) }
        var answer = context.channel.allocator.buffer(capacity: 1)
        answer.writeInteger(UInt8(ascii: "S"))
        context.writeAndFlush(wrapOutboundOut(answer), promise: nil)
        do {
            try context.pipeline.syncOperations.addHandler(handler, position: .first)
        } catch {
            logger.debug("could not start TLS: \(error)")
            phase = .closed
            context.close(promise: nil)
            return
        }
        tlsHandler = handler
        login.tls = ClientLogin.TLSState(channelBinding: contexts.channelBinding)
    }

    func takeStartupRemainder() -> ByteBuffer? {
        guard startupBuffer.readableBytes > 0 else { return nil }
        defer { startupBuffer = ByteBuffer() }
        return startupBuffer.slice()
    }

    /// The login is over (done or not): `client_login_timeout` stops watching.
    func stopLoginClock() {
        guard let (deadlines, slot) = loginWatch else { return }
        loginWatch = nil
        deadlines.remove(slot)
    }

    /// Called by `LoginDeadlines` when the client's `client_login_timeout` passed.
    func loginTimedOut() {
        loginWatch = nil
        guard phase != .ready, phase != .closed else { return }
        refuse(ErrorFields(.fatal, SQLState.protocolViolation, "client did not finish logging in within client_login_timeout"))
    }

    func loginEnded() {
        guard countedAsLoggingIn else { return }
        countedAsLoggingIn = false
        runtime.clientsLoggingIn.subtract(1, ordering: .relaxed)
    }

    /// `reply` (AuthenticationOk) goes out with the rest of the login's answer when the pool can
    /// give it at once (one write instead of two), else first, on its own.
    func authenticated(_ identity: ClientLogin.Identity, reply: ByteBuffer) {
        loginEnded()
        guard let loop = eventLoop, isConnected else { return }
        self.identity = identity
        if let rest = takeStartupRemainder() { framer.append(rest) }
        if identity.isAdmin {
            openAdminConsole(on: loop, authenticationOk: reply)
            return
        }
        guard let partition = admit(identity, on: loop, authenticationOk: reply) else { return }
        if let defaults = partition.pool.serverParameters {
            completeLogin(serverDefaults: defaults, authenticationOk: reply)
            let early = framer.takeRemainder()
            framer = MessageFramer()
            if let early { clientBytes(early) }
        } else {
            // The first client of a pool waits for a server login to learn what to tell clients.
            writeLater(reply)
            phase = .awaitingServerForLogin
            requestServer()
        }
    }

    /// Takes an authenticated client into its pool: its partition, or nil when it is refused
    /// (after `authenticationOk`, as PostgreSQL refuses after authentication).
    private func admit(_ identity: ClientLogin.Identity, on loop: any EventLoop, authenticationOk: ByteBuffer) -> PoolPartition? {
        func refuseAuthenticated(_ error: ErrorFields) -> PoolPartition? {
            writeLater(authenticationOk)
            refuse(error)
            return nil
        }
        if runtime.disabledDatabases.withLock({ $0.contains(identity.database.name) }) {
            return refuseAuthenticated(ErrorFields(.fatal, SQLState.objectNotInPrerequisiteState, "database \"\(identity.database.name)\" is disabled (DISABLE); new connections are refused until ENABLE"))
        }
        let key = PoolKey(database: identity.database.name, user: identity.user.name)
        mode = config.poolMode(user: identity.user.name, database: identity.database.name)
        guard runtime.admitClient(user: identity.user) else {
            return refuseAuthenticated(ErrorFields(.fatal, SQLState.tooManyConnections, "too many client connections for user \"\(identity.user.name)\" or in total (max_client_connections)"))
        }
        admitted = true
        let group = runtime.group(for: key, identity: identity)
        let part = group.part(for: loop)
        groupPart = part
        if let keys = identity.scramKeys {
            // The latest login's keys: an auth_query user's password may have changed since the first.
            for pool in group.layout.pools where pool.scramKeys != keys { pool.scramKeys = keys }
        }
        let partition = part.home
        self.pool = partition.pool
        self.partition = partition
        if mode == .transaction {
            let tracked = ClientStatements(
                registry: runtime.statementRegistry(for: loop), tracksSettings: config.general.trackSessionSettings)
            tracked.partition = partition
            tracked.session = self
            statements = tracked
        }
        if part.topology.hasSeveralHosts || !runtime.plugins.isEmpty {
            routing = ClientRouting(
                router: runtime.router(for: loop), chain: runtime.plugins,
                user: identity.user.name, database: identity.database.name)
        }
        partition.clients += 1  // and -= 1 in leave(), which runs once
        (processID, secretKey) = runtime.cancelRegistry.register(self, loop: loop)
        return partition
    }

    func openAdminConsole(on loop: any EventLoop, authenticationOk: ByteBuffer) {
        stopLoginClock()
        (processID, secretKey) = runtime.cancelRegistry.register(self, loop: loop)
        var status = ByteBuffer()
        for (name, value) in [
            ("server_version", ProxyVersion.string), ("server_encoding", "UTF8"), ("client_encoding", "UTF8"),
            ("DateStyle", "ISO, MDY"), ("integer_datetimes", "on"), ("standard_conforming_strings", "on"),
            ("TimeZone", "UTC"), ("application_name", ""),
        ] { status.writeParameterStatus(name, value) }
        finishLogin(status: status, before: authenticationOk)
        phase = .admin
        let console = AdminConsole(
            context: AdminContext(runtime: runtime, loop: loop, processID: processID),
            send: { [weak self] reply in
                guard let self, self.isConnected else { return }
                self.writeToClient(reply)
            },
            close: { [weak self] in self?.leave() })
        admin = console
        if let early = framer.takeRemainder() { console.receive(early) }
        framer = MessageFramer()
    }

    /// Ends the login with the pool's learned server parameters as the defaults (`serverDefaults`
    /// only while the pool has learned none).
    func completeLogin(serverDefaults: [String: String], authenticationOk: ByteBuffer? = nil) {
        guard isConnected, let identity else { return }
        stopLoginClock()
        let reply: LoginReplies.Reply
        if let partition, let learned = partition.pool.serverParameters {
            reply = partition.loginReplies.reply(startup: identity.parameters, serverDefaults: learned)
        } else {
            reply = LoginReplies.build(startup: identity.parameters, serverDefaults: serverDefaults)
        }
        parameters = reply.parameters
        finishLogin(status: reply.status, before: authenticationOk)
        // Plain connections write directly once they prove long-lived (see `directWritesAfter`);
        // on a RawSocket they always have.
        if login.tls == nil, raw == nil { directWritesAfter = 2 }
        phase = .ready
        watchIdleness()
    }

    /// ParameterStatus for each setting, BackendKeyData and the first ReadyForQuery (after `first`).
    func finishLogin(status: ByteBuffer, before first: ByteBuffer? = nil) {
        var buffer = ByteBuffer()
        buffer.reserveCapacity((first?.readableBytes ?? 0) + status.readableBytes + 19)
        if let first { buffer.writeImmutableBuffer(first) }
        buffer.writeImmutableBuffer(status)
        buffer.writeBackendKeyData(processID: processID, secretKey: secretKey)
        buffer.writeReadyForQuery(.idle)
        writeToClient(buffer)
        // The login buffers are not needed again: an idle client should cost as little as possible.
        startupBuffer = ByteBuffer()
    }
}
