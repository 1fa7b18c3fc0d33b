import NIOCore

/// A client's login, as a state machine without I/O: from the startup packet through
/// authentication against users.toml. It answers each input with what to send back.
struct ClientLogin {
    enum Action {
        /// Send these bytes and keep reading.
        case send(ByteBuffer)
        /// Send this FATAL error and close.
        case refuse(ErrorFields)
        case cancel(processID: Int32, secretKey: Int32)
        /// Answer 'S' and start the TLS handshake.
        case startTLS
        /// Find the secret of a user not in users.toml with auth_query, then call `lookedUp`.
        case lookUp(user: String, database: DatabaseConfig)
        /// Authentication succeeded; AuthenticationOk is in `reply`.
        case authenticated(Identity, reply: ByteBuffer)
        case wait
    }

    /// Who logged in, to what, and with which startup settings.
    struct Identity {
        var user: UserConfig
        var database: DatabaseConfig
        var parameters: [(String, String)]
        var scramKeys: ServerSCRAMKeys?
        /// Logged in to the admin console rather than a pool.
        var isAdmin = false
        /// How the password is checked: `auth_type`, unless an hba_file line says otherwise.
        var authType = ClientAuthType.trust
    }

    /// What the client's TLS offers the login: set by the session once the handshake is done.
    struct TLSState {
        /// The `tls-server-end-point` binding of pgproxy's certificate, for SCRAM-SHA-256-PLUS.
        var channelBinding: [UInt8]?
        /// The common name of the certificate the client presented, if it did.
        var clientCommonName: String?
        /// "TLSv1.3" and the like, for SHOW CLIENTS.
        var version = ""
    }

    private enum State {
        case awaitingStartup
        /// Waiting for auth_query's answer; `reply` holds what goes before the auth request.
        case lookingUp(Identity, reply: ByteBuffer)
        case awaitingPassword(Identity, method: Method, salt: [UInt8])
        case scramFirst(Identity, SCRAMVerifier, channelBinding: [UInt8]?)
        case scramFinal(Identity, SCRAMServerExchange)
        case done
    }

    private enum Method { case cleartext, md5 }

    private let config: ProxyConfig
    private let verifierForPlain: (String, String) -> SCRAMVerifier
    private var state = State.awaitingStartup
    /// Whether an SSLRequest may be answered with 'S' (a `[tls]` certificate and `client_tls` not "disable").
    var tlsAvailable = false
    /// Set once the client's connection is encrypted.
    var tls: TLSState?
    /// Where the client connects from, for `hba_file`.
    var clientAddress: SocketAddress?

    /// `verifierForPlain(user, password)` returns a stable SCRAM verifier for a clear-text password,
    /// so SCRAM works for users whose password is stored in clear.
    init(config: ProxyConfig, verifierForPlain: @escaping (String, String) -> SCRAMVerifier) {
        self.config = config
        self.verifierForPlain = verifierForPlain
    }

    var expectsStartupPacket: Bool { if case .awaitingStartup = state { return true } else { return false } }

    mutating func receiveStartup(_ packet: StartupPacket) -> Action {
        switch packet {
        case .sslRequest where tls != nil:
            return protocolViolation("SSLRequest on a connection that is already encrypted")
        case .sslRequest where tlsAvailable:
            return .startTLS
        case .sslRequest, .gssEncRequest:
            var reply = ByteBuffer()
            reply.writeInteger(UInt8(ascii: "N"))
            return .send(reply)
        case .cancel(let pid, let key):
            return .cancel(processID: pid, secretKey: key)
        case .startup(let version, let parameters):
            return startup(version: version, parameters: parameters)
        }
    }

