import CLibPQ
import Foundation
import XCTest

final class CopyAndCancelTests: IntegrationTestCase {
    private func residentMemory() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "0").map { $0 * 1024 } ?? 0
    }

    func testCopyBothWaysInBothModes() async throws {
        for mode in ["transaction", "session"] {
            let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, general: "pool_mode = \"\(mode)\"")
            let connection = try PQConnection(proxy.conninfo())
            XCTAssertTrue(connection.exec("CREATE TEMP TABLE IF NOT EXISTS copied(id int, name text)").ok || mode == "transaction")
            XCTAssertTrue(connection.exec("CREATE TABLE IF NOT EXISTS copied_\(mode)(id int, name text); TRUNCATE copied_\(mode)").ok)
            let loaded = connection.copyIn("COPY copied_\(mode) FROM STDIN", chunks: 10_000, chunk: "1\tsome text\n")
            XCTAssertTrue(loaded.ok, loaded.message ?? "")
            XCTAssertEqual(loaded.commandTag, "COPY 10000")
            XCTAssertEqual(connection.exec("SELECT count(*) FROM copied_\(mode)").firstValue, "10000")
            let (bytes, outcome) = connection.copyOut("COPY copied_\(mode) TO STDOUT")
            XCTAssertTrue(outcome.ok)
            XCTAssertEqual(bytes, 10_000 * "1\tsome text\n".utf8.count)
            // A COPY the server rejects mid-stream leaves the connection usable.
            let bad = connection.copyIn("COPY copied_\(mode) FROM STDIN", chunks: 3, chunk: "not a number\tx\n")
            XCTAssertEqual(bad.sqlState, "22P02")
            XCTAssertEqual(connection.exec("SELECT 1").firstValue, "1")
            await proxy.stop()
        }
    }

    /// A client that reads slowly makes pgproxy pause reading its server (back-pressure), often
    /// right when the last message arrives and the server goes back to the pool. The next user
    /// of that connection (here the same client: the pool has one) must find it reading.
    /// COPY FROM STDIN started through the extended protocol: the server ignores the Sync sent
    /// with the Execute, so only one ReadyForQuery answers two Syncs. The server connection must
    /// still go back to the pool (pool of one: the next client would wait forever).
    func testAnExtendedProtocolCopyGivesItsServerBack() async throws {
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, general: "default_pool_size = 1\nquery_wait_timeout = \"5s\"", workers: 1)
        defer { Task { await proxy.stop() } }
        let first = try PQConnection(proxy.conninfo())
        let second = try PQConnection(proxy.conninfo())
        XCTAssertTrue(first.exec("CREATE TABLE IF NOT EXISTS copied_extended(id int, name text); TRUNCATE copied_extended").ok)
        for round in 1...3 {
            // Round 2 uses the simple protocol: it must give its server back too.
            let loaded = first.copyIn("COPY copied_extended FROM STDIN", chunks: 100, chunk: "1\tx\n", extended: round != 2)
            XCTAssertEqual(loaded.commandTag, "COPY 100", loaded.message ?? "")
            XCTAssertTrue(first.prepare("after_copy_\(round)", "SELECT count(*) FROM copied_extended").ok)
            XCTAssertEqual(first.execPrepared("after_copy_\(round)", []).firstValue, String(round * 100))
            XCTAssertEqual(second.exec("SELECT \(round)", timeout: 10)?.firstValue, String(round), "the other client gets the server")
        }
        // A client that leaves in the middle of such a COPY: its server is given a CopyFail and
        // the Sync the server then waits for, and goes back to the pool.
        do {
            let leaving = try PQConnection(proxy.conninfo())
            let started = PQexecParams(leaving.raw, "COPY copied_extended FROM STDIN", 0, nil, nil, nil, nil, 0)
            XCTAssertEqual(PQresultStatus(started), PGRES_COPY_IN)
            PQclear(started)
        }
        XCTAssertEqual(second.exec("SELECT 'after'", timeout: 10)?.firstValue, "after")
        XCTAssertEqual(first.exec("SELECT count(*) FROM copied_extended", timeout: 10)?.firstValue, "300")
    }

    func testASlowReaderLeavesItsServerReadable() async throws {
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, general: "default_pool_size = 1")
        defer { Task { await proxy.stop() } }
        let client = try PQConnection(proxy.conninfo())
        for round in 0..<4 {
            let (bytes, outcome) = client.copyOutSlowly("COPY (SELECT repeat('x', 999) FROM generate_series(1, 10000)) TO STDOUT", pause: 1_000)
            XCTAssertEqual(outcome.commandTag, "COPY 10000", outcome.message ?? client.lastError)
            XCTAssertEqual(bytes, 10_000 * 1_000)
            let next = client.exec("SELECT \(round)", timeout: 10)
            guard next?.firstValue == String(round) else {
                return XCTFail("round \(round): no answer from the pooled server connection (left with its reads paused?)")
            }
        }
    }

    /// After a few transactions a plain connection's answers are written to its socket directly;
    /// a reader too slow for them makes pgproxy hand the rest to the channel and send everything
    /// after it that way until it is out. Every row must still arrive once, whole, in order.
    func testASlowReaderGetsEveryRowInOrder() async throws {
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, general: "default_pool_size = 1")
        defer { Task { await proxy.stop() } }
        let client = try PQConnection(proxy.conninfo())
        for round in 0..<3 { XCTAssertEqual(client.exec("SELECT \(round)").firstValue, String(round)) }
        let rows = 40_000
        XCTAssertTrue(client.send("COPY (SELECT i || ':' || repeat(chr(65 + i % 26), i % 997) FROM generate_series(1, \(rows)) i) TO STDOUT"))
        let start = PQgetResult(client.raw)
        XCTAssertEqual(PQresultStatus(start), PGRES_COPY_OUT)
        PQclear(start)
        // About 20 MB, more than the sockets on the way hold: pgproxy's writes back up while the
        // client does not read, and again each time it pauses.
        var received = 0
        var reads = 0
        var finished = false
        usleep(500_000)
        while !finished {
            reads += 1
            if reads % 20 == 0 { usleep(20_000) }
            if PQconsumeInput(client.raw) == 0 { return XCTFail(client.lastError) }
            while true {
                var row: UnsafeMutablePointer<CChar>?
                let count = PQgetCopyData(client.raw, &row, 1)
                if let row {
                    let i = received + 1
                    let expected = "\(i):" + String(repeating: Character(Unicode.Scalar(UInt8(65 + i % 26))), count: i % 997) + "\n"
                    let text = String(cString: row)
                    PQfreemem(row)
                    guard text == expected else { return XCTFail("row \(i): got \(text.prefix(40)), expected \(expected.prefix(40))") }
                    received += 1
                }
                if count > 0 { continue }
                XCTAssertNotEqual(count, -2, client.lastError)
                finished = count < 0
                break
            }
        }
        XCTAssertEqual(received, rows)
        XCTAssertEqual(client.results().last?.commandTag, "COPY \(rows)")
        XCTAssertEqual(client.exec("SELECT 'after'", timeout: 10)?.firstValue, "after")
    }

    func testLargeCopyOutStreamsWithoutBuffering() async throws {
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port)
        defer { Task { await proxy.stop() } }
        let connection = try PQConnection(proxy.conninfo())
        _ = connection.copyOut("COPY (SELECT 1) TO STDOUT")  // warm up the pool
        let before = residentMemory()
        // About 400 MB through pgproxy.
        let (bytes, outcome) = connection.copyOut("COPY (SELECT repeat('x', 4000) FROM generate_series(1, 100000)) TO STDOUT")
        XCTAssertTrue(outcome.ok)
        XCTAssertEqual(bytes, 100_000 * 4001)
        let growth = residentMemory() - before
        XCTAssertLessThan(growth, 64 << 20, "the proxy buffered the stream: RSS grew by \(growth >> 20) MB")
    }

    func testCancelReachesOnlyTheRightServer() async throws {
        for mode in ["transaction", "session"] {
            let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, general: "pool_mode = \"\(mode)\"")
            let sleeper = try PQConnection(proxy.conninfo())
            let bystander = try PQConnection(proxy.conninfo())
            XCTAssertTrue(PQsendQuery(bystander.raw, "SELECT pg_sleep(1.5), 'finished'") == 1)
            XCTAssertTrue(PQsendQuery(sleeper.raw, "SELECT pg_sleep(30)") == 1)
            try await Task.sleep(nanoseconds: 300_000_000)
            let started = Date()
            XCTAssertTrue(sleeper.cancel())
            let result = PQgetResult(sleeper.raw)
            let outcome = PQConnection.outcome(result)
            PQclear(result)
            while let extra = PQgetResult(sleeper.raw) { PQclear(extra) }
            XCTAssertEqual(outcome.sqlState, "57014", mode)
            XCTAssertLessThan(Date().timeIntervalSince(started), 5)
            let other = PQGetAll(bystander)
            XCTAssertEqual(other.first?.rows.first?.last ?? nil, "finished", "the cancel hit only the sleeper")
            XCTAssertEqual(sleeper.exec("SELECT 'still usable'").firstValue, "still usable")
            await proxy.stop()
        }
    }
}

private func PQGetAll(_ connection: PQConnection) -> [PQOutcome] {
    var outcomes: [PQOutcome] = []
    while let result = PQgetResult(connection.raw) {
        outcomes.append(PQConnection.outcome(result))
        PQclear(result)
    }
    return outcomes
}
