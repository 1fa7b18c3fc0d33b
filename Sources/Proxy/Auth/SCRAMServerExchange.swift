import Crypto
import Foundation

/// The server side of SCRAM-SHA-256 (RFC 5802/7677): pgproxy checking a connecting client's proof against a stored verifier.
///
/// With a `tls-server-end-point` binding (a TLS client), `SCRAM-SHA-256-PLUS` binds the proof to
/// pgproxy's certificate, so a man in the middle with another certificate cannot relay the login.
/// Any error leaves the exchange failed; later calls throw.
public struct SCRAMServerExchange: Sendable {
    private enum State: Sendable {
        case awaitingClientFirst
        case awaitingClientFinal(gs2Header: String, clientFirstBare: String, serverFirst: String, nonce: String)
        case succeeded
        case failed
    }

    private let verifier: SCRAMVerifier
    private let injectedServerNonce: String?
    /// The channel's binding data when `SCRAM-SHA-256-PLUS` could have been chosen (it was offered).
    private let channelBinding: [UInt8]?
    /// The client chose `SCRAM-SHA-256-PLUS`.
    private let bindingSelected: Bool
    private var state = State.awaitingClientFirst

    /// The client's ClientKey, known once its proof checks out; with the verifier's ServerKey it lets pgproxy log in to PostgreSQL as this user.
    public private(set) var clientKey: [UInt8]?

    /// Starts an exchange that will accept the password `verifier` was made from.
    ///
    /// - Parameters:
    ///   - channelBinding: the `tls-server-end-point` data when `-PLUS` was offered, else nil.
    ///   - bindingSelected: the client chose `SCRAM-SHA-256-PLUS`.
    public init(verifier: SCRAMVerifier, channelBinding: [UInt8]? = nil, bindingSelected: Bool = false) {
        self.init(verifier: verifier, serverNonce: nil, channelBinding: channelBinding, bindingSelected: bindingSelected)
    }

    // Lets tests replay fixed vectors; production always draws a fresh nonce.
    init(verifier: SCRAMVerifier, serverNonce: String?, channelBinding: [UInt8]? = nil, bindingSelected: Bool = false) {
        self.verifier = verifier
        self.injectedServerNonce = serverNonce
        self.channelBinding = channelBinding
        self.bindingSelected = bindingSelected && channelBinding != nil
    }

    /// Takes the SASLInitialResponse payload and returns the server-first-message.
    public mutating func receiveClientFirst(_ message: [UInt8]) throws -> [UInt8] {
        let current = state
        state = .failed
        guard case .awaitingClientFirst = current else {
            throw AuthError.protocolViolation("unexpected client-first-message")
        }
        let text = try SCRAMVerifier.decodeMessage(message)

        // gs2-header = cbind-flag "," [authzid] ","
        let parts = text.split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            throw AuthError.protocolViolation("malformed gs2 header")
        }
        switch parts[0] {
        case "p=tls-server-end-point" where bindingSelected:
            break
        case let flag where bindingSelected:
            throw flag.hasPrefix("p=")
                ? AuthError.unsupported("channel binding type \(flag.dropFirst(2)); only tls-server-end-point is")
                : AuthError.protocolViolation("SCRAM-SHA-256-PLUS was selected, but the client sent no channel binding")
        case "n":
            break
        case "y" where channelBinding != nil:
            // "I could bind but think you can't", while -PLUS was offered: someone removed it on the way.
            throw AuthError.protocolViolation("SCRAM channel binding negotiation error: the client supports channel binding and the server offered it")
        case "y":
            break
        case let flag where flag.hasPrefix("p="):
            throw AuthError.protocolViolation("channel binding requested, but SCRAM-SHA-256 without channel binding was selected")
        default:
            throw AuthError.protocolViolation("malformed gs2 header: unknown channel binding flag")
        }
        if parts[1].hasPrefix("a=") {
            throw AuthError.unsupported("SCRAM authorization identity")
        }
        guard parts[1].isEmpty else {
            throw AuthError.protocolViolation("malformed gs2 header")
        }

