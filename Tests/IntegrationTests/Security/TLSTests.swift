import Foundation
import XCTest

@testable import Proxy

/// TLS on both sides, with psql and libpq as clients and a test CA made with openssl.
final class TLSTests: IntegrationTestCase {
    private let certs = TestCertificates.shared

    private func tlsSection(_ mode: String, extra: String = "", server: String = "server") -> String {
        """
        [tls]
        certificate = "\(certs.certificate(server))"
        private_key = "\(certs.key(server))"
        client_tls = "\(mode)"
        \(extra)
        """
    }

    private func psql(_ proxy: ProxyFixture, _ sql: String, user: String = "app", extra: String) -> CommandResult {
        (try? runCommand("/usr/bin/psql", ["-XAtq", "-v", "ON_ERROR_STOP=1", proxy.conninfo(user: user, extra: extra), "-c", sql]))
            ?? CommandResult(status: -1, stdout: "", stderr: "psql did not run")
    }

    func testRequireRefusesPlainTextBeforeAnyPassword() async throws {
        let proxy = try await ProxyFixture(
            backendPort: TestCluster.shared.port, general: "auth_type = \"scram-sha-256\"",
            sections: tlsSection("require") + "\n" + ProxyFixture.adminSection)
        defer { Task { await proxy.stop() } }

        // A wrong password still gets the TLS refusal: the password is never asked for.
        let plain = psql(proxy, "SELECT 1", user: "app", extra: "sslmode=disable password=wrong")
        XCTAssertNotEqual(plain.status, 0)
        XCTAssertTrue(plain.stderr.contains("pgproxy accepts only TLS connections"), plain.stderr)

        let encrypted = psql(proxy, "SELECT current_user", extra: "sslmode=require")
        XCTAssertEqual(encrypted.status, 0, encrypted.stderr)
        XCTAssertEqual(encrypted.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "app")

        // SHOW CLIENTS names the TLS version of a TLS client.
        let admin = try PQConnection(proxy.conninfo(user: "admin", database: "pgproxy", extra: "sslmode=require"))
        let clients = admin.exec("SHOW CLIENTS")
        XCTAssertTrue(clients.ok, "\(clients.message ?? "") \(clients.rows)")
        XCTAssertEqual(clients.records.first?["tls"], "TLSv1.3", "\(clients.message ?? "") \(clients.rows)")
    }

    func testDisableAnswersNoAndPlainTextGoesOn() async throws {
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, sections: tlsSection("disable"))
        defer { Task { await proxy.stop() } }
        let wantsTLS = psql(proxy, "SELECT 1", extra: "sslmode=require")
        XCTAssertTrue(wantsTLS.stderr.contains("server does not support SSL"), wantsTLS.stderr)
        let prefers = psql(proxy, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", extra: "sslmode=prefer")
        XCTAssertEqual(prefers.status, 0, prefers.stderr)
    }

    func testVerifyFullAgainstTheTestCAAndChannelBinding() async throws {
        let proxy = try await ProxyFixture(
            backendPort: TestCluster.shared.port, general: "auth_type = \"scram-sha-256\"", sections: tlsSection("prefer"))
        defer { Task { await proxy.stop() } }
        let verified = "host=localhost sslmode=verify-full sslrootcert=\(certs.certificate("ca"))"
        let good = psql(proxy, "SELECT 1", extra: verified)
        XCTAssertEqual(good.status, 0, good.stderr)

        let wrongCA = psql(proxy, "SELECT 1", extra: "host=localhost sslmode=verify-full sslrootcert=\(certs.certificate("rogue"))")
        XCTAssertNotEqual(wrongCA.status, 0)
        XCTAssertTrue(wrongCA.stderr.contains("certificate verify failed"), wrongCA.stderr)

        // SCRAM-SHA-256-PLUS: the proof is bound to the certificate's hash, so a wrong
        // tls-server-end-point on pgproxy's side would fail the login.
        let bound = psql(proxy, "SELECT 1", extra: verified + " channel_binding=require")
        XCTAssertEqual(bound.status, 0, bound.stderr)
        let boundWrongPassword = psql(proxy, "SELECT 1", extra: verified + " channel_binding=require password=wrong")
        XCTAssertTrue(boundWrongPassword.stderr.contains("password authentication failed"), boundWrongPassword.stderr)

        // prefer still serves plain-text clients, and channel binding cannot be had without TLS.
        XCTAssertEqual(psql(proxy, "SELECT 1", extra: "sslmode=disable").status, 0)
        let unbound = psql(proxy, "SELECT 1", extra: "sslmode=disable channel_binding=require")
        XCTAssertNotEqual(unbound.status, 0)
    }

