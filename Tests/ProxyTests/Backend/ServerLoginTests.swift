import NIOCore
import XCTest

@testable import Proxy

final class ServerLoginTests: XCTestCase {
    private func message(_ id: UInt8, _ body: (inout ByteBuffer) -> Void) -> (UInt8, ByteBuffer) {
        var buffer = ByteBuffer()
        body(&buffer)
        return (id, buffer)
    }

    private func sent(_ action: ServerLogin.Action) -> ByteBuffer? {
        if case .send(let buffer) = action { return buffer }
        return nil
    }

    func testSCRAMAgainstARealExchange() throws {
        let verifier = SCRAMVerifier.make(password: "secret", salt: Array("saltsaltsaltsalt".utf8), iterations: 4096)
        var server = SCRAMServerExchange(verifier: verifier)
        var login = ServerLogin(credentials: ServerCredentials(user: "app", database: "app", secret: .plain("secret")))

        let (id, body) = message(BackendID.authentication) { $0.writeInteger(Int32(10)); $0.writeCString("SCRAM-SHA-256"); $0.writeInteger(UInt8(0)) }
        var initial = try XCTUnwrap(sent(try login.receive(id: id, body: body)))
        initial.moveReaderIndex(forwardBy: 5)
        XCTAssertEqual(initial.readNullTerminatedString(), "SCRAM-SHA-256")
        let length = Int(initial.readInteger(as: Int32.self)!)
        let serverFirst = try server.receiveClientFirst(initial.readBytes(length: length)!)

        var response = try XCTUnwrap(sent(try login.receive(id: BackendID.authentication, body: ByteBuffer(bytes: [0, 0, 0, 11] + serverFirst))))
        response.moveReaderIndex(forwardBy: 5)
        let serverFinal = try server.receiveClientFinal(Array(response.readableBytesView))

        guard case .wait = try login.receive(id: BackendID.authentication, body: ByteBuffer(bytes: [0, 0, 0, 12] + serverFinal)) else { return XCTFail() }
        guard case .wait = try login.receive(id: BackendID.authentication, body: ByteBuffer(bytes: [0, 0, 0, 0])) else { return XCTFail() }
        let (_, status) = message(BackendID.parameterStatus) { $0.writeCString("server_version"); $0.writeCString("15.18") }
        _ = try login.receive(id: BackendID.parameterStatus, body: status)
        let (_, key) = message(BackendID.backendKeyData) { $0.writeInteger(Int32(77)); $0.writeInteger(Int32(88)) }
        _ = try login.receive(id: BackendID.backendKeyData, body: key)
        guard case .ready = try login.receive(id: BackendID.readyForQuery, body: ByteBuffer(bytes: [UInt8(ascii: "I")])) else { return XCTFail() }
        XCTAssertEqual(login.parameters["server_version"], "15.18")
        XCTAssertEqual(login.backendKey?.processID, 77)
    }

    func testForgedServerSignatureIsRejected() throws {
        var login = ServerLogin(credentials: ServerCredentials(user: "app", database: "app", secret: .plain("secret")))
        let (id, body) = message(BackendID.authentication) { $0.writeInteger(Int32(10)); $0.writeCString("SCRAM-SHA-256"); $0.writeInteger(UInt8(0)) }
        var initial = try XCTUnwrap(sent(try login.receive(id: id, body: body)))
        initial.moveReaderIndex(forwardBy: 5)
        _ = initial.readNullTerminatedString()
        let length = Int(initial.readInteger(as: Int32.self)!)
        let verifier = SCRAMVerifier.make(password: "other", salt: Array("saltsaltsaltsalt".utf8), iterations: 4096)
        var impostor = SCRAMServerExchange(verifier: verifier)
        let serverFirst = try impostor.receiveClientFirst(initial.readBytes(length: length)!)
        _ = try login.receive(id: BackendID.authentication, body: ByteBuffer(bytes: [0, 0, 0, 11] + serverFirst))
        let forged = Array("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".utf8)
        XCTAssertThrowsError(try login.receive(id: BackendID.authentication, body: ByteBuffer(bytes: [0, 0, 0, 12] + forged)))
    }

    func testMD5WithStoredHashAndCleartext() throws {
        let salt: [UInt8] = [1, 2, 3, 4]
        var md5 = ServerLogin(credentials: ServerCredentials(user: "u", database: "d", secret: .md5(MD5Password.stored(user: "u", password: "p"))))
        var reply = try XCTUnwrap(sent(try md5.receive(id: BackendID.authentication, body: ByteBuffer(bytes: [0, 0, 0, 5] + salt))))
        reply.moveReaderIndex(forwardBy: 5)
        XCTAssertEqual(reply.readNullTerminatedString(), MD5Password.clientResponse(user: "u", password: "p", salt: salt))

        var clear = ServerLogin(credentials: ServerCredentials(user: "u", database: "d", secret: .plain("p")))
        reply = try XCTUnwrap(sent(try clear.receive(id: BackendID.authentication, body: ByteBuffer(bytes: [0, 0, 0, 3]))))
        reply.moveReaderIndex(forwardBy: 5)
        XCTAssertEqual(reply.readNullTerminatedString(), "p")
    }