    private mutating func startup(version: Int32, parameters: [(String, String)]) -> Action {
        var settings: [(String, String)] = []
        var user: String?
        var database: String?
        var unrecognized: [String] = []
        for (name, value) in parameters {
            switch name {
            case "user": user = value
            case "database": database = value
            case "replication":
                return .refuse(ErrorFields(.fatal, SQLState.featureNotSupported, "replication connections are not supported through pgproxy; connect to the server directly"))
            case "options":
                settings += ClientParameters.parseOptions(value)
            default:
                if name.hasPrefix("_pq_.") { unrecognized.append(name) } else { settings.append((name, value)) }
            }
        }
        guard let user, !user.isEmpty else {
            return .refuse(ErrorFields(.fatal, SQLState.invalidAuthorization, "no PostgreSQL user name specified in startup packet"))
        }
        if let refusal = tlsRefusal(user: user) { return refusal }
        let databaseName = (database?.isEmpty ?? true) ? user : database!
        if AdminConfig.databaseNames.contains(databaseName) {
            return adminStartup(user: user, database: databaseName, settings: settings, version: version, unrecognized: unrecognized)
        }
        guard let databaseConfig = config.database(named: databaseName) else {
            return .refuse(ErrorFields(.fatal, SQLState.invalidCatalogName, "database \"\(databaseName)\" does not exist in pgproxy's configuration"))
        }
        let authType: ClientAuthType
        switch hostRuleAuthType(user: user, database: databaseName) {
        case .failure(let refusal): return refusal.action
        case .success(let type): authType = type
        }
        var reply = ByteBuffer()
        if version & 0xFFFF != 0 || !unrecognized.isEmpty {
            reply.writeNegotiateProtocolVersion(newestMinor: StartupCode.protocol3, unrecognized: unrecognized)
        }
        guard let userConfig = config.user(named: user, database: databaseName) else {
            if config.general.authUser != nil {
                // Not listed: auth_query on the server knows the user's secret, or that there is none.
                var pending = Identity(user: UserConfig(name: user), database: databaseConfig, parameters: settings)
                pending.authType = authType
                state = .lookingUp(pending, reply: reply)
                return .lookUp(user: user, database: databaseConfig)
            }
            return .refuse(ErrorFields(.fatal, SQLState.invalidAuthorization, "user \"\(user)\" is not allowed to connect to database \"\(databaseName)\" through pgproxy (not in users.toml)"))
        }
        var identity = Identity(user: userConfig, database: databaseConfig, parameters: settings)
        identity.authType = authType
        return requestAuthentication(identity, reply: &reply)
    }

    /// The answer of auth_query for the user being looked up: its secret, or nil when the server
    /// has none (no such user, no password, expired), which fails like a wrong password.
    mutating func lookedUp(_ result: Result<String?, any Error>) -> Action {
        guard case .lookingUp(var identity, var reply) = state else { return protocolViolation("unexpected auth_query answer") }
        switch result {
        case .failure(let error):
            state = .done
            return .refuse(ErrorFields(.fatal, SQLState.cannotConnect, "cannot look up user \"\(identity.user.name)\" with auth_query: \(error)"))
        case .success(nil):
            return wrongPassword(identity)
        case .success(let secret?):
            identity.user.password = secret
            return requestAuthentication(identity, reply: &reply)
        }
    }

    /// `client_tls` "require" and stronger refuse a plain-text client before any password is
    /// exchanged; "verify-full" also wants the certificate to name the user.
    private mutating func tlsRefusal(user: String) -> Action? {
        guard let mode = config.tls?.clientTLS, mode.requiresTLS else { return nil }
        guard let tls else {
            return .refuse(ErrorFields(.fatal, SQLState.invalidAuthorization,
                                       "pgproxy accepts only TLS connections (client_tls = \"\(mode.rawValue)\"); connect with sslmode=require or stronger"))
        }
        if mode == .verifyFull, tls.clientCommonName != user {
            return .refuse(ErrorFields(.fatal, SQLState.invalidAuthorization,
                                       "certificate validation (client_tls = \"verify-full\") failed for user \"\(user)\": the certificate's common name is \"\(tls.clientCommonName ?? "")\""))
        }
        return nil
    }

    /// A login to the admin console: only the `[admin]` user may have it.
    private mutating func adminStartup(user: String, database: String, settings: [(String, String)], version: Int32, unrecognized: [String]) -> Action {
        guard let admin = config.admin else {
            return .refuse(ErrorFields(.fatal, SQLState.invalidAuthorization, "the admin console is not enabled (no [admin] section in pgproxy.toml)"))
        }
        guard user == admin.user else {
            return .refuse(ErrorFields(.fatal, SQLState.invalidAuthorization, "user \"\(user)\" is not allowed to use the admin console (database \"\(database)\")"))
        }
        var identity = Identity(
            user: UserConfig(name: admin.user, password: admin.password),
            database: DatabaseConfig(name: database, host: ""),
            parameters: settings)
        identity.isAdmin = true
        switch hostRuleAuthType(user: user, database: database) {
        case .failure(let refusal): return refusal.action
        case .success(let authType): identity.authType = authType
        }
        var reply = ByteBuffer()
        if version & 0xFFFF != 0 || !unrecognized.isEmpty {
            reply.writeNegotiateProtocolVersion(newestMinor: StartupCode.protocol3, unrecognized: unrecognized)
        }
        return requestAuthentication(identity, reply: &reply)
    }

