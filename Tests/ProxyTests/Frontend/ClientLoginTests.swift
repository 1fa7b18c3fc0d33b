import NIOCore
import XCTest

@testable import Proxy

final class ClientLoginTests: XCTestCase {
    private func config(authType: String) throws -> ProxyConfig {
        try ConfigLoader.parse(
            configText: """
                [general]
                auth_type = "\(authType)"
                [[databases]]
                name = "app"
                host = "127.0.0.1"
                """,
            configPath: "pgproxy.toml",
            usersText: """
                [[users]]
                name = "alice"
                password = "wonderland"
                [[users]]
                name = "bob"
                password = "\(MD5Password.stored(user: "bob", password: "builder"))"
                """,
            usersPath: "users.toml")
    }

    private func makeLogin(_ authType: String) throws -> ClientLogin {
        ClientLogin(config: ConfigSnapshot(try config(authType: authType))) { _, password in
            SCRAMVerifier.make(password: password, salt: Array("0123456789abcdef".utf8), iterations: 4096)
        }
    }

    private func startup(_ login: inout ClientLogin, user: String, database: String = "app") -> ClientLogin.Action {
        login.receiveStartup(.startup(protocolVersion: StartupCode.protocol3, parameters: [("user", user), ("database", database), ("application_name", "test")]))
    }

    private func authenticationCode(_ action: ClientLogin.Action) -> Int32? {
        guard case .send(let reply) = action else { return nil }
        return reply.getInteger(at: 5, as: Int32.self)
    }

    private func refusal(_ action: ClientLogin.Action) -> String? {
        if case .refuse(let error) = action { return error.sqlState }
        if case .refuseLogging(let error, _) = action { return error.sqlState }
        return nil
    }

    private func isAuthenticated(_ action: ClientLogin.Action) -> Bool {
        if case .authenticated = action { return true }
        return false
    }

    func testSCRAMLoginWithClearTextPassword() throws {
        for (password, succeeds) in [("wonderland", true), ("looking-glass", false)] {
            var login = try makeLogin("scram-sha-256")
            XCTAssertEqual(authenticationCode(startup(&login, user: "alice")), 10)
            var client = SCRAMClientExchange(password: password)
            var initial = ByteBuffer()
            initial.writeCString("SCRAM-SHA-256")
            let first = client.clientFirstMessage()
            initial.writeInteger(Int32(first.count))
            initial.writeBytes(first)
            guard case .send(var challenge) = login.receivePassword(initial) else { return XCTFail("no server-first") }
            challenge.moveReaderIndex(forwardBy: 9)
            let final = try client.receiveServerFirst(Array(challenge.readableBytesView))
            let action = login.receivePassword(ByteBuffer(bytes: final))
            if succeeds {
                XCTAssertTrue(isAuthenticated(action))
            } else {
                XCTAssertEqual(refusal(action), SQLState.invalidPassword)
            }
        }
    }

    func testMD5LoginWithStoredHash() throws {
        for (password, succeeds) in [("builder", true), ("wrong", false)] {
            var login = try makeLogin("md5")
            guard case .send(let request) = startup(&login, user: "bob") else { return XCTFail("no request") }
            XCTAssertEqual(request.getInteger(at: 5, as: Int32.self), 5)
            let salt = request.getBytes(at: 9, length: 4)!
            var response = ByteBuffer()
            response.writeCString(MD5Password.clientResponse(user: "bob", password: password, salt: salt))
            let action = login.receivePassword(response)
            XCTAssertEqual(isAuthenticated(action), succeeds)
        }
    }

    func testCleartextAndTrust() throws {
        var plain = try makeLogin("plain")
        XCTAssertEqual(authenticationCode(startup(&plain, user: "alice")), 3)
        var password = ByteBuffer()
        password.writeCString("wonderland")
        XCTAssertTrue(isAuthenticated(plain.receivePassword(password)))

        var trust = try makeLogin("trust")
        XCTAssertTrue(isAuthenticated(startup(&trust, user: "alice")))
    }

    func testUnknownUserAndDatabase() throws {
        // An unknown user is asked for a password like anyone else, in the same way, then refused
        // like a wrong password; the reason goes to the log only.
        var login = try makeLogin("scram-sha-256")
        XCTAssertEqual(authenticationCode(startup(&login, user: "mallory")), 10)
        login = try makeLogin("md5")
        XCTAssertEqual(authenticationCode(startup(&login, user: "mallory")), 5)
        var answer = ByteBuffer()
        answer.writeCString("md5" + String(repeating: "0", count: 32))
        guard case .refuseLogging(let error, let reason) = login.receivePassword(answer) else { return XCTFail("not refused") }
        XCTAssertEqual(error.sqlState, SQLState.invalidPassword)
        XCTAssertEqual(error.message, "password authentication failed for user \"mallory\"")
        XCTAssertTrue(reason.contains("not in users.toml"), reason)
        login = try makeLogin("trust")
        XCTAssertEqual(refusal(startup(&login, user: "mallory")), SQLState.invalidAuthorization)
        login = try makeLogin("scram-sha-256")
        XCTAssertEqual(refusal(startup(&login, user: "alice", database: "nope")), SQLState.invalidCatalogName)
        login = try makeLogin("scram-sha-256")
        XCTAssertEqual(refusal(login.receiveStartup(.startup(protocolVersion: StartupCode.protocol3, parameters: [("database", "app")]))), SQLState.invalidAuthorization)
    }

    func testSSLRequestIsDeclinedAndCancelIsRecognised() throws {
        var login = try makeLogin("trust")
        guard case .send(let reply) = login.receiveStartup(.sslRequest) else { return XCTFail("no reply") }
        XCTAssertEqual(Array(reply.readableBytesView), [UInt8(ascii: "N")])
        XCTAssertTrue(login.expectsStartupPacket)
        guard case .cancel(let pid, let key) = login.receiveStartup(.cancel(processID: 5, secretKey: 6)) else { return XCTFail("no cancel") }
        XCTAssertEqual([pid, key], [5, 6])
    }

    func testOptionsAreParsedIntoSettings() throws {
        var login = try makeLogin("trust")
        let action = login.receiveStartup(.startup(protocolVersion: StartupCode.protocol3, parameters: [("user", "alice"), ("database", "app"), ("options", "-c search_path=a\\ b --statement-timeout=5s")]))
        guard case .authenticated(let identity, _) = action else { return XCTFail("not authenticated") }
        XCTAssertEqual(identity.parameters.map { "\($0.0)=\($0.1)" }, ["search_path=a b", "statement_timeout=5s"])
    }
}