    func testServerErrorAndMissingPassword() {
        var login = ServerLogin(credentials: ServerCredentials(user: "u", database: "d", secret: nil))
        XCTAssertThrowsError(try login.receive(id: BackendID.authentication, body: ByteBuffer(bytes: [0, 0, 0, 3])))
        var error = ByteBuffer()
        ErrorFields(.fatal, "28P01", "password authentication failed").write(into: &error)
        error.moveReaderIndex(forwardBy: 5)
        XCTAssertThrowsError(try login.receive(id: BackendID.errorResponse, body: error)) { thrown in
            guard case .server(let fields) = thrown as? ServerLogin.Failure else { return XCTFail() }
            XCTAssertEqual(fields.sqlState, "28P01")
        }
    }
}

extension ServerLoginTests {
    /// Feeds `login` a SASL request offering `mechanisms`; returns the mechanism it chose and its client-first-message.
    private func saslStart(_ login: inout ServerLogin, offering mechanisms: [String]) throws -> (mechanism: String?, first: [UInt8]) {
        let (id, body) = message(BackendID.authentication) {
            $0.writeInteger(Int32(10))
            for mechanism in mechanisms { $0.writeCString(mechanism) }
            $0.writeInteger(UInt8(0))
        }
        var initial = try XCTUnwrap(sent(try login.receive(id: id, body: body)))
        initial.moveReaderIndex(forwardBy: 5)
        let mechanism = initial.readNullTerminatedString()
        let length = Int(try XCTUnwrap(initial.readInteger(as: Int32.self)))
        return (mechanism, try XCTUnwrap(initial.readBytes(length: length)))
    }

    /// SCRAM-SHA-256-PLUS between pgproxy's two sides: the proof carries the certificate hash,
    /// so a server that saw another certificate (a man in the middle) refuses it.
    func testChannelBindingBindsTheProofToTheCertificate() throws {
        let verifier = SCRAMVerifier.make(password: "secret", salt: Array("saltsaltsaltsalt".utf8), iterations: 4096)
        let seen: [UInt8] = Array(repeating: 7, count: 32)
        for (serverSees, succeeds) in [(seen, true), (Array(repeating: 8, count: 32), false)] {
            var login = ServerLogin(credentials: ServerCredentials(user: "app", database: "app", secret: .plain("secret")))
            login.channelBinding = seen
            let (mechanism, first) = try saslStart(&login, offering: ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"])
            XCTAssertEqual(mechanism, "SCRAM-SHA-256-PLUS")
            XCTAssertTrue(String(decoding: first, as: UTF8.self).hasPrefix("p=tls-server-end-point,,"))
            var server = SCRAMServerExchange(verifier: verifier, channelBinding: serverSees, bindingSelected: true)
            let serverFirst = try server.receiveClientFirst(first)
            var response = try XCTUnwrap(sent(try login.receive(id: BackendID.authentication, body: ByteBuffer(bytes: [0, 0, 0, 11] + serverFirst))))
            response.moveReaderIndex(forwardBy: 5)
            if succeeds {
                XCTAssertNoThrow(try server.receiveClientFinal(Array(response.readableBytesView)))
            } else {
                XCTAssertThrowsError(try server.receiveClientFinal(Array(response.readableBytesView)))
            }
        }
    }

    /// A client that could bind ("y") while the server offered -PLUS: the offer was stripped on the way.
    func testADowngradedChannelBindingIsRefused() throws {
        let verifier = SCRAMVerifier.make(password: "secret", salt: Array("saltsaltsaltsalt".utf8), iterations: 4096)
        var login = ServerLogin(credentials: ServerCredentials(user: "app", database: "app", secret: .plain("secret")))
        login.channelBinding = Array(repeating: 7, count: 32)
        // The server's list reached pgproxy without -PLUS, so pgproxy says "y".
        let (mechanism, first) = try saslStart(&login, offering: ["SCRAM-SHA-256"])
        XCTAssertEqual(mechanism, "SCRAM-SHA-256")
        XCTAssertTrue(String(decoding: first, as: UTF8.self).hasPrefix("y,,"))
        var server = SCRAMServerExchange(verifier: verifier, channelBinding: Array(repeating: 7, count: 32), bindingSelected: false)
        XCTAssertThrowsError(try server.receiveClientFirst(first))
        var unbound = SCRAMServerExchange(verifier: verifier)
        XCTAssertNoThrow(try unbound.receiveClientFirst(first), "no -PLUS offered: 'y' is honest")
    }
}