        let clientFirstBare = String(parts[2])
        let attributes = clientFirstBare.split(separator: ",", omittingEmptySubsequences: false)
        if let first = attributes.first, first.hasPrefix("m=") {
            throw AuthError.unsupported("mandatory SCRAM extension")
        }
        // The user name is in the startup packet; PostgreSQL clients send `n=` empty and it is ignored.
        guard attributes.count >= 2, attributes[0].hasPrefix("n=") else {
            throw AuthError.protocolViolation("client-first-message lacks n=")
        }
        guard attributes[1].hasPrefix("r=") else {
            throw AuthError.protocolViolation("client-first-message lacks r=")
        }
        let clientNonce = attributes[1].dropFirst(2)
        guard SCRAMVerifier.isValidNonce(clientNonce) else {
            throw AuthError.protocolViolation("malformed client nonce")
        }
        try SCRAMVerifier.checkExtensions(attributes.dropFirst(2))

        let nonce = String(clientNonce) + (injectedServerNonce ?? SCRAMVerifier.randomNonce())
        let serverFirst = "r=\(nonce),s=\(SCRAMVerifier.base64Encode(verifier.salt)),i=\(verifier.iterations)"
        state = .awaitingClientFinal(
            gs2Header: "\(parts[0]),\(parts[1]),", clientFirstBare: clientFirstBare, serverFirst: serverFirst, nonce: nonce
        )
        return Array(serverFirst.utf8)
    }

    /// Takes the SASLResponse payload, checks the ClientProof and returns the server-final-message (`v=...`).
    public mutating func receiveClientFinal(_ message: [UInt8]) throws -> [UInt8] {
        let current = state
        state = .failed
        guard case let .awaitingClientFinal(gs2Header, clientFirstBare, serverFirst, nonce) = current else {
            throw AuthError.protocolViolation("unexpected client-final-message")
        }
        let text = try SCRAMVerifier.decodeMessage(message)

        // client-final-message = "c=" cbind ",r=" nonce ["," extensions] ",p=" proof; the proof must be last.
        let attributes = text.split(separator: ",", omittingEmptySubsequences: false)
        guard attributes.count >= 3, let last = attributes.last, last.hasPrefix("p=") else {
            throw AuthError.protocolViolation("client-final-message lacks p=")
        }
        guard attributes[0].hasPrefix("c=") else {
            throw AuthError.protocolViolation("client-final-message lacks c=")
        }
        // Must echo the gs2 header byte for byte, or a middlebox may have altered the first message;
        // with -PLUS, followed by the binding of the certificate this client really saw.
        let expected = Array(gs2Header.utf8) + (bindingSelected ? channelBinding ?? [] : [])
        guard let binding = SCRAMVerifier.base64Decode(attributes[0].dropFirst(2)), binding == expected else {
            throw AuthError.protocolViolation("channel binding data does not match the gs2 header")
        }
        guard attributes[1].hasPrefix("r=") else {
            throw AuthError.protocolViolation("client-final-message lacks r=")
        }
        guard attributes[1].dropFirst(2) == nonce else {
            throw AuthError.protocolViolation("nonce mismatch")
        }
        try SCRAMVerifier.checkExtensions(attributes.dropFirst(2).dropLast())
        guard let proof = SCRAMVerifier.base64Decode(last.dropFirst(2)), proof.count == SHA256.byteCount else {
            throw AuthError.protocolViolation("malformed ClientProof")
        }

        let withoutProof = attributes.dropLast().joined(separator: ",")
        let authMessage = Array("\(clientFirstBare),\(serverFirst),\(withoutProof)".utf8)
        let clientSignature = SCRAMVerifier.hmac(key: verifier.storedKey, authMessage)
        let candidateKey = SCRAMVerifier.xor(proof, clientSignature)
        // swift-crypto's Digest == compares in constant time.
        guard SHA256.hash(data: candidateKey) == verifier.storedKey else {
            throw AuthError.wrongPassword
        }

        let serverSignature = SCRAMVerifier.hmac(key: verifier.serverKey, authMessage)
        clientKey = candidateKey
        state = .succeeded
        return Array("v=\(SCRAMVerifier.base64Encode(serverSignature))".utf8)
    }
}