    func testClientCertificates() async throws {
        let ca = "ca_certificate = \"\(certs.certificate("ca"))\""
        let withCert = { (name: String) in "sslmode=require sslcert=\(self.certs.certificate(name)) sslkey=\(self.certs.key(name))" }

        let verifyCA = try await ProxyFixture(backendPort: TestCluster.shared.port, sections: tlsSection("verify-ca", extra: ca))
        XCTAssertEqual(psql(verifyCA, "SELECT 1", extra: withCert("app")).status, 0)
        XCTAssertEqual(psql(verifyCA, "SELECT 1", extra: withCert("intruder")).status, 0, "verify-ca does not look at the name")
        XCTAssertNotEqual(psql(verifyCA, "SELECT 1", extra: "sslmode=require").status, 0, "no certificate")
        XCTAssertNotEqual(psql(verifyCA, "SELECT 1", extra: withCert("rogue-app")).status, 0, "a certificate of another CA")
        await verifyCA.stop()

        let verifyFull = try await ProxyFixture(backendPort: TestCluster.shared.port, sections: tlsSection("verify-full", extra: ca))
        defer { Task { await verifyFull.stop() } }
        XCTAssertEqual(psql(verifyFull, "SELECT current_user", extra: withCert("app")).status, 0)
        let wrongName = psql(verifyFull, "SELECT 1", extra: withCert("intruder"))
        XCTAssertNotEqual(wrongName.status, 0)
        XCTAssertTrue(wrongName.stderr.contains("certificate validation"), wrongName.stderr)
    }