    /// The first hba_file line for this connection decides: refused, or how to authenticate.
    private func hostRuleAuthType(user: String, database: String) -> Result<ClientAuthType, Refusal> {
        guard let rules = config.hostRules else { return .success(config.general.authType) }
        let host = clientAddress?.ipAddress ?? "unknown"
        let encryption = tls == nil ? "no encryption" : "SSL encryption"
        let described = "host \"\(host)\", user \"\(user)\", database \"\(database)\", \(encryption)"
        guard let rule = rules.match(database: database, user: user, address: clientAddress, tls: tls != nil) else {
            return .failure(Refusal(.refuse(ErrorFields(.fatal, SQLState.invalidAuthorization, "no hba_file entry for \(described)"))))
        }
        if rule.clientCertificate != nil || rule.method == .cert {
            guard let name = tls?.clientCommonName else {
                return .failure(Refusal(.refuse(ErrorFields(.fatal, SQLState.invalidAuthorization,
                    "connection requires a valid client certificate (hba_file line \(rule.line))"))))
            }
            if rule.clientCertificate == .verifyFull, name != user {
                return .failure(Refusal(.refuse(ErrorFields(.fatal, SQLState.invalidAuthorization,
                    "certificate authentication failed for user \"\(user)\": the certificate's common name is \"\(name)\" (hba_file line \(rule.line))"))))
            }
        }
        switch rule.method {
        case .reject:
            return .failure(Refusal(.refuse(ErrorFields(.fatal, SQLState.invalidAuthorization, "hba_file rejects connection for \(described)"))))
        case .trust, .cert: return .success(.trust)
        case .md5: return .success(.md5)
        case .password: return .success(.plain)
        case .scramSHA256: return .success(.scramSHA256)
        }
    }

    /// An Action as an Error, for `Result`.
    struct Refusal: Error {
        let action: Action
        init(_ action: Action) { self.action = action }
    }

    private mutating func requestAuthentication(_ identity: Identity, reply: inout ByteBuffer) -> Action {
        let authType = identity.authType
        if authType == .trust { return succeed(identity, reply: reply) }
        guard let password = identity.user.password else {
            return .refuse(ErrorFields(.fatal, SQLState.invalidPassword, "password authentication failed for user \"\(identity.user.name)\" (no password is configured for this user)"))
        }
        let secret = StoredSecret(parsing: password)
        let useSCRAM: Bool
        switch (authType, secret) {
        case (.scramSHA256, .md5): useSCRAM = false
        case (.scramSHA256, _), (.md5, .scram): useSCRAM = true
        default: useSCRAM = false
        }
        if useSCRAM {
            let verifier: SCRAMVerifier
            switch secret {
            case .scram(let stored): verifier = stored
            case .plain(let clear): verifier = verifierForPlain(identity.user.name, clear)
            case .md5: return .refuse(ErrorFields(.fatal, SQLState.invalidPassword, "cannot use SCRAM with an MD5 secret"))
            }
            // Channel binding is offered only where there is a channel to bind to.
            let binding = tls?.channelBinding
            state = .scramFirst(identity, verifier, channelBinding: binding)
            reply.writeAuthenticationSASL(mechanisms: binding == nil ? ["SCRAM-SHA-256"] : ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"])
            return .send(reply)
        }
        if authType == .plain {
            state = .awaitingPassword(identity, method: .cleartext, salt: [])
            reply.writeAuthenticationRequest(code: 3)
            return .send(reply)
        }
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<4).map { _ in UInt8.random(in: 0...255, using: &generator) }
        state = .awaitingPassword(identity, method: .md5, salt: salt)
        reply.writeAuthenticationRequest(code: 5, salt)
        return .send(reply)
    }

