import Foundation
import XCTest
@testable import Proxy

/// `[tls]`: what each mode needs, and files that cannot be read.
extension ConfigLoaderTests {
    private func tls(_ lines: String) -> String { Self.minimalConfig + "\n\n[tls]\n" + lines + "\n" }

    func testServerTLSAloneNeedsNoFiles() throws {
        let config = try load(tls("server_tls = \"require\""))
        XCTAssertEqual(config.tls?.serverTLS, .require)
        XCTAssertEqual(config.tls?.clientTLS, .disable, "no certificate: clients stay in plain text")
    }

    func testClientModesNeedACertificateAndACA() {
        assertOne(refusals(tls("client_tls = \"require\"")), line: 6, key: "tls.client_tls", reason: "needs certificate and private_key")
        let withFiles = "certificate = \"/nonexistent/cert.pem\"\nprivate_key = \"/nonexistent/key.pem\"\n"
        let verify = refusals(tls(withFiles + "client_tls = \"verify-ca\""))
        XCTAssertTrue(verify.contains { $0.key == "tls.client_tls" && $0.reason.contains("needs ca_certificate") }, "\(verify)")
        assertOne(refusals(tls("server_tls = \"verify-full\"")), line: 6, key: "tls.server_tls", reason: "needs server_ca_certificate")
    }

    func testACertificateWithoutItsKeyAndUnreadableFiles() {
        assertOne(refusals(tls("certificate = \"/etc/ssl/cert.pem\"")), line: 5, key: "tls.private_key", reason: "is required with certificate")
        let missing = refusals(tls("certificate = \"/nonexistent/cert.pem\"\nprivate_key = \"/nonexistent/key.pem\""))
        assertOne(missing, line: 5, key: "tls", reason: "certificate: cannot read /nonexistent/cert.pem")
    }

    func testTLSKeysOfOtherPoolersAreNamed() {
        assertOne(refusals(tls("client_tls_sslmode = \"require\"")), line: 6, key: "tls.client_tls_sslmode", reason: "belongs in [tls] as client_tls")
        assertOne(refusals(tls("client_tls = \"always\"")), line: 6, key: "tls.client_tls", reason: "must be one of")
    }

    func testRelativePathsAreBesideTheConfigFile() {
        XCTAssertEqual(ConfigLoader.resolve("certs/a.pem", besideConfig: "/etc/pgproxy/pgproxy.toml"), "/etc/pgproxy/certs/a.pem")
        XCTAssertEqual(ConfigLoader.resolve("/abs/a.pem", besideConfig: "/etc/pgproxy/pgproxy.toml"), "/abs/a.pem")
    }
}

/// `io_engine`: which event loops carry the connections.
extension ConfigLoaderTests {
    func testIOEngineDefaultsToAutoAndTakesItsValues() throws {
        XCTAssertEqual(try load(Self.minimalConfig).general.ioEngine, .auto)
        for engine in IOEngine.allCases {
            let config = try load("[general]\nio_engine = \"\(engine.rawValue)\"\n\n" + Self.minimalConfig)
            XCTAssertEqual(config.general.ioEngine, engine)
        }
        assertOne(refusals("[general]\nio_engine = \"uring\"\n\n" + Self.minimalConfig), line: 2, key: "general.io_engine", reason: "must be one of")
    }

    func testOwnLoopsEncryptClientsAndServers() throws {
        let serverTLS = "\n\n[tls]\nserver_tls = \"require\"\n"
        // auto and epoll are pgproxy's own loops, with TLS on either side or both (the
        // certificate files are read at load, so the client mode is set here); nio is SwiftNIO's.
        var config = try load("[general]\nio_engine = \"epoll\"\n\n" + Self.minimalConfig + serverTLS)
        XCTAssertTrue(ProxyServer.runsOwnLoops(config))
        config.tls?.clientTLS = .require
        XCTAssertTrue(ProxyServer.runsOwnLoops(config))
        config.general.ioEngine = .auto
        XCTAssertTrue(ProxyServer.runsOwnLoops(config))
        XCTAssertTrue(ProxyServer.runsOwnLoops(try load(Self.minimalConfig)))
        config.general.ioEngine = .nio
        XCTAssertFalse(ProxyServer.runsOwnLoops(config))
    }
}
