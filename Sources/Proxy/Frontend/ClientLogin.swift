import Crypto
import NIOCore

/// A client's login, as a state machine without I/O: from the startup packet through
/// authentication against users.toml. It answers each input with what to send back.
struct ClientLogin {
    enum Action {
        /// Send these bytes and keep reading.
        case send(ByteBuffer)
        /// Send this FATAL error and close.
        case refuse(ErrorFields)
        /// Send this FATAL error and close; log `reason`, which the client is not told.
        case refuseLogging(ErrorFields, reason: String)
        case cancel(processID: Int32, secretKey: Int32)
        /// Answer 'S' and start the TLS handshake.
        case startTLS
        /// Find the secret of a user not in users.toml with auth_query, then call `lookedUp`.
        case lookUp(user: String, database: DatabaseConfig)
        /// Authentication succeeded; AuthenticationOk is in `reply`. Boxed (`indirect`): the
        /// identity is the largest payload, and an action is made at each step of a login.
        indirect case authenticated(Identity, reply: ByteBuffer)
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
        /// An hba_file `scram-sha-256` line: an MD5 secret may not stand in, as in PostgreSQL.
        var scramOnly = false
        /// Set for a login that cannot succeed (unknown user): why, for the log only.
        var doomed: String?

        /// An identity kept by reference (see `ClientSession.identity`).
        final class Box {
            let value: Identity
            init(_ value: Identity) { self.value = value }
        }
    }

    /// What the client's TLS offers the login: set by the session once the handshake is done.
    struct TLSState {
        /// The `tls-server-end-point` binding of pgproxy's certificate, for SCRAM-SHA-256-PLUS.
        var channelBinding: [UInt8]?
        /// The client presented a certificate (and the handshake verified it against `ca_certificate`).
        var clientCertificate = false
        /// The common name of the certificate the client presented, if it did.
        var clientCommonName: String?
        /// "TLSv1.3" and the like, for SHOW CLIENTS.
        var version = ""
    }

    /// `indirect`: the states that carry an identity box it, so a login (kept by its session
    /// for the connection's life) holds a reference, not the identity's 288 bytes.
    private indirect enum State {
        case awaitingStartup
        /// Waiting for auth_query's answer; `reply` holds what goes before the auth request.
        case lookingUp(Identity, reply: ByteBuffer)
        case awaitingPassword(Identity, method: Method, salt: [UInt8])
        case scramFirst(Identity, SCRAMVerifier, channelBinding: [UInt8]?)
        case scramFinal(Identity, SCRAMServerExchange)
        case done
    }

    private enum Method { case cleartext, md5 }

    private let configSnapshot: ConfigSnapshot
    private var config: ProxyConfig { _read { yield configSnapshot.value } }
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
    init(config: ConfigSnapshot, verifierForPlain: @escaping (String, String) -> SCRAMVerifier) {
        self.configSnapshot = config
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
        // Who may connect from where comes first, as in PostgreSQL: a refused host learns nothing more.
        let rule: (authType: ClientAuthType, scramOnly: Bool)
        switch hostRuleAuthType(user: user, database: databaseName) {
        case .failure(let refusal): return refusal.action
        case .success(let type): rule = type
        }
        guard let databaseConfig = config.database(named: databaseName) else {
            return .refuse(ErrorFields(.fatal, SQLState.invalidCatalogName, "database \"\(databaseName)\" does not exist in pgproxy's configuration"))
        }
        var reply = ByteBuffer()
        if version & 0xFFFF != 0 || !unrecognized.isEmpty {
            reply.writeNegotiateProtocolVersion(newestMinor: StartupCode.protocol3, unrecognized: unrecognized)
        }
        var identity = Identity(user: UserConfig(name: user), database: databaseConfig, parameters: settings)
        identity.authType = rule.authType
        identity.scramOnly = rule.scramOnly
        guard let userConfig = config.user(named: user, database: databaseName) else {
            let listed = config.users.contains { $0.name == user }
            if config.general.authUser != nil, !listed {
                // Not listed: auth_query on the server knows the user's secret, or that there is none.
                state = .lookingUp(identity, reply: reply)
                return .lookUp(user: user, database: databaseConfig)
            }
            let reason = listed ? "users.toml does not let user \"\(user)\" into database \"\(databaseName)\"" : "user \"\(user)\" is not in users.toml"
            return doomedAuthentication(identity, reason: reason, reply: &reply)
        }
        identity.user = userConfig
        return requestAuthentication(identity, reply: &reply)
    }

    /// A login that cannot succeed still asks for a password, in the configured way, and then
    /// fails like a wrong one: clients cannot tell unknown users from wrong passwords (PostgreSQL
    /// does the same). The secret is random and never used; the salt is stable per user name.
    private mutating func doomedAuthentication(_ identity: Identity, reason: String, reply: inout ByteBuffer) -> Action {
        var identity = identity
        guard identity.authType != .trust else {
            state = .done
            return .refuseLogging(ErrorFields(.fatal, SQLState.invalidAuthorization, "role \"\(identity.user.name)\" does not exist"), reason: reason)
        }
        identity.doomed = reason
        identity.user.password = identity.authType == .md5 && !identity.scramOnly
            ? "md5" + Self.randomBytes(16).map { String(format: "%02x", $0) }.joined()
            : SCRAMVerifier(iterations: 4096, salt: DoomedSalt.for(identity.user.name), storedKey: Self.randomBytes(32), serverKey: Self.randomBytes(32)).encoded
        return requestAuthentication(identity, reply: &reply)
    }

