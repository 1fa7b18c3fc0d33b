import XCTest

@testable import Proxy

final class ClientParametersTests: XCTestCase {
    private let defaults = ["client_encoding": "UTF8", "DateStyle": "ISO, MDY", "TimeZone": "UTC", "server_version": "15.18"]

    func testNothingToDoWhenServerMatches() {
        let client = ClientParameters(startup: [], serverDefaults: defaults)
        XCTAssertNil(client.synchronization(reported: defaults, set: [:]))
    }

    func testStartupSettingsAreAppliedAndQuoted() {
        let client = ClientParameters(startup: [("timezone", "Europe/Paris"), ("application_name", "it's"), ("extra_float_digits", "3")], serverDefaults: defaults)
        XCTAssertEqual(
            client.synchronization(reported: defaults, set: [:]),
            "SET TimeZone TO 'Europe/Paris'; SET application_name TO 'it''s'; SET extra_float_digits TO '3'")
        var server = defaults
        server["TimeZone"] = "Europe/Paris"
        server["application_name"] = "it's"
        XCTAssertNil(client.synchronization(reported: server, set: ["extra_float_digits": "3"]))
    }

    func testAnotherClientsSettingsAreUndone() {
        let client = ClientParameters(startup: [], serverDefaults: defaults)
        var server = defaults
        server["TimeZone"] = "Asia/Tokyo"
        XCTAssertEqual(client.synchronization(reported: server, set: ["search_path": "x"]), "RESET search_path; SET TimeZone TO 'UTC'")
    }

    func testLoginParameterStatusUsesClientValues() {
        let client = ClientParameters(startup: [("DateStyle", "German")], serverDefaults: defaults)
        let status = Dictionary(uniqueKeysWithValues: client.parameterStatus(serverDefaults: defaults))
        XCTAssertEqual(status["DateStyle"], "German")
        XCTAssertEqual(status["server_version"], "15.18")
    }

    func testUnsafeNamesAreNeverSent() {
        XCTAssertNil(ClientParameters.setStatement("x; DROP TABLE t", "1"))
    }
}
