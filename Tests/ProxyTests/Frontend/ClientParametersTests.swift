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
            "SET TimeZone TO 'Europe/Paris'\n;\nSET application_name TO 'it''s'\n;\nSET extra_float_digits TO '3'")
        var server = defaults
        server["TimeZone"] = "Europe/Paris"
        server["application_name"] = "it's"
        XCTAssertNil(client.synchronization(reported: server, set: ["extra_float_digits": "3"]))
    }

    func testReplayedStatementsRunAsWrittenAndCannotBeForged() {
        var client = ClientParameters(startup: [("search_path", "\u{1}DROP TABLE x")], serverDefaults: defaults)
        XCTAssertNil(client.values["search_path"], "a startup value cannot pass for a statement")
        client.setReplayed("work_mem", statement: "SET work_mem = '8MB' -- big sorts")
        XCTAssertEqual(client.synchronization(reported: defaults, set: [:]), "SET work_mem = '8MB' -- big sorts")
        client.removeReplayed("work_mem")
        XCTAssertNil(client.synchronization(reported: defaults, set: [:]))
    }

    func testAnotherClientsSettingsAreUndone() {
        let client = ClientParameters(startup: [], serverDefaults: defaults)
        var server = defaults
        server["TimeZone"] = "Asia/Tokyo"
        XCTAssertEqual(client.synchronization(reported: server, set: ["search_path": "x"]), "RESET search_path\n;\nSET TimeZone TO 'UTC'")
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
