import Foundation
import XCTest

@testable import Proxy

/// Base of every integration test: output is line-buffered (a CI log that is a pipe shows where a
/// run is, not a 4 KB block behind), and each test runs under a watchdog. A test that hangs
/// (a blocking libpq call, a child process that never exits) ends the run after
/// `PGPROXY_TEST_TIMEOUT` seconds (default 180) with its name and the processes still running,
/// instead of eating CI's whole time budget in silence.
class IntegrationTestCase: XCTestCase {
    override class func setUp() {
        super.setUp()
        TestWatchdog.lineBufferOutput()
    }

    override func setUp() {
        super.setUp()
        TestWatchdog.shared.arm(name)
    }

    override func tearDown() {
        TestWatchdog.shared.disarm()
        super.tearDown()
    }
}

final class TestWatchdog: @unchecked Sendable {
    static let shared = TestWatchdog()
    private let queue = DispatchQueue(label: "pgproxy-test-watchdog")
    private var timer: DispatchSourceTimer?
    private let limit: Int = ProcessInfo.processInfo.environment["PGPROXY_TEST_TIMEOUT"].flatMap(Int.init) ?? 180

    /// Also raises the open file limit: pgproxy runs in this process and, like pgbench with 200
    /// clients, must not depend on the machine's default soft limit.
    private static let buffered: Void = {
        setvbuf(stdout, nil, _IOLBF, 0)
        FileDescriptorLimit.raiseToHardLimit()
    }()

    static func lineBufferOutput() { _ = buffered }

    func arm(_ test: String) {
        let limit = self.limit
        queue.sync {
            timer?.cancel()
            let timer = DispatchSource.makeTimerSource(queue: queue)
            timer.schedule(deadline: .now() + .seconds(limit))
            timer.setEventHandler { Self.fire(test, after: limit) }
            timer.resume()
            self.timer = timer
        }
    }

    func disarm() {
        queue.sync {
            timer?.cancel()
            timer = nil
        }
    }

    private static func fire(_ test: String, after seconds: Int) {
        fflush(stdout)
        let message = "\n*** \(test) still running after \(seconds) s: the watchdog ends the test run. Processes still running:\n"
        FileHandle.standardError.write(Data(message.utf8))
        if let listing = try? runCommand("/bin/ps", ["-eo", "pid,ppid,etime,args", "--forest"], timeout: 10) {
            FileHandle.standardError.write(Data(listing.stdout.utf8))
        }
        FileHandle.standardError.write(Data(("pgproxy state:\n" + LiveFixtures.report()).utf8))
        _exit(1)
    }
}
