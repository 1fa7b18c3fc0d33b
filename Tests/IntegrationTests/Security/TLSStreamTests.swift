import Foundation
import XCTest

/// Large and many TLS connections: COPY both ways, a slow reader, pipelines and pgbench, on
/// whichever event loops the run uses (pgproxy's own with OpenSSL, or SwiftNIO's).
final class TLSStreamTests: IntegrationTestCase {
    private let certs = TestCertificates.shared

    private func proxy(_ extra: String = "") async throws -> ProxyFixture {
        try await ProxyFixture(backendPort: TestCluster.shared.port, general: "default_pool_size = 4\n" + extra, sections: """
            [tls]
            certificate = "\(certs.certificate("server"))"
            private_key = "\(certs.key("server"))"
            client_tls = "require"
            """)
    }

    func testCopyBothWaysAndASlowReaderOverTLS() async throws {
        let proxy = try await proxy()
        defer { Task { await proxy.stop() } }
        let client = try PQConnection(proxy.conninfo(extra: "sslmode=require"))
        XCTAssertEqual(client.exec("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").firstValue, "f", "the server side stays plain")
        XCTAssertTrue(client.exec("CREATE TABLE IF NOT EXISTS tls_copied(id int, name text); TRUNCATE tls_copied").ok)
        // 100,000 rows of 20 bytes: many TLS records in, read as they come.
        let loaded = client.copyIn("COPY tls_copied FROM STDIN", chunks: 100_000, chunk: "1\tsome text over tls\n")
        XCTAssertEqual(loaded.commandTag, "COPY 100000", loaded.message ?? "")
        // About 40 MB out: far more than the socket buffers hold, so writes wait for the socket.
        let (bytes, outcome) = client.copyOut("COPY (SELECT repeat('x', 3999) FROM generate_series(1, 10000)) TO STDOUT")
        XCTAssertTrue(outcome.ok, outcome.message ?? "")
        XCTAssertEqual(bytes, 10_000 * 4000)

        // A reader slower than the server: pgproxy stops reading the server (back-pressure) and
        // resumes, with decrypted bytes possibly waiting inside OpenSSL.
        let (received, slow) = client.copyOutSlowly("COPY (SELECT repeat('y', 999) FROM generate_series(1, 5000)) TO STDOUT", pause: 500)
        XCTAssertEqual(slow.commandTag, "COPY 5000", slow.message ?? "")
        XCTAssertEqual(received, 5000 * 1000)
        XCTAssertEqual(client.exec("SELECT count(*) FROM tls_copied").firstValue, "100000")
    }

    func testPipelinesAndManyClientsOverTLS() async throws {
        let proxy = try await proxy()
        defer { Task { await proxy.stop() } }
        let client = try PQConnection(proxy.conninfo(extra: "sslmode=require"))
        let steps = (1...200).map { [("SELECT $1::int * 2", [String($0)] as [String?])] }
        let results = try client.pipeline(steps)
        XCTAssertEqual(results.count, 200)
        XCTAssertEqual(results.last?.first?.firstValue, "400")

        let initialized = try runCommand("/usr/bin/pgbench", ["-i", "-q", "-s", "1", "-h", "127.0.0.1", "-p", String(TestCluster.shared.port), "-U", "bench", "bench"])
        XCTAssertEqual(initialized.status, 0, initialized.stderr)
        let pgbench = try runCommand("/usr/bin/pgbench", [
            "-n", "-S", "-c", "20", "-j", "2", "-t", "200", "-h", "127.0.0.1", "-p", String(proxy.port), "-U", "bench", "bench",
        ], environment: ["PGSSLMODE": "require", "PGPASSWORD": "bench"], timeout: 120)
        XCTAssertEqual(pgbench.status, 0, pgbench.stderr)
        XCTAssertTrue(pgbench.stdout.contains("number of failed transactions: 0"), pgbench.stdout)
        XCTAssertTrue(pgbench.stdout.contains("processed: 4000/4000"), pgbench.stdout)
    }
}