    /// A 'p' message: PasswordMessage, SASLInitialResponse or SASLResponse, depending on the state.
    mutating func receivePassword(_ body: ByteBuffer) -> Action {
        var body = body
        switch state {
        case .awaitingPassword(let identity, let method, let salt):
            guard let given = body.readNullTerminatedString() else { return protocolViolation("malformed password message") }
            let secret = StoredSecret(parsing: identity.user.password ?? "")
            let valid: Bool
            switch (method, secret) {
            case (.cleartext, .plain(let clear)): valid = constantTimeEqual(Array(given.utf8), Array(clear.utf8))
            case (.cleartext, .md5(let stored)):
                valid = constantTimeEqual(Array(MD5Password.stored(user: identity.user.name, password: given).utf8), Array(stored.utf8))
            case (.cleartext, .scram(let verifier)):
                let candidate = SCRAMVerifier.make(password: given, salt: verifier.salt, iterations: verifier.iterations)
                valid = constantTimeEqual(candidate.storedKey, verifier.storedKey)
            case (.md5, .plain(let clear)):
                valid = MD5Password.verify(response: given, storedHash: MD5Password.stored(user: identity.user.name, password: clear), salt: salt)
            case (.md5, .md5(let stored)):
                valid = MD5Password.verify(response: given, storedHash: stored, salt: salt)
            case (.md5, .scram):
                valid = false
            }
            return valid ? succeed(identity, reply: ByteBuffer()) : wrongPassword(identity)
        case .scramFirst(let identity, let verifier, let binding):
            guard let mechanism = body.readNullTerminatedString(), let length = body.readInteger(as: Int32.self) else {
                return protocolViolation("malformed SASLInitialResponse")
            }
            let plus = mechanism == "SCRAM-SHA-256-PLUS" && binding != nil
            guard mechanism == "SCRAM-SHA-256" || plus else {
                return .refuse(ErrorFields(.fatal, SQLState.protocolViolation, "SASL mechanism \(mechanism) is not supported; use SCRAM-SHA-256"))
            }
            guard length >= 0, let data = body.readBytes(length: Int(length)) else { return protocolViolation("malformed SASLInitialResponse") }
            var exchange = SCRAMServerExchange(verifier: verifier, channelBinding: binding, bindingSelected: plus)
            do {
                let serverFirst = try exchange.receiveClientFirst(data)
                state = .scramFinal(identity, exchange)
                var reply = ByteBuffer()
                reply.writeAuthenticationRequest(code: 11, serverFirst)
                return .send(reply)
            } catch {
                return protocolViolation("invalid SCRAM client-first-message: \(error)")
            }
        case .scramFinal(var identity, var exchange):
            do {
                let serverFinal = try exchange.receiveClientFinal(Array(body.readableBytesView))
                if let clientKey = exchange.clientKey, case .scram(let verifier)? = identity.user.password.map(StoredSecret.init(parsing:)) {
                    identity.scramKeys = ServerSCRAMKeys(clientKey: clientKey, serverKey: verifier.serverKey)
                }
                var reply = ByteBuffer()
                reply.writeAuthenticationRequest(code: 12, serverFinal)
                return succeed(identity, reply: reply)
            } catch AuthError.wrongPassword {
                return wrongPassword(identity)
            } catch {
                return protocolViolation("invalid SCRAM client-final-message: \(error)")
            }
        case .awaitingStartup, .lookingUp, .done:
            return protocolViolation("unexpected password message")
        }
    }

    private mutating func succeed(_ identity: Identity, reply: ByteBuffer) -> Action {
        state = .done
        var reply = reply
        reply.writeAuthenticationRequest(code: 0)
        return .authenticated(identity, reply: reply)
    }

    private mutating func wrongPassword(_ identity: Identity) -> Action {
        state = .done
        return .refuse(ErrorFields(.fatal, SQLState.invalidPassword, "password authentication failed for user \"\(identity.user.name)\""))
    }

    private mutating func protocolViolation(_ message: String) -> Action {
        state = .done
        return .refuse(ErrorFields(.fatal, SQLState.protocolViolation, message))
    }
}

/// Compares secrets without leaking where they differ through timing.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in a.indices { difference |= a[index] ^ b[index] }
    return difference == 0
}
