import NIOCore

/// Who pgproxy logs in to a server as, and with what secret.
struct ServerCredentials: Sendable {
    var user: String
    var database: String
    var secret: StoredSecret?
    /// ClientKey/ServerKey recovered from a client's SCRAM login: lets pgproxy log in to the server
    /// with a stored SCRAM secret it cannot reverse, as long as the server holds the same verifier.
    var scramKeys: (clientKey: [UInt8], serverKey: [UInt8])?

    /// Whether a connection logged in with `other` is as good as one logged in with these.
    func sameLogin(as other: ServerCredentials) -> Bool {
        user == other.user && database == other.database && secret == other.secret
    }
}

/// The login conversation with a server, as a state machine without I/O: fed the server's
/// messages one by one, it says what to send back and when the connection is ready.
struct ServerLogin {
    enum Action {
        case send(ByteBuffer)
        case wait
        case ready
    }

    enum Failure: Error, CustomStringConvertible {
        case server(ErrorFields)
        case noPassword(method: String)
        case auth(String)
        case tls(String)
        case unexpected(UInt8)

        var description: String {
            switch self {
            case .server(let fields): return fields.message
            case .noPassword(let method):
                return "the server asks for \(method) authentication but no usable password is configured for it"
            case .auth(let reason): return "server authentication failed: \(reason)"
            case .tls(let reason): return "TLS with the server failed: \(reason)"
            case .unexpected(let id): return "unexpected message '\(Character(Unicode.Scalar(id)))' during server login"
            }
        }
    }

    let credentials: ServerCredentials
    private(set) var parameters: [String: String] = [:]
    private(set) var backendKey: (processID: Int32, secretKey: Int32)?
    private var scram: SCRAMClientExchange?
    /// The `tls-server-end-point` hash of the server's certificate, over TLS: SCRAM then uses -PLUS.
    var channelBinding: [UInt8]?

    init(credentials: ServerCredentials) { self.credentials = credentials }

    func startupMessage() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeStartupMessage(parameters: [("user", credentials.user), ("database", credentials.database)])
        return buffer
    }

    mutating func receive(id: UInt8, body: ByteBuffer) throws -> Action {
        var body = body
        switch id {
        case BackendID.authentication:
            guard let code = body.readInteger(as: Int32.self) else { throw Failure.unexpected(id) }
            return try authenticationRequest(code: code, payload: body)
        case BackendID.parameterStatus:
            if let name = body.readNullTerminatedString(), let value = body.readNullTerminatedString() {
                parameters[name] = value
            }
            return .wait
        case BackendID.backendKeyData:
            if let pid = body.readInteger(as: Int32.self), let key = body.readInteger(as: Int32.self) {
                backendKey = (pid, key)
            }
            return .wait
        case BackendID.readyForQuery:
            return .ready
        case BackendID.errorResponse:
            throw Failure.server(ErrorFields.decode(body: body))
        case BackendID.noticeResponse, BackendID.negotiateProtocolVersion:
            return .wait
        default:
            throw Failure.unexpected(id)
        }
    }

    private mutating func authenticationRequest(code: Int32, payload: ByteBuffer) throws -> Action {
        var out = ByteBuffer()
        switch code {
        case 0:  // AuthenticationOk
            return .wait
        case 3:  // cleartext
            guard case .plain(let password) = credentials.secret else { throw Failure.noPassword(method: "cleartext") }
            out.writePasswordMessage(password)
        case 5:  // MD5
            guard payload.readableBytes == 4 else { throw Failure.auth("bad MD5 salt") }
            let salt = Array(payload.readableBytesView)
            switch credentials.secret {
            case .plain(let password):
                out.writePasswordMessage(MD5Password.clientResponse(user: credentials.user, password: password, salt: salt))
            case .md5(let stored):
                out.writePasswordMessage(MD5Password.response(storedHash: stored, salt: salt))
            default:
                throw Failure.noPassword(method: "md5")
            }
        case 10:  // SASL: list of mechanisms
            var list = payload
            var mechanisms: [String] = []
            while let name = list.readNullTerminatedString(), !name.isEmpty { mechanisms.append(name) }
            guard mechanisms.contains("SCRAM-SHA-256") else {
                throw Failure.auth("the server offers only \(mechanisms.joined(separator: ", "))")
            }
            var exchange: SCRAMClientExchange
            if case .plain(let password) = credentials.secret {
                exchange = SCRAMClientExchange(password: password)
            } else if let keys = credentials.scramKeys {
                exchange = SCRAMClientExchange(clientKey: keys.clientKey, serverKey: keys.serverKey)
            } else {
                throw Failure.noPassword(method: "SCRAM-SHA-256")
            }
            var mechanism = "SCRAM-SHA-256"
            if let channelBinding {
                if mechanisms.contains("SCRAM-SHA-256-PLUS") {
                    exchange.bind(to: channelBinding)
                    mechanism = "SCRAM-SHA-256-PLUS"
                } else {
                    exchange.declineBinding()
                }
            }
            out.writeSASLInitialResponse(mechanism: mechanism, exchange.clientFirstMessage())
            scram = exchange
        case 11:  // SASLContinue
            guard var exchange = scram else { throw Failure.auth("SASLContinue without SASL") }
            do {
                out.writeSASLResponse(try exchange.receiveServerFirst(Array(payload.readableBytesView)))
            } catch {
                throw Failure.auth("\(error)")
            }
            scram = exchange
        case 12:  // SASLFinal
            guard var exchange = scram else { throw Failure.auth("SASLFinal without SASL") }
            do {
                try exchange.receiveServerFinal(Array(payload.readableBytesView))
            } catch {
                throw Failure.auth("the server's SCRAM signature does not verify (\(error))")
            }
            scram = nil
            return .wait
        default:
            throw Failure.auth("unsupported authentication request \(code)")
        }
        return .send(out)
    }
}