    private static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// The answer of auth_query for the user being looked up: its secret, or nil when the server
    /// has none (no such user, no password, expired), which fails like a wrong password. Only a
    /// SCRAM verifier or an MD5 hash is taken: anything else would be compared as a clear-text
    /// password (an empty one, or the text of a damaged hash).
    mutating func lookedUp(_ result: Result<String?, any Error>) -> Action {
        guard case .lookingUp(var identity, var reply) = state else { return protocolViolation("unexpected auth_query answer") }
        switch result {
        case .failure(let error):
            state = .done
            return .refuseLogging(ErrorFields(.fatal, SQLState.cannotConnect, "pgproxy could not check the password of user \"\(identity.user.name)\""),
                                  reason: "auth_query failed: \(error)")
        case .success(let secret?) where !StoredSecret(parsing: secret).isPlain:
            identity.user.password = secret
            return requestAuthentication(identity, reply: &reply)
        case .success(let secret):
            return doomedAuthentication(identity, reason: secret == nil ? "auth_query found no secret for user \"\(identity.user.name)\"" : "auth_query returned something that is neither a SCRAM verifier nor an MD5 hash", reply: &reply)
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
        if mode.requiresCertificate, !tls.clientCertificate {
            return .refuse(ErrorFields(.fatal, SQLState.invalidAuthorization, "connection requires a valid client certificate (client_tls = \"\(mode.rawValue)\")"))
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
        var identity = Identity(
            user: UserConfig(name: admin.user, password: admin.password),
            database: DatabaseConfig(name: database, host: ""),
            parameters: settings)
        identity.isAdmin = true
        switch hostRuleAuthType(user: user, database: database) {
        case .failure(let refusal): return refusal.action
        case .success(let rule): (identity.authType, identity.scramOnly) = rule
        }
        guard user == admin.user else {
            state = .done
            return .refuseLogging(ErrorFields(.fatal, SQLState.invalidAuthorization, "user \"\(user)\" is not allowed to use the admin console (database \"\(database)\")"),
                                  reason: "admin console login as \"\(user)\", which is not the [admin] user")
        }
        var reply = ByteBuffer()
        if version & 0xFFFF != 0 || !unrecognized.isEmpty {
            reply.writeNegotiateProtocolVersion(newestMinor: StartupCode.protocol3, unrecognized: unrecognized)
        }
        return requestAuthentication(identity, reply: &reply)
    }

    /// The first hba_file line for this connection decides: refused, or how to authenticate.
    private func hostRuleAuthType(user: String, database: String) -> Result<(ClientAuthType, scramOnly: Bool), Refusal> {
        guard let rules = config.hostRules else { return .success((config.general.authType, false)) }
        let host: String
        if case .unixDomainSocket = clientAddress { host = "[local]" } else { host = clientAddress?.ipAddress ?? "unknown" }
        let encryption = tls == nil ? "no encryption" : "SSL encryption"
        let described = "host \"\(host)\", user \"\(user)\", database \"\(database)\", \(encryption)"
        guard let rule = rules.match(database: database, user: user, address: clientAddress, tls: tls != nil) else {
            return .failure(Refusal(.refuse(ErrorFields(.fatal, SQLState.invalidAuthorization, "no hba_file entry for \(described)"))))
        }
        if rule.clientCertificate != nil || rule.method == .cert {
            guard let tls, tls.clientCertificate else {
                return .failure(Refusal(.refuse(ErrorFields(.fatal, SQLState.invalidAuthorization,
                    "connection requires a valid client certificate (hba_file line \(rule.line))"))))
            }
            if rule.clientCertificate == .verifyFull, tls.clientCommonName != user {
                return .failure(Refusal(.refuse(ErrorFields(.fatal, SQLState.invalidAuthorization,
                    "certificate authentication failed for user \"\(user)\": the certificate's common name is \"\(tls.clientCommonName ?? "")\" (hba_file line \(rule.line))"))))
            }
        }
        switch rule.method {
        case .reject:
            return .failure(Refusal(.refuse(ErrorFields(.fatal, SQLState.invalidAuthorization, "hba_file rejects connection for \(described)"))))
        case .trust, .cert: return .success((.trust, false))
        case .md5: return .success((.md5, false))
        case .password: return .success((.plain, false))
        case .scramSHA256: return .success((.scramSHA256, true))
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
        if identity.scramOnly, case .md5 = secret {
            return doomedAuthentication(identity, reason: "user \"\(identity.user.name)\" has an MD5 secret, and its hba_file line asks for scram-sha-256", reply: &reply)
        }
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
        // The usual login (trust, cleartext, MD5) has nothing before AuthenticationOk: the
        // shared message, not a buffer made and filled for each connection.
        if reply.readableBytes == 0 { return .authenticated(identity, reply: Self.authenticationOk) }
        var reply = reply
        reply.writeAuthenticationRequest(code: 0)
        return .authenticated(identity, reply: reply)
    }

    private static let authenticationOk: ByteBuffer = {
        var message = ByteBuffer()
        message.writeAuthenticationRequest(code: 0)
        return message
    }()

    private mutating func wrongPassword(_ identity: Identity) -> Action {
        state = .done
        let error = ErrorFields(.fatal, SQLState.invalidPassword, "password authentication failed for user \"\(identity.user.name)\"")
        if let reason = identity.doomed { return .refuseLogging(error, reason: reason) }
        return .refuse(error)
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

/// Salts of doomed logins: the same for a user name for the life of the process, so asking twice
/// does not give away that the user does not exist.
enum DoomedSalt {
    private static let key = SymmetricKey(size: .bits256)

    static func `for`(_ user: String) -> [UInt8] {
        Array(Array(HMAC<SHA256>.authenticationCode(for: Array(user.utf8), using: key)).prefix(16))
    }
}
