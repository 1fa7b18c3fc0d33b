import XCTest
@testable import Proxy

/// `[admin]`, `[prometheus]`, `stats_period` and `autoreload`.
extension ConfigLoaderTests {
    func testAdminSection() throws {
        let config = try load(Self.minimalConfig + "\n\n[admin]\nuser = \"ops\"\npassword = \"s3cret\"\n")
        XCTAssertEqual(config.admin, AdminConfig(user: "ops", password: "s3cret"))
        XCTAssertNil(try load(Self.minimalConfig).admin)
    }

    func testAdminSectionNeedsUserAndPassword() {
        let errors = refusals(Self.minimalConfig + "\n\n[admin]\nname = \"ops\"\n")
        // Sorted by line: the missing keys are reported at the section header.
        XCTAssertEqual(errors.map(\.key), ["admin.user", "admin.password", "admin.name"], "\(errors)")
        XCTAssertEqual(errors.map(\.line), [5, 5, 6])
        XCTAssertEqual(errors.last?.reason, "unknown key 'name' here; it belongs in [admin] (here it is user)")
    }

    func testPrometheusSection() throws {
        let config = try load("[general]\nhost = \"127.0.0.1\"\n" + Self.minimalConfig + "\n\n[prometheus]\nport = 9931\n")
        XCTAssertEqual(config.prometheus, PrometheusConfig(host: "127.0.0.1", port: 9931))
        let clash = refusals("[general]\nport = 7000\n" + Self.minimalConfig + "\n\n[prometheus]\nport = 7000\n")
        XCTAssertEqual(clash.map(\.key), ["prometheus.port"])
        XCTAssertEqual(refusals(Self.minimalConfig + "\n\n[prometheus]\nport = 70000\n").first?.reason,
                       "must be between 0 and 65535, got 70000")
    }

    func testReservedDatabaseNames() {
        let errors = refusals("[[databases]]\nname = \"pgbouncer\"\nhost = \"h\"\n")
        XCTAssertEqual(errors.map(\.key), ["databases[0].name"])
        XCTAssertTrue(errors[0].reason.contains("reserved for the admin console"), errors[0].reason)
    }

    func testStatsPeriodAndAutoreload() throws {
        let config = try load("[general]\nstats_period = \"15s\"\nautoreload = 2000\n" + Self.minimalConfig)
        XCTAssertEqual(config.general.statsPeriod, 15_000)
        XCTAssertEqual(config.general.autoreload, 2_000)
        XCTAssertEqual(try load(Self.minimalConfig).general.autoreload, 0)
        XCTAssertEqual(refusals("[general]\nstats_period = 10\n" + Self.minimalConfig).first?.reason,
                       "must be at least 1s, got 10ms")
    }
}
