import Foundation
import Synchronization
import XCTest

@testable import Proxy

final class SCRAMTests: XCTestCase {
    // RFC 7677 §3.
    private let rfcSalt = [UInt8](Data(base64Encoded: "W22ZaJ0SNY7soEsUEjb6gQ==")!)
    private let rfcClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    private let rfcServerFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    private let rfcClientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    private let rfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    // Computed independently with Python's hashlib/hmac.
    private let rfcClientKey = "pg/JI9Z+hkSpLRa5btpe9GVrDHJcSEN0viVTVXaZbos="

    // Produced by PostgreSQL 15: CREATE ROLE alice PASSWORD 'correct horse' with password_encryption = scram-sha-256.
    private let postgresVerifier = "SCRAM-SHA-256$4096:IWoN0O8E7lHfBSa9+bbxfA==$4bEbmwDnwMxBHMhgV05o0ZN0aYpaHqksK25mfytg65w=:i1XRcRLgCWkjwXZhKNq1Qjm2TwCLT4PaAkKtH20FbTA="

    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    private func assertThrows(_ expected: AuthError, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            XCTAssertEqual(error as? AuthError, expected, file: file, line: line)
        }
    }

    private func assertProtocolViolation(file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            guard case .protocolViolation = error as? AuthError else {
                return XCTFail("expected protocolViolation, got \(error)", file: file, line: line)
            }
        }
    }

    // MARK: RFC 7677 vector

    func testClientReproducesRFC7677() throws {
        var client = SCRAMClientExchange(password: "pencil", clientNonce: "rOprNGfwEbeRWgbNEkqO", username: "user")
        XCTAssertEqual(text(client.clientFirstMessage()), rfcClientFirst)
        XCTAssertEqual(text(try client.receiveServerFirst(bytes(rfcServerFirst))), rfcClientFinal)
        XCTAssertNoThrow(try client.receiveServerFinal(bytes(rfcServerFinal)))
    }

    func testServerReproducesRFC7677() throws {
        let verifier = SCRAMVerifier.make(password: "pencil", salt: rfcSalt, iterations: 4096)
        var server = SCRAMServerExchange(verifier: verifier, serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
        XCTAssertEqual(text(try server.receiveClientFirst(bytes(rfcClientFirst))), rfcServerFirst)
        XCTAssertNil(server.clientKey)
        XCTAssertEqual(text(try server.receiveClientFinal(bytes(rfcClientFinal))), rfcServerFinal)
        XCTAssertEqual(server.clientKey, [UInt8](Data(base64Encoded: rfcClientKey)!))
    }

    func testClientRejectsForgedServerSignature() throws {
        var client = SCRAMClientExchange(password: "pencil", clientNonce: "rOprNGfwEbeRWgbNEkqO", username: "user")
        _ = client.clientFirstMessage()
        _ = try client.receiveServerFirst(bytes(rfcServerFirst))
        assertThrows(.serverSignatureMismatch) {
            try client.receiveServerFinal(self.bytes("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="))
        }
    }

    // MARK: Round trips

    private func runExchange(client: inout SCRAMClientExchange, server: inout SCRAMServerExchange) throws {
        let serverFirst = try server.receiveClientFirst(client.clientFirstMessage())
        let clientFinal = try client.receiveServerFirst(serverFirst)
        let serverFinal = try server.receiveClientFinal(clientFinal)
        try client.receiveServerFinal(serverFinal)
    }

    func testRoundTripWithRightPasswordRecoversClientKey() throws {
        let verifier = SCRAMVerifier(parsing: postgresVerifier)!
        var client = SCRAMClientExchange(password: "correct horse")
        var server = SCRAMServerExchange(verifier: verifier)
        try runExchange(client: &client, server: &server)

        let salted = SCRAMVerifier.saltedPassword(password: "correct horse", salt: verifier.salt, iterations: verifier.iterations)
        XCTAssertEqual(server.clientKey, SCRAMVerifier.hmac(key: salted, bytes("Client Key")))
    }

    func testRoundTripWithWrongPasswordFails() throws {
        var client = SCRAMClientExchange(password: "incorrect horse")
        var server = SCRAMServerExchange(verifier: SCRAMVerifier(parsing: postgresVerifier)!)
        let serverFirst = try server.receiveClientFirst(client.clientFirstMessage())
        let clientFinal = try client.receiveServerFirst(serverFirst)
        assertThrows(.wrongPassword) { _ = try server.receiveClientFinal(clientFinal) }
        XCTAssertNil(server.clientKey)
        // A failed exchange stays failed.
        assertProtocolViolation { _ = try server.receiveClientFinal(clientFinal) }
    }

    func testRecoveredKeysLogInToAnotherServerExchange() throws {
        let verifier = SCRAMVerifier(parsing: postgresVerifier)!
        var client = SCRAMClientExchange(password: "correct horse")
        var server = SCRAMServerExchange(verifier: verifier)
        try runExchange(client: &client, server: &server)

        let clientKey = try XCTUnwrap(server.clientKey)
        var proxyClient = SCRAMClientExchange(clientKey: clientKey, serverKey: verifier.serverKey)
        var backend = SCRAMServerExchange(verifier: verifier)
        try runExchange(client: &proxyClient, server: &backend)
        XCTAssertEqual(backend.clientKey, clientKey)
    }

    func testRecoveredKeysWithWrongServerKeyDetectImpostor() throws {
        let verifier = SCRAMVerifier(parsing: postgresVerifier)!
        let impostor = SCRAMVerifier(iterations: verifier.iterations, salt: verifier.salt, storedKey: verifier.storedKey,
                                     serverKey: [UInt8](repeating: 7, count: 32))
        let salted = SCRAMVerifier.saltedPassword(password: "correct horse", salt: verifier.salt, iterations: verifier.iterations)
        var client = SCRAMClientExchange(clientKey: SCRAMVerifier.hmac(key: salted, bytes("Client Key")), serverKey: verifier.serverKey)
        var server = SCRAMServerExchange(verifier: impostor)
        XCTAssertThrowsError(try runExchange(client: &client, server: &server)) { error in
            XCTAssertEqual(error as? AuthError, .serverSignatureMismatch)
        }
    }

    func testNonASCIIAndEmptyPasswordsRoundTrip() throws {
        for password in ["pässwörd 🔑", ""] {
            let verifier = SCRAMVerifier.make(password: password, salt: Array(0..<16), iterations: 4096)
            var client = SCRAMClientExchange(password: password)
            var server = SCRAMServerExchange(verifier: verifier)
            try runExchange(client: &client, server: &server)
        }
    }

    func testYFlagIsAccepted() throws {
        // A client that supports channel binding but saw no -PLUS mechanism sends 'y' and c=base64("y,,").
        let verifier = SCRAMVerifier.make(password: "pencil", salt: rfcSalt, iterations: 4096)
        var server = SCRAMServerExchange(verifier: verifier, serverNonce: "SERVER")
        let serverFirst = text(try server.receiveClientFirst(bytes("y,,n=,r=CLIENT")))
        let withoutProof = "c=eSws,r=CLIENTSERVER"
        let authMessage = bytes("n=,r=CLIENT,\(serverFirst),\(withoutProof)")
        let salted = SCRAMVerifier.saltedPassword(password: "pencil", salt: rfcSalt, iterations: 4096)
        let clientKey = SCRAMVerifier.hmac(key: salted, bytes("Client Key"))
        let proof = SCRAMVerifier.xor(clientKey, SCRAMVerifier.hmac(key: verifier.storedKey, authMessage))
        XCTAssertNoThrow(try server.receiveClientFinal(bytes("\(withoutProof),p=\(SCRAMVerifier.base64Encode(proof))")))
        XCTAssertEqual(server.clientKey, clientKey)
    }

    func testServerNoncesAreFreshAndLongEnough() throws {
        let verifier = SCRAMVerifier.make(password: "pencil", salt: rfcSalt, iterations: 4096)
        var nonces: Set<String> = []
        for _ in 0..<20 {
            var server = SCRAMServerExchange(verifier: verifier)
            let serverFirst = text(try server.receiveClientFirst(bytes("n,,n=,r=abc")))
            let nonce = String(serverFirst.split(separator: ",")[0].dropFirst(2))
            XCTAssertTrue(nonce.hasPrefix("abc"))
            XCTAssertGreaterThanOrEqual(Data(base64Encoded: String(nonce.dropFirst(3)))?.count ?? 0, 18)
            nonces.insert(nonce)
        }
        XCTAssertEqual(nonces.count, 20)
    }

    // MARK: Verifier format

    func testParsesAndReencodesPostgresVerifier() throws {
        let verifier = try XCTUnwrap(SCRAMVerifier(parsing: postgresVerifier))
        XCTAssertEqual(verifier.iterations, 4096)
        XCTAssertEqual(verifier.salt, [0x21, 0x6a, 0x0d, 0xd0, 0xef, 0x04, 0xee, 0x51, 0xdf, 0x05, 0x26, 0xbd, 0xf9, 0xb6, 0xf1, 0x7c])
        XCTAssertEqual(verifier.encoded, postgresVerifier)
        XCTAssertEqual(SCRAMVerifier.make(password: "correct horse", salt: verifier.salt, iterations: 4096), verifier)
        XCTAssertNotEqual(SCRAMVerifier.make(password: "correct horse!", salt: verifier.salt, iterations: 4096), verifier)
    }

    func testRejectsMalformedVerifiers() {
        let key = "4bEbmwDnwMxBHMhgV05o0ZN0aYpaHqksK25mfytg65w="
        for bad in [
            "", "SCRAM-SHA-256$", "SCRAM-SHA-1$4096:IWoN0O8E7lHfBSa9+bbxfA==$\(key):\(key)",
            "SCRAM-SHA-256$4096:IWoN0O8E7lHfBSa9+bbxfA==$\(key)",
            "SCRAM-SHA-256$0:IWoN0O8E7lHfBSa9+bbxfA==$\(key):\(key)",
            "SCRAM-SHA-256$-1:IWoN0O8E7lHfBSa9+bbxfA==$\(key):\(key)",
            "SCRAM-SHA-256$+4096:IWoN0O8E7lHfBSa9+bbxfA==$\(key):\(key)",
            "SCRAM-SHA-256$99999999999999999999:IWoN0O8E7lHfBSa9+bbxfA==$\(key):\(key)",
            "SCRAM-SHA-256$4096:$\(key):\(key)",
            "SCRAM-SHA-256$4096:not base64!$\(key):\(key)",
            "SCRAM-SHA-256$4096:IWoN0O8E7lHfBSa9+bbxfA==$\(key):AAAA",
            "SCRAM-SHA-256$4096:IWoN0O8E7lHfBSa9+bbxfA==$\(key):\(key)$",
        ] {
            XCTAssertNil(SCRAMVerifier(parsing: bad), bad)
        }
    }

    func testStoredSecretClassification() {
        XCTAssertEqual(StoredSecret(parsing: postgresVerifier), .scram(SCRAMVerifier(parsing: postgresVerifier)!))
        XCTAssertEqual(StoredSecret(parsing: "md521f3163f8f86fa10bdefbfbd502a8f06"), .md5("md521f3163f8f86fa10bdefbfbd502a8f06"))
        // Malformed look-alikes are plain passwords, as in PostgreSQL.
        for plain in ["hunter2", "", "SCRAM-SHA-256$broken", "md521F3163F8F86FA10BDEFBFBD502A8F06", "md521f3163f8f86fa10bdefbfbd502a8f0"] {
            XCTAssertEqual(StoredSecret(parsing: plain), .plain(plain))
        }
        XCTAssertTrue(StoredSecret.plain("x").isPlain)
        XCTAssertFalse(StoredSecret(parsing: postgresVerifier).isPlain)
    }

    func testSaltedPasswordCacheIsSafeUnderConcurrency() {
        let expected = SCRAMVerifier(parsing: postgresVerifier)!
        let results = Mutex<[SCRAMVerifier]>([])
        DispatchQueue.concurrentPerform(iterations: 16) { index in
            // Half share one cache entry, half miss.
            let salt = index.isMultiple(of: 2) ? expected.salt : expected.salt + [UInt8(index)]
            let verifier = SCRAMVerifier.make(password: "correct horse", salt: salt, iterations: 4096)
            if index.isMultiple(of: 2) { results.withLock { $0.append(verifier) } }
        }
        XCTAssertEqual(results.withLock { $0 }, Array(repeating: expected, count: 8))
    }

    // MARK: Malformed input never crashes

    func testServerRejectsMalformedClientFirst() {
        let verifier = SCRAMVerifier.make(password: "pencil", salt: rfcSalt, iterations: 4096)
        for bad in ["", "n", "n,,", "n,,n=", "n,,r=abc", "n,,n=,r=", "n,,n=,x=abc", "x,,n=,r=abc", "n,x,n=,r=abc",
                    "p=tls-server-end-point,,n=,r=abc", "n,,n=,r=ab c", "n,,n=,r=abc,bogus", "\u{0}"] {
            var server = SCRAMServerExchange(verifier: verifier)
            assertProtocolViolation { _ = try server.receiveClientFirst(self.bytes(bad)) }
        }
        var server = SCRAMServerExchange(verifier: verifier)
        assertProtocolViolation { _ = try server.receiveClientFirst([0x6E, 0x2C, 0x2C, 0xFF, 0xFE]) }
        server = SCRAMServerExchange(verifier: verifier)
        assertThrows(.unsupported("SCRAM authorization identity")) { _ = try server.receiveClientFirst(self.bytes("n,a=bob,n=,r=abc")) }
        server = SCRAMServerExchange(verifier: verifier)
        assertThrows(.unsupported("mandatory SCRAM extension")) { _ = try server.receiveClientFirst(self.bytes("n,,m=ext,n=,r=abc")) }
        server = SCRAMServerExchange(verifier: verifier)
        assertProtocolViolation { _ = try server.receiveClientFinal(self.bytes(self.rfcClientFinal)) }
    }

    func testServerRejectsMalformedClientFinal() throws {
        let verifier = SCRAMVerifier.make(password: "pencil", salt: rfcSalt, iterations: 4096)
        let nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
        let proof = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        for bad in ["", "p=\(proof)", "c=biws,r=\(nonce)", "c=biws,p=\(proof)", "r=\(nonce),c=biws,p=\(proof)",
                    "c=biws,r=\(nonce)X,p=\(proof)", "c=biws,r=wrong,p=\(proof)",
                    "c=eSws,r=\(nonce),p=\(proof)", "c=!!!,r=\(nonce),p=\(proof)",
                    "c=biws,r=\(nonce),p=not*base64", "c=biws,r=\(nonce),p=AAAA", "c=biws,r=\(nonce),p=",
                    "c=biws,r=\(nonce),p=\(proof),x=1", "c=biws,r=\(nonce),,p=\(proof)"] {
            var server = SCRAMServerExchange(verifier: verifier, serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
            _ = try server.receiveClientFirst(bytes(rfcClientFirst))
            assertProtocolViolation { _ = try server.receiveClientFinal(self.bytes(bad)) }
            XCTAssertNil(server.clientKey)
        }
        // Extensions before the proof are tolerated, but they change AuthMessage, so this RFC proof no longer fits.
        var server = SCRAMServerExchange(verifier: verifier, serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
        _ = try server.receiveClientFirst(bytes(rfcClientFirst))
        assertThrows(.wrongPassword) { _ = try server.receiveClientFinal(self.bytes("c=biws,r=\(nonce),x=1,p=\(proof)")) }
    }

    func testClientRejectsMalformedServerFirst() {
        let salt = "W22ZaJ0SNY7soEsUEjb6gQ=="
        for bad in ["", "r=abc", "r=abcdef,s=\(salt)", "r=zzzdef,s=\(salt),i=4096", "r=abc,s=\(salt),i=4096",
                    "r=abcdef,s=\(salt),i=0", "r=abcdef,s=\(salt),i=-5", "r=abcdef,s=\(salt),i=10000001",
                    "r=abcdef,s=\(salt),i=lots", "r=abcdef,s=\(salt),i=", "r=abcdef,s=,i=4096", "r=abcdef,s=@@@,i=4096",
                    "s=\(salt),r=abcdef,i=4096", "r=abcdef,s=\(salt),i=4096,garbage"] {
            var client = SCRAMClientExchange(password: "pencil", clientNonce: "abc")
            _ = client.clientFirstMessage()
            assertProtocolViolation { _ = try client.receiveServerFirst(self.bytes(bad)) }
        }
        var client = SCRAMClientExchange(password: "pencil", clientNonce: "abc")
        assertProtocolViolation { _ = try client.receiveServerFirst(self.bytes("r=abcdef,s=\(salt),i=4096")) }
        client = SCRAMClientExchange(password: "pencil", clientNonce: "abc")
        _ = client.clientFirstMessage()
        assertThrows(.unsupported("mandatory SCRAM extension")) { _ = try client.receiveServerFirst(self.bytes("m=x,r=abcdef,s=\(salt),i=4096")) }
    }

    func testClientHandlesServerFinalErrors() throws {
        func clientAwaitingFinal() throws -> SCRAMClientExchange {
            var client = SCRAMClientExchange(password: "pencil", clientNonce: "rOprNGfwEbeRWgbNEkqO", username: "user")
            _ = client.clientFirstMessage()
            _ = try client.receiveServerFirst(bytes(rfcServerFirst))
            return client
        }
        var client = try clientAwaitingFinal()
        assertThrows(.wrongPassword) { try client.receiveServerFinal(self.bytes("e=invalid-proof")) }
        client = try clientAwaitingFinal()
        assertThrows(.protocolViolation("server reported SCRAM error: other-error")) { try client.receiveServerFinal(self.bytes("e=other-error")) }
        for bad in ["", "v=", "v=***", "x=1", ",", "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=,junk"] {
            client = try clientAwaitingFinal()
            assertProtocolViolation { try client.receiveServerFinal(self.bytes(bad)) }
        }
        client = try clientAwaitingFinal()
        for bad in ["v=AAAA", "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4A"] {
            client = try clientAwaitingFinal()
            assertProtocolViolation { try client.receiveServerFinal(self.bytes(bad)) }
        }
        // Once failed, even the genuine signature is refused.
        client = try clientAwaitingFinal()
        assertThrows(.serverSignatureMismatch) { try client.receiveServerFinal(self.bytes("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")) }
        assertProtocolViolation { try client.receiveServerFinal(self.bytes(self.rfcServerFinal)) }
    }
}
