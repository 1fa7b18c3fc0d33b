import XCTest
@testable import Proxy

final class AdminParsingTests: XCTestCase {
    func testCommandsMatchCaseInsensitivelyAndTakeArguments() throws {
        let (pools, none) = try XCTUnwrap(AdminCommands.parse("show pools"))
        XCTAssertTrue(pools == ShowPools.self)
        XCTAssertEqual(none, [])
        let (totals, _) = try XCTUnwrap(AdminCommands.parse("SHOW STATS_TOTALS"))
        XCTAssertTrue(totals == ShowStatsTotals.self, "the longest name wins over SHOW STATS")
        let (pause, arguments) = try XCTUnwrap(AdminCommands.parse("PAUSE \"my db\""))
        XCTAssertTrue(pause == Pause.self)
        XCTAssertEqual(arguments, ["my db"])
        XCTAssertNil(AdminCommands.parse("SELECT 1"))
        XCTAssertNil(AdminCommands.parse("SHOW"))
    }

    func testStatementsSplitAtSemicolonsOutsideQuotes() {
        XCTAssertEqual(AdminConsole.split("show pools; show stats ;"), ["show pools", "show stats"])
        XCTAssertEqual(AdminConsole.split("PAUSE 'a;b'"), ["PAUSE 'a;b'"])
        XCTAssertEqual(AdminConsole.split("  ;; "), [])
    }

    func testUnknownCommandNamesItAndListsTheValidOnes() {
        guard case .error(let fields) = AdminCommands.unknown("FROB") else { return XCTFail("not an error") }
        XCTAssertEqual(fields.sqlState, "42601")
        XCTAssertEqual(fields.message, "invalid command 'FROB', use SHOW HELP;")
        XCTAssertTrue(fields.hint?.contains("SHOW POOLS") ?? false)
        XCTAssertTrue(fields.hint?.contains("SHUTDOWN [WAIT_FOR_CLIENTS]") ?? false)
    }
}

final class StatsPeriodsTests: XCTestCase {
    func testAveragesAreRatesAndPerEventTimes() {
        var periods = StatsPeriods()
        let start = PoolCounters(transactions: 100, queries: 200, serverAssignments: 100, bytesReceived: 1000, bytesSent: 2000,
                                 transactionMicros: 10_000, queryMicros: 5_000, waitMicros: 0, errors: 0)
        periods.close(totals: ["app": start], at: periods.startedAt + 10)
        let later = PoolCounters(transactions: 300, queries: 600, serverAssignments: 200, bytesReceived: 3000, bytesSent: 6000,
                                 transactionMicros: 30_000, queryMicros: 9_000, waitMicros: 5_000, errors: 10)
        periods.close(totals: ["app": later], at: periods.startedAt + 10)
        let average = try? XCTUnwrap(periods.averages["app"])
        XCTAssertEqual(average?.transactions, 20, "200 transactions in 10 s")
        XCTAssertEqual(average?.queries, 40)
        XCTAssertEqual(average?.bytesReceived, 200)
        XCTAssertEqual(average?.transactionMicros, 100, "20000 µs over 200 transactions")
        XCTAssertEqual(average?.queryMicros, 10, "4000 µs over 400 queries")
        XCTAssertEqual(average?.waitMicros, 50, "5000 µs over 100 assignments")
        XCTAssertEqual(average?.errors, 1)
    }
}