    func testServerTLS() async throws {
        let cluster = TestCluster.shared
        try enableServerTLS(on: cluster)
        // The shared cluster goes back to plain text for the tests after this one.
        defer {
            _ = try? cluster.psql("ALTER SYSTEM RESET ssl")
            _ = try? cluster.psql("SELECT pg_reload_conf()")
        }
        func proxy(_ mode: String, authority: String, host: String = "127.0.0.1") async throws -> ProxyFixture {
            try await ProxyFixture(
                backendPort: cluster.port,
                sections: "[tls]\nserver_tls = \"\(mode)\"\nserver_ca_certificate = \"\(certs.certificate(authority))\"",
                databases: "[[databases]]\nname = \"app\"\nhost = \"\(host)\"\nport = \(cluster.port)")
        }
        let ownLoops = ProcessInfo.processInfo.environment["PGPROXY_TEST_IO_ENGINE"] != "nio"
        // verify-full with an address (the certificate's IP names) and with a host name (its DNS
        // names, and SNI).
        for (mode, host) in [("require", "127.0.0.1"), ("verify-full", "127.0.0.1"), ("verify-full", "localhost")] {
            let encrypted = try await proxy(mode, authority: "ca", host: host)
            defer { Task { await encrypted.stop() } }
            XCTAssertEqual(encrypted.server.runtime.loops.allSatisfy { $0 is EpollLoop }, ownLoops, "the engine under test")
            // app logs in to PostgreSQL with SCRAM-SHA-256-PLUS (offered over TLS): a wrong
            // channel-binding hash of the server's certificate would fail the login.
            XCTAssertEqual(try encrypted.psql("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"), "t", mode)
            // A cancel goes to the server inside TLS too, and still reaches the query.
            let sleeper = try PQConnection(encrypted.conninfo())
            XCTAssertTrue(sleeper.send("SELECT pg_sleep(30)"))
            try await Task.sleep(nanoseconds: 300_000_000)
            let started = Date()
            XCTAssertTrue(sleeper.cancel())
            XCTAssertEqual(sleeper.results().first?.sqlState, "57014", mode)
            XCTAssertLessThan(Date().timeIntervalSince(started), 5, mode)
        }
        // A CA that did not sign the server's certificate: no server connection, a clear error.
        let wrongCA = try await proxy("verify-ca", authority: "rogue")
        defer { Task { await wrongCA.stop() } }
        XCTAssertThrowsError(try wrongCA.psql("SELECT 1")) { error in
            XCTAssertTrue("\(error)".contains("TLS with the server failed"), "\(error)")
            if ownLoops { XCTAssertTrue("\(error)".contains("certificate verify failed: unable to get local issuer certificate"), "\(error)") }
        }
        // A certificate from the right CA that names neither 127.0.0.1 nor localhost (the client
        // certificate of "app"): verify-full refuses it, verify-ca does not check names.
        try installServerCertificate("app", on: cluster)
        for host in ["127.0.0.1", "localhost"] {
            let wrongName = try await proxy("verify-full", authority: "ca", host: host)
            defer { Task { await wrongName.stop() } }
            XCTAssertThrowsError(try wrongName.psql("SELECT 1")) { error in
                XCTAssertTrue("\(error)".contains("TLS with the server failed"), "\(error)")
                if ownLoops { XCTAssertTrue("\(error)".contains(host == "localhost" ? "hostname mismatch" : "IP address mismatch"), "\(error)") }
            }
        }
        let anyName = try await proxy("verify-ca", authority: "ca")
        defer { Task { await anyName.stop() } }
        XCTAssertEqual(try anyName.psql("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"), "t")
        try installServerCertificate("server", on: cluster)
        // A reload turns server_tls on (new server connections; RECONNECT replaces the old ones).
        let reloaded = try await ProxyFixture(backendPort: cluster.port, sections: ProxyFixture.adminSection, workers: 1)
        defer { Task { await reloaded.stop() } }
        XCTAssertEqual(try reloaded.psql("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"), "f")
        let engine = ProcessInfo.processInfo.environment["PGPROXY_TEST_IO_ENGINE"].map { "io_engine = \"\($0)\"\n" } ?? ""
        try reloaded.rewriteConfig(general: engine + "workers = 1", sections: ProxyFixture.adminSection + "\n[tls]\nserver_tls = \"require\"\n")
        let reloadAdmin = try reloaded.admin()
        let reload = reloadAdmin.exec("RELOAD")
        XCTAssertTrue(reload.ok, reload.message ?? "")
        XCTAssertTrue(reloadAdmin.exec("RECONNECT").ok)
        XCTAssertEqual(try reloaded.psql("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"), "t")
        // On the server's Unix-domain socket no TLS is asked for, whatever server_tls says (as in
        // libpq): the same rogue CA would fail any handshake, and the login works in plain text.
        let overSocket = try await ProxyFixture(
            backendPort: cluster.port,
            sections: "[tls]\nserver_tls = \"verify-ca\"\nserver_ca_certificate = \"\(certs.certificate("rogue"))\"",
            databases: "[[databases]]\nname = \"app\"\nhost = \"\(cluster.directory)\"\nport = \(cluster.port)")
        defer { Task { await overSocket.stop() } }
        XCTAssertEqual(try overSocket.psql("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"), "f")

        // prefer: TLS while the server offers it, plain text once it does not (new connections).
        let prefer = try await ProxyFixture(backendPort: cluster.port, sections: "[tls]\nserver_tls = \"prefer\"\n" + ProxyFixture.adminSection, workers: 1)
        defer { Task { await prefer.stop() } }
        XCTAssertEqual(try prefer.psql("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"), "t")
        try cluster.psql("ALTER SYSTEM RESET ssl")
        try cluster.psql("SELECT pg_reload_conf()")
        for _ in 0..<50 where (try? cluster.psql("SHOW ssl")) != "off" { usleep(100_000) }
        let admin = try PQConnection(prefer.conninfo(user: "admin", database: "pgproxy"))
        XCTAssertTrue(admin.exec("RECONNECT").ok)
        XCTAssertEqual(try prefer.psql("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"), "f")
    }

    /// `server_certificate`: pgproxy shows a client certificate to a server whose pg_hba.conf
    /// says `cert` (the user is the certificate's common name).
    func testClientCertificateForTheServer() async throws {
        let cluster = TestCluster.shared
        try enableServerTLS(on: cluster)
        let data = cluster.directory + "/data"
        let hba = data + "/pg_hba.conf"
        let original = try String(contentsOfFile: hba, encoding: .utf8)
        _ = try? cluster.psql("CREATE DATABASE certdb OWNER app")
        try? FileManager.default.removeItem(atPath: data + "/root.crt")
        try FileManager.default.copyItem(atPath: certs.certificate("ca"), toPath: data + "/root.crt")
        _ = try runCommand("/bin/chmod", ["644", data + "/root.crt"])
        try ("hostssl certdb app 127.0.0.1/32 cert\n" + original).write(toFile: hba, atomically: false, encoding: .utf8)
        try cluster.psql("ALTER SYSTEM SET ssl_ca_file = 'root.crt'")
        try cluster.psql("SELECT pg_reload_conf()")
        defer {
            try? original.write(toFile: hba, atomically: false, encoding: .utf8)
            _ = try? cluster.psql("ALTER SYSTEM RESET ssl_ca_file")
            _ = try? cluster.psql("ALTER SYSTEM RESET ssl")
            _ = try? cluster.psql("SELECT pg_reload_conf()")
        }
        usleep(300_000)
        func proxy(certificate: String?) async throws -> ProxyFixture {
            var section = "[tls]\nserver_tls = \"verify-full\"\nserver_ca_certificate = \"\(certs.certificate("ca"))\"\n"
            if let certificate {
                section += "server_certificate = \"\(certs.certificate(certificate))\"\nserver_private_key = \"\(certs.key(certificate))\"\n"
            }
            return try await ProxyFixture(
                backendPort: cluster.port, sections: section,
                databases: "[[databases]]\nname = \"app\"\ndatabase_name = \"certdb\"\nhost = \"127.0.0.1\"\nport = \(cluster.port)")
        }
        let shown = try await proxy(certificate: "app")
        defer { Task { await shown.stop() } }
        XCTAssertEqual(try shown.psql("SELECT client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()"), "/CN=app")
        // Without one, the server refuses the login, and the client is told why.
        let none = try await proxy(certificate: nil)
        defer { Task { await none.stop() } }
        XCTAssertThrowsError(try none.psql("SELECT 1")) { error in
            XCTAssertTrue("\(error)".contains("connection requires a valid client certificate"), "\(error)")
        }
    }

