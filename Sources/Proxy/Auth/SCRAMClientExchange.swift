import Crypto
import Foundation

/// The client side of SCRAM-SHA-256 (RFC 5802/7677): pgproxy logging in to a PostgreSQL server.
///
/// Over TLS, `SCRAM-SHA-256-PLUS` binds the proof to the server's certificate (`tls-server-end-point`),
/// so a man in the middle holding another certificate cannot pass the login on. Any error leaves
/// the exchange failed; later calls throw.
public struct SCRAMClientExchange: Sendable {
    private enum Credentials: Sendable {
        case password(String)
        // Recovered from a client's exchange: ClientKey is all the proof needs, ServerKey checks the server.
        case keys(clientKey: [UInt8], serverKey: [UInt8])
    }

    private enum State: Sendable {
        case initial
        case sentClientFirst
        case sentClientFinal(serverKey: [UInt8], authMessage: [UInt8])
        case succeeded
        case failed
    }

    // A stalled or hostile server shouldn't be able to pin a CPU for minutes with one message.
    static let maxIterations = 10_000_000

    private let credentials: Credentials
    private let clientNonce: String
    private let clientFirstBare: String
    private var state = State.initial
    /// "n,," without channel binding, "y,," when pgproxy could bind but the server offers no
    /// -PLUS, "p=tls-server-end-point,," when it binds.
    private var gs2Header = "n,,"
    private var channelBinding: [UInt8] = []

    /// Logs in with the user's cleartext password.
    public init(password: String) {
        self.init(credentials: .password(password), clientNonce: SCRAMVerifier.randomNonce(), username: "")
    }

    /// Logs in with keys recovered from a client's successful `SCRAMServerExchange`.
    ///
    /// These keys are tied to one salt and iteration count, so this only succeeds against a
    /// server whose verifier is the same one the keys came from.
    public init(clientKey: [UInt8], serverKey: [UInt8]) {
        self.init(credentials: .keys(clientKey: clientKey, serverKey: serverKey), clientNonce: SCRAMVerifier.randomNonce(), username: "")
    }

    // Lets tests replay fixed vectors (RFC 7677 uses user "user"); PostgreSQL takes the user from the startup packet.
    init(password: String, clientNonce: String, username: String = "") {
        self.init(credentials: .password(password), clientNonce: clientNonce, username: username)
    }

    init(clientKey: [UInt8], serverKey: [UInt8], clientNonce: String) {
        self.init(credentials: .keys(clientKey: clientKey, serverKey: serverKey), clientNonce: clientNonce, username: "")
    }

    private init(credentials: Credentials, clientNonce: String, username: String) {
        self.credentials = credentials
        self.clientNonce = clientNonce
        // RFC 5802 saslname escaping, so ',' and '=' can't break the attribute list.
        let escaped = username.replacingOccurrences(of: "=", with: "=3D").replacingOccurrences(of: ",", with: "=2C")
        self.clientFirstBare = "n=\(escaped),r=\(clientNonce)"
    }

    /// Binds the exchange to the server certificate's `tls-server-end-point` hash (SCRAM-SHA-256-PLUS);
    /// before `clientFirstMessage`.
    public mutating func bind(to endPoint: [UInt8]) {
        gs2Header = "p=tls-server-end-point,,"
        channelBinding = endPoint
    }

    /// Says the client could bind but the server offered no -PLUS (before `clientFirstMessage`),
    /// so a server that did offer it can tell its offer was removed on the way.
    public mutating func declineBinding() {
        gs2Header = "y,,"
    }

    /// The client-first-message for SASLInitialResponse; asking again returns the same message.
    public mutating func clientFirstMessage() -> [UInt8] {
        if case .initial = state { state = .sentClientFirst }
        return Array("\(gs2Header)\(clientFirstBare)".utf8)
    }

