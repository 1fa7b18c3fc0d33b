import CLibPQ
import Foundation
import XCTest

/// PAUSE, RESUME, KILL, KILL_CLIENT, DISABLE, ENABLE, RECONNECT and SHUTDOWN from the console.
final class AdminControlTests: IntegrationTestCase {
    private func waitUntil(_ what: String, timeout: Double = 5, _ condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            guard Date() < deadline else { throw PQError(description: "timed out waiting until \(what)") }
            usleep(20_000)
        }
    }

    private func pool(_ admin: PQConnection, _ database: String = "app") -> [String: String] {
        admin.exec("SHOW POOLS").records.first { $0["database"] == database && $0["user"] == "app" } ?? [:]
    }

    func testPauseWaitsForTransactionsAndResumeLetsWaitingClientsContinue() async throws {
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, sections: ProxyFixture.adminSection)
        let admin = try proxy.admin()
        let busy = try PQConnection(proxy.conninfo())
        XCTAssertTrue(busy.exec("BEGIN").ok)
        XCTAssertTrue(busy.exec("SELECT 1").ok)

        // PAUSE returns only once the open transaction has ended.
        let pauser = try proxy.admin()
        XCTAssertTrue(pauser.send("PAUSE app"))
        usleep(300_000)
        XCTAssertTrue(pauser.isBusy, "PAUSE must wait for the running transaction")
        XCTAssertTrue(busy.exec("COMMIT").ok)
        XCTAssertEqual(pauser.results().first?.commandTag, "PAUSE")
        XCTAssertEqual(pool(admin)["sv_idle"], "0", "paused pools keep no server connections")
        XCTAssertEqual(admin.exec("SHOW DATABASES").records.first { $0["name"] == "app" }?["paused"], "1")

        // Clients keep their connections; their next statements wait.
        let waiting = try (0..<3).map { _ in try PQConnection(proxy.conninfo()) }
        for client in waiting { XCTAssertTrue(client.send("SELECT 'after resume'")) }
        try waitUntil("three clients wait") { pool(admin)["cl_waiting"] == "3" }
        usleep(200_000)
        XCTAssertTrue(waiting.allSatisfy(\.isBusy))

        XCTAssertEqual(admin.exec("RESUME app").commandTag, "RESUME")
        for client in waiting {
            XCTAssertEqual(client.results().first?.firstValue, "after resume")
        }
        XCTAssertEqual(busy.exec("SELECT 2").firstValue, "2")
        XCTAssertEqual(admin.exec("PAUSE nosuchdb").sqlState, "3D000")
        await proxy.stop()
    }

    func testResumingOneDatabaseOfAGlobalPauseLeavesTheOthersPaused() async throws {
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, sections: ProxyFixture.adminSection)
        let admin = try proxy.admin()
        XCTAssertEqual(admin.exec("PAUSE").commandTag, "PAUSE")
        XCTAssertEqual(admin.exec("RESUME app").commandTag, "RESUME")
        // Both pools are made after the pause: app's must serve, bench's must wait.
        let app = try PQConnection(proxy.conninfo())
        XCTAssertEqual(app.exec("SELECT 'app runs'").firstValue, "app runs")
        let bench = try PQConnection(proxy.conninfo(user: "bench", database: "bench"))
        XCTAssertTrue(bench.send("SELECT 'bench resumed'"))
        usleep(300_000)
        XCTAssertTrue(bench.isBusy, "bench is still paused")
        XCTAssertEqual(admin.exec("RESUME").commandTag, "RESUME")
        XCTAssertEqual(bench.results().first?.firstValue, "bench resumed")
        await proxy.stop()
    }

    func testKillDropsTheDatabasesClientsAndKeepsItPaused() async throws {
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, sections: ProxyFixture.adminSection)
        let admin = try proxy.admin()
        let victim = try PQConnection(proxy.conninfo())
        XCTAssertTrue(victim.exec("BEGIN").ok)
        XCTAssertTrue(victim.exec("CREATE TEMP TABLE killed_tx(x int) ON COMMIT DROP").ok)
        let bystander = try PQConnection(proxy.conninfo(user: "bench", database: "bench"))
        XCTAssertEqual(bystander.exec("SELECT 1").firstValue, "1")

        XCTAssertEqual(admin.exec("KILL app").commandTag, "KILL")
        let after = victim.exec("SELECT 1")
        XCTAssertFalse(after.ok)
        XCTAssertTrue(victim.lastError.contains("KILL app"), victim.lastError)
        XCTAssertEqual(bystander.exec("SELECT 2").firstValue, "2", "other databases are untouched")

        // New clients may connect, but wait until RESUME.
        let newcomer = try PQConnection(proxy.conninfo())
        XCTAssertTrue(newcomer.send("SELECT 'resumed'"))
        usleep(300_000)
        XCTAssertTrue(newcomer.isBusy)
        XCTAssertTrue(admin.exec("RESUME app").ok)
        XCTAssertEqual(newcomer.results().first?.firstValue, "resumed")
        await proxy.stop()
    }

    func testKillClientDisableEnableAndReconnect() async throws {
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, sections: ProxyFixture.adminSection)
        let admin = try proxy.admin()
        let victim = try PQConnection(proxy.conninfo(extra: "application_name=victim"))
        let other = try PQConnection(proxy.conninfo(extra: "application_name=other"))
        XCTAssertTrue(victim.exec("SELECT 1").ok)
        XCTAssertTrue(other.exec("SELECT 1").ok)
        let id = try XCTUnwrap(admin.exec("SHOW CLIENTS").records.first { $0["application_name"] == "victim" }?["id"])
        XCTAssertEqual(admin.exec("KILL_CLIENT \(id)").commandTag, "KILL_CLIENT")
        XCTAssertFalse(victim.exec("SELECT 1").ok)
        XCTAssertEqual(other.exec("SELECT 3").firstValue, "3")
        XCTAssertEqual(admin.exec("KILL_CLIENT 12345").sqlState, "42704")

        XCTAssertEqual(admin.exec("DISABLE app").commandTag, "DISABLE")
        XCTAssertThrowsError(try PQConnection(proxy.conninfo())) { error in
            XCTAssertTrue("\(error)".contains("is disabled"), "\(error)")
        }
        XCTAssertEqual(other.exec("SELECT 4").firstValue, "4", "connected clients carry on")
        XCTAssertEqual(admin.exec("ENABLE app").commandTag, "ENABLE")
        XCTAssertNoThrow(try PQConnection(proxy.conninfo()))

        // RECONNECT replaces idle server connections at once.
        let before = Set(admin.exec("SHOW SERVERS").records.compactMap { $0["remote_pid"] })
        XCTAssertFalse(before.isEmpty)
        XCTAssertEqual(admin.exec("RECONNECT app").commandTag, "RECONNECT")
        XCTAssertEqual(other.exec("SELECT 5").firstValue, "5")
        let after = Set(admin.exec("SHOW SERVERS").records.compactMap { $0["remote_pid"] })
        XCTAssertTrue(before.isDisjoint(with: after), "before \(before), after \(after)")
        await proxy.stop()
    }

    func testShutdownFromTheConsoleDrains() async throws {
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, general: "shutdown_timeout = \"10s\"",
                                           sections: ProxyFixture.adminSection)
        let busy = try PQConnection(proxy.conninfo())
        XCTAssertTrue(busy.exec("BEGIN").ok)
        XCTAssertTrue(busy.send("SELECT pg_sleep(0.3), 'finished'"))
        let admin = try proxy.admin()
        XCTAssertEqual(admin.exec("SHUTDOWN").commandTag, "SHUTDOWN")
        XCTAssertEqual(busy.results().first?.rows.first?.last ?? nil, "finished")
        XCTAssertTrue(busy.exec("COMMIT").ok, "the running transaction may finish")
        await proxy.server.waitUntilStopped()
        XCTAssertThrowsError(try PQConnection(proxy.conninfo()))
    }

    func testShutdownWaitForClientsWaitsForThemToLeave() async throws {
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, sections: ProxyFixture.adminSection)
        var client: PQConnection? = try PQConnection(proxy.conninfo())
        let admin = try proxy.admin()
        XCTAssertEqual(admin.exec("SHUTDOWN WAIT_FOR_CLIENTS").commandTag, "SHUTDOWN")
        let stopped = Task { await proxy.server.waitUntilStopped() }
        usleep(300_000)
        XCTAssertThrowsError(try PQConnection(proxy.conninfo()), "no new clients while waiting")
        XCTAssertEqual(client?.exec("SELECT 'still here'").firstValue, "still here")
        client = nil  // disconnects
        await stopped.value
    }
}