    func testReloadPicksUpARenewedCertificate() async throws {
        let directory = NSTemporaryDirectory() + "pgproxy-renew-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func install(_ name: String) throws {
            for (source, target) in [(certs.certificate(name), "cert.pem"), (certs.key(name), "key.pem")] {
                try? FileManager.default.removeItem(atPath: "\(directory)/\(target)")
                try FileManager.default.copyItem(atPath: source, toPath: "\(directory)/\(target)")
            }
        }
        try install("server")
        let section = """
            [tls]
            certificate = "\(directory)/cert.pem"
            private_key = "\(directory)/key.pem"
            client_tls = "require"
            """
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, sections: section)
        defer { Task { await proxy.stop() } }
        let connected = try PQConnection(proxy.conninfo(extra: "sslmode=require"))
        let before = try serial(of: proxy)
        XCTAssertTrue(before.hasPrefix("serial="), before)
        XCTAssertEqual(before, try serial(ofFile: certs.certificate("server")))

        try install("server2")
        if case .refused(let errors) = proxy.server.reload() { XCTFail("reload refused: \(errors)") }
        XCTAssertEqual(try serial(of: proxy), try serial(ofFile: certs.certificate("server2")), "new connections see the new certificate")
        XCTAssertEqual(connected.exec("SELECT 42").firstValue, "42", "a connected client keeps its session")
    }

    // MARK: helpers

    /// Makes `name` the test cluster's certificate (PostgreSQL re-reads it at each reload).
    private func installServerCertificate(_ name: String, on cluster: TestCluster, reload: Bool = true) throws {
        let data = cluster.directory + "/data"
        for (source, target) in [(certs.certificate(name), "server.crt"), (certs.key(name), "server.key")] {
            try? FileManager.default.removeItem(atPath: "\(data)/\(target)")
            try FileManager.default.copyItem(atPath: source, toPath: "\(data)/\(target)")
            let owner = try runCommand("/usr/bin/stat", ["-c", "%U", data]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            _ = try runCommand("/bin/chown", [owner, "\(data)/\(target)"])
            chmod("\(data)/\(target)", 0o600)
        }
        if reload { try cluster.psql("SELECT pg_reload_conf()") }
    }

    /// The serial number of the certificate pgproxy shows, read with openssl's PostgreSQL STARTTLS.
    private func serial(of proxy: ProxyFixture) throws -> String {
        let script = "openssl s_client -starttls postgres -connect 127.0.0.1:\(proxy.port) </dev/null 2>/dev/null | openssl x509 -noout -serial"
        let result = try runCommand("/bin/sh", ["-c", script])
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func serial(ofFile path: String) throws -> String {
        try runCommand("/usr/bin/openssl", ["x509", "-noout", "-serial", "-in", path]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Turns on `ssl` in the test cluster with the test CA's server certificate (a reload is enough).
    private func enableServerTLS(on cluster: TestCluster) throws {
        try installServerCertificate("server", on: cluster, reload: false)
        try cluster.psql("ALTER SYSTEM SET ssl = on")
        try cluster.psql("SELECT pg_reload_conf()")
        for _ in 0..<50 where (try? cluster.psql("SHOW ssl")) != "on" { usleep(100_000) }
        XCTAssertEqual(try cluster.psql("SHOW ssl"), "on")
    }
}
