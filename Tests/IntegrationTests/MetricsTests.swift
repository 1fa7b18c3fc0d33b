import Foundation
import XCTest

/// /metrics, scraped with curl and read with the Prometheus client library's own text parser.
final class MetricsTests: IntegrationTestCase {
    /// Parses the exposition with prometheus_client and prints `name{labels} value` per sample.
    private static let parser = """
        import sys
        from prometheus_client.parser import text_string_to_metric_families
        for family in text_string_to_metric_families(sys.stdin.read()):
            assert family.documentation, family.name + " has no HELP"
            for sample in family.samples:
                labels = ",".join(k + '="' + v + '"' for k, v in sorted(sample.labels.items()))
                print(f"{family.type} {sample.name}{{{labels}}} {sample.value}")
        """

    func testScrapeParsesAndCountsTheWorkload() async throws {
        let python = "/usr/bin/python3"
        let probe = try runCommand(python, ["-c", "import prometheus_client"])
        guard probe.status == 0 else {
            XCTFail("python3-prometheus-client is missing (scripts/install-deps.sh installs it): \(probe.stderr)")
            return
        }
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port,
                                           sections: "[prometheus]\nhost = \"127.0.0.1\"\nport = 0", workers: 1)
        let port = try XCTUnwrap(proxy.server.metricsPort)
        let client = try PQConnection(proxy.conninfo())
        for _ in 0..<7 { XCTAssertTrue(client.exec("SELECT 1").ok) }
        XCTAssertFalse(client.exec("SELECT 1/0").ok)

        let scrape = try runCommand("/usr/bin/curl", ["-sS", "-D", "-", "http://127.0.0.1:\(port)/metrics"])
        XCTAssertEqual(scrape.status, 0, scrape.stderr)
        let parts = scrape.stdout.components(separatedBy: "\r\n\r\n")
        XCTAssertTrue(parts[0].hasPrefix("HTTP/1.1 200"), parts[0])
        XCTAssertTrue(parts[0].lowercased().contains("content-type: text/plain; version=0.0.4"), parts[0])
        let body = parts.dropFirst().joined(separator: "\r\n\r\n")
        let bodyFile = proxy.directory + "/metrics.txt"
        try body.write(toFile: bodyFile, atomically: true, encoding: .utf8)
        let parserFile = proxy.directory + "/parse.py"
        try Self.parser.write(toFile: parserFile, atomically: true, encoding: .utf8)
        let parsed = try runCommand("/bin/sh", ["-c", "\(python) \(parserFile) < \(bodyFile)"])
        XCTAssertEqual(parsed.status, 0, "the exposition does not parse: \(parsed.stderr)")
        let samples = parsed.stdout.split(separator: "\n").map(String.init)
        func value(_ sample: String) -> String? {
            samples.first { $0.split(separator: " ").dropFirst().first.map(String.init) == sample }?.split(separator: " ").last.map(String.init)
        }
        let pool = "{database=\"app\",user=\"app\"}"
        XCTAssertEqual(value("pgproxy_pool_queries_total\(pool)"), "8.0", samples.joined(separator: "\n"))
        XCTAssertEqual(value("pgproxy_pool_transactions_total\(pool)"), "8.0")
        XCTAssertEqual(value("pgproxy_pool_errors_total\(pool)"), "1.0")
        XCTAssertEqual(value("pgproxy_pool_clients{database=\"app\",state=\"active\",user=\"app\"}"), "1.0")
        XCTAssertEqual(value("pgproxy_pool_servers{database=\"app\",state=\"idle\",user=\"app\"}"), "1.0")
        XCTAssertEqual(value("pgproxy_clients_connected{}"), "1.0")
        let backend = "backend=\"127.0.0.1:\(TestCluster.shared.port)\",database=\"app\""
        XCTAssertEqual(value("pgproxy_backend_up{\(backend),role=\"primary\"}"), "1.0")
        XCTAssertEqual(value("pgproxy_backend_connect_latency_seconds_count{\(backend)}"), "1.0")
        XCTAssertNotNil(value("pgproxy_process_resident_memory_bytes{}"))
        XCTAssertTrue(samples.contains { $0.hasPrefix("counter pgproxy_config_reloads_total") })
        // No client addresses or query text in labels.
        XCTAssertFalse(body.contains("SELECT"))

        let missing = try runCommand("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/nope"])
        XCTAssertEqual(missing.stdout, "404")
        await proxy.stop()
    }
}
