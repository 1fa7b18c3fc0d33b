import Foundation
import Proxy
import XCTest

/// `hba_file`: pg_hba.conf lines checked before authentication, with psql as the client.
final class HostBasedAccessTests: IntegrationTestCase {
    private func psql(_ proxy: ProxyFixture, user: String, extra: String = "") -> CommandResult {
        (try? runCommand("/usr/bin/psql", ["-XAtq", "-v", "ON_ERROR_STOP=1", proxy.conninfo(user: user, extra: extra), "-c", "SELECT current_user"]))
            ?? CommandResult(status: -1, stdout: "", stderr: "psql did not run")
    }

    private func writeRules(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "pgproxy-hba-\(UUID().uuidString).conf"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testTheFirstMatchingLineDecides() async throws {
        let rules = try writeRules("""
            # TYPE     DATABASE  USER        ADDRESS        METHOD
            hostnossl  all       trust_user  127.0.0.1/32   reject
            host       app       app         127.0.0.1/32   scram-sha-256
            host       "app"     md5_user    127.0.0.1 255.255.255.255  trust
            host       all       all         10.0.0.0/8     trust
            """)
        defer { unlink(rules) }
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, general: "auth_type = \"md5\"\nhba_file = \"\(rules)\"")
        defer { Task { await proxy.stop() } }

        XCTAssertEqual(psql(proxy, user: "app").status, 0, "scram-sha-256 line, right password")
        let wrong = psql(proxy, user: "app", extra: "password=wrong")
        XCTAssertTrue(wrong.stderr.contains("password authentication failed"), wrong.stderr)
        let trusted = psql(proxy, user: "md5_user", extra: "password=wrong")
        XCTAssertEqual(trusted.status, 0, "a trust line asks for no password: \(trusted.stderr)")
        // A wrong password changes nothing: the hba check comes first.
        let rejected = psql(proxy, user: "trust_user", extra: "password=wrong")
        XCTAssertTrue(rejected.stderr.contains("hba_file rejects connection for host \"127.0.0.1\", user \"trust_user\""), rejected.stderr)
        let unlisted = psql(proxy, user: "plain_user", extra: "password=wrong")
        XCTAssertTrue(unlisted.stderr.contains("no hba_file entry for host \"127.0.0.1\", user \"plain_user\", database \"app\", no encryption"), unlisted.stderr)
    }

    func testCertificateLinesAndReload() async throws {
        let certs = TestCertificates.shared
        let rules = try writeRules("hostssl all app 127.0.0.1/32 cert\nhost all all 127.0.0.1/32 reject\n")
        defer { unlink(rules) }
        let proxy = try await ProxyFixture(
            backendPort: TestCluster.shared.port, general: "hba_file = \"\(rules)\"",
            sections: """
                [tls]
                certificate = "\(certs.certificate("server"))"
                private_key = "\(certs.key("server"))"
                ca_certificate = "\(certs.certificate("ca"))"
                """)
        defer { Task { await proxy.stop() } }
        let withCert = { (name: String) in "sslmode=require sslcert=\(certs.certificate(name)) sslkey=\(certs.key(name)) password=wrong" }
        let good = psql(proxy, user: "app", extra: withCert("app"))
        XCTAssertEqual(good.status, 0, "cert: the certificate is the password: \(good.stderr)")
        let otherName = psql(proxy, user: "app", extra: withCert("intruder"))
        XCTAssertTrue(otherName.stderr.contains("certificate authentication failed for user \"app\""), otherName.stderr)
        let noCert = psql(proxy, user: "app", extra: "sslmode=require")
        XCTAssertTrue(noCert.stderr.contains("requires a valid client certificate"), noCert.stderr)
        XCTAssertTrue(psql(proxy, user: "app", extra: "sslmode=disable").stderr.contains("hba_file rejects connection"))

        // A reload reads the file again.
        try "host all all 127.0.0.1/32 trust\n".write(toFile: rules, atomically: true, encoding: .utf8)
        if case .refused(let errors) = proxy.server.reload() { XCTFail("reload refused: \(errors)") }
        XCTAssertEqual(psql(proxy, user: "trust_user", extra: "sslmode=disable").status, 0)
    }

    func testABadLineStopsTheLoadWithItsFileAndLine() throws {
        let rules = try writeRules("host all all 127.0.0.1/32 trust\nlocal all all peer\n")
        defer { unlink(rules) }
        let directory = NSTemporaryDirectory() + "pgproxy-hba-config-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try ProxyFixture.configText(backendPort: 5432, general: "hba_file = \"\(rules)\"").write(toFile: directory + "/pgproxy.toml", atomically: true, encoding: .utf8)
        try ProxyFixture.defaultUsers.write(toFile: directory + "/users.toml", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ConfigLoader.load(configPath: directory + "/pgproxy.toml", usersPath: directory + "/users.toml")) { error in
            XCTAssertTrue("\(error)".contains("\(rules):2:"), "\(error)")
        }
    }
}