    /// Takes the server-first-message (AuthenticationSASLContinue) and returns the client-final-message.
    public mutating func receiveServerFirst(_ message: [UInt8]) throws -> [UInt8] {
        let current = state
        state = .failed
        guard case .sentClientFirst = current else {
            throw AuthError.protocolViolation("unexpected server-first-message")
        }
        let serverFirst = try SCRAMVerifier.decodeMessage(message)

        let attributes = serverFirst.split(separator: ",", omittingEmptySubsequences: false)
        if let first = attributes.first, first.hasPrefix("m=") {
            throw AuthError.unsupported("mandatory SCRAM extension")
        }
        guard attributes.count >= 3,
              attributes[0].hasPrefix("r="), attributes[1].hasPrefix("s="), attributes[2].hasPrefix("i=")
        else {
            throw AuthError.protocolViolation("malformed server-first-message")
        }
        let nonce = attributes[0].dropFirst(2)
        // The server must extend our nonce, or it could be replaying an old exchange.
        guard SCRAMVerifier.isValidNonce(nonce), nonce.count > clientNonce.count, nonce.hasPrefix(clientNonce) else {
            throw AuthError.protocolViolation("server nonce does not extend the client nonce")
        }
        guard let salt = SCRAMVerifier.base64Decode(attributes[1].dropFirst(2)), !salt.isEmpty else {
            throw AuthError.protocolViolation("malformed salt")
        }
        guard let iterations = Int(attributes[2].dropFirst(2)), (1...Self.maxIterations).contains(iterations) else {
            throw AuthError.protocolViolation("iteration count missing or out of range")
        }
        try SCRAMVerifier.checkExtensions(attributes.dropFirst(3))

        let clientKey: [UInt8]
        let serverKey: [UInt8]
        switch credentials {
        case let .password(password):
            let salted = SCRAMVerifier.saltedPassword(password: password, salt: salt, iterations: iterations)
            clientKey = SCRAMVerifier.hmac(key: salted, Array("Client Key".utf8))
            serverKey = SCRAMVerifier.hmac(key: salted, Array("Server Key".utf8))
        case let .keys(recoveredClientKey, recoveredServerKey):
            clientKey = recoveredClientKey
            serverKey = recoveredServerKey
        }

        // The gs2 header again, and with -PLUS the certificate hash: "biws" for plain "n,,".
        let binding = SCRAMVerifier.base64Encode(Array(gs2Header.utf8) + channelBinding)
        let withoutProof = "c=\(binding),r=\(nonce)"
        let authMessage = Array("\(clientFirstBare),\(serverFirst),\(withoutProof)".utf8)
        let storedKey = Array(SHA256.hash(data: clientKey))
        let proof = SCRAMVerifier.xor(clientKey, SCRAMVerifier.hmac(key: storedKey, authMessage))
        state = .sentClientFinal(serverKey: serverKey, authMessage: authMessage)
        return Array("\(withoutProof),p=\(SCRAMVerifier.base64Encode(proof))".utf8)
    }

    /// Checks the server-final-message (AuthenticationSASLFinal); returning normally means the server knows the verifier.
    public mutating func receiveServerFinal(_ message: [UInt8]) throws {
        let current = state
        state = .failed
        guard case let .sentClientFinal(serverKey, authMessage) = current else {
            throw AuthError.protocolViolation("unexpected server-final-message")
        }
        let text = try SCRAMVerifier.decodeMessage(message)
        let attributes = text.split(separator: ",", omittingEmptySubsequences: false)

        if attributes[0].hasPrefix("e=") {
            let reason = attributes[0].dropFirst(2)
            if reason == "invalid-proof" { throw AuthError.wrongPassword }
            throw AuthError.protocolViolation("server reported SCRAM error: \(reason)")
        }
        guard attributes[0].hasPrefix("v="),
              let signature = SCRAMVerifier.base64Decode(attributes[0].dropFirst(2)),
              signature.count == SHA256.byteCount
        else {
            throw AuthError.protocolViolation("malformed server-final-message")
        }
        try SCRAMVerifier.checkExtensions(attributes.dropFirst())
        // Constant-time comparison inside swift-crypto.
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: authMessage, using: SymmetricKey(data: serverKey)) else {
            throw AuthError.serverSignatureMismatch
        }
        state = .succeeded
    }
}
