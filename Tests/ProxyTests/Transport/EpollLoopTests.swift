import Foundation
import NIOCore
import Synchronization
import XCTest

@testable import Proxy

#if canImport(Glibc)
import Glibc
#endif

/// pgproxy's own event loop: tasks, timers and futures as on SwiftNIO's, and `RawSocket` on it.
final class EpollLoopTests: XCTestCase {
    private var loop: EpollLoop!

    override func setUpWithError() throws {
        loop = try EpollLoop(name: "test-loop")
    }

    override func tearDownWithError() throws {
        try loop.syncShutdownGracefully()
        loop = nil
    }

    func testTimersRunOnTheLoopInDeadlineOrderAndCancelledOnesNever() throws {
        let order = Mutex<[Int]>([])
        let onLoop = Mutex<[Bool]>([])
        let loop = self.loop!
        func schedule(_ milliseconds: Int) -> Scheduled<Void> {
            loop.scheduleTask(in: .milliseconds(Int64(milliseconds))) {
                onLoop.withLock { $0.append(loop.inEventLoop) }
                order.withLock { $0.append(milliseconds) }
            }
        }
        let late = schedule(60), early = schedule(20), cancelled = schedule(30), middle = schedule(40)
        cancelled.cancel()
        XCTAssertFalse(loop.inEventLoop)
        try late.futureResult.wait()
        try early.futureResult.wait()
        try middle.futureResult.wait()
        XCTAssertThrowsError(try cancelled.futureResult.wait()) { error in
            XCTAssertEqual(error as? EventLoopError, .cancelled)
        }
        XCTAssertEqual(order.withLock { $0 }, [20, 40, 60])
        XCTAssertEqual(onLoop.withLock { $0 }, [true, true, true])
    }

    func testTasksFromManyThreadsAllRunOnTheLoop() throws {
        let loop = self.loop!
        final class Counter: @unchecked Sendable { var value = 0 }
        let counter = Counter()  // touched only on the loop
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<1000 {
                loop.execute {
                    precondition(loop.inEventLoop)
                    counter.value += 1
                }
            }
        }
        XCTAssertEqual(try loop.submit { counter.value }.wait(), 4000)
        // A promise made on the loop and completed elsewhere reports back on the loop.
        let promise = loop.makePromise(of: Int.self)
        DispatchQueue.global().async { promise.succeed(7) }
        XCTAssertEqual(try promise.futureResult.map { loop.inEventLoop ? $0 : -1 }.wait(), 7)
    }

    // MARK: RawSocket

    private final class Owner: RawSocketOwner, @unchecked Sendable {
        let events = Mutex<[String]>([])
        let received = Mutex<[UInt8]>([])
        func socketRead(_ buffer: ByteBuffer) { received.withLock { $0 += buffer.readableBytesView } }
        func socketReadComplete() { events.withLock { $0.append("complete") } }
        func socketWritabilityChanged(_ writable: Bool) { events.withLock { $0.append("writable \(writable)") } }
        func socketClosed(_ error: (any Error)?) { events.withLock { $0.append(error == nil ? "closed" : "failed") } }
    }

    /// A connected pair of Unix stream sockets, both non-blocking; the first small-buffered.
    private func socketPair() -> (CInt, CInt) {
        var pair: [CInt] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair), 0)
        var size: Int32 = 4096
        setsockopt(pair[0], SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        for descriptor in pair { _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK) }
        return (pair[0], pair[1])
    }

    private func eventually(_ what: String, _ condition: () -> Bool) {
        let deadline = Date().addingTimeInterval(5)
        while !condition(), Date() < deadline { usleep(2000) }
        XCTAssertTrue(condition(), "timed out waiting for \(what)")
    }

    /// A RawSocket (not started) on one end of a socket pair, its owner, and the other end.
    private func rawSocket() -> (RawSocket, Owner, peer: CInt) {
        let (mine, peer) = socketPair()
        addTeardownBlock { close(peer) }
        return (RawSocket(descriptor: mine, loop: loop), Owner(), peer)
    }

    func testRawSocketReadsQueuesWhatTheSocketDoesNotTakeAndReportsThePeerClosing() throws {
        let (socket, owner, peer) = rawSocket()
        let loop = self.loop!
        XCTAssertTrue(try loop.submit { socket.start(owner: owner) }.wait())

        XCTAssertEqual(write(peer, "hello", 5), 5)
        eventually("the bytes") { owner.received.withLock { $0 } == Array("hello".utf8) }
        XCTAssertEqual(owner.events.withLock { $0 }, ["complete"])

        // 1 MiB cannot go at once: it is queued, the owner hears the socket is full, and then
        // that it is not once the peer has read enough; `done` comes when all of it is written.
        let big = ByteBuffer(repeating: 0x61, count: 1 << 20)
        let written = Mutex<Bool?>(nil)
        try loop.submit { socket.queue([big]) { ok in written.withLock { $0 = ok } } }.wait()
        XCTAssertEqual(owner.events.withLock { $0.last }, "writable false")
        var total = 0
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let deadline = Date().addingTimeInterval(10)
        while total < 1 << 20, Date() < deadline {
            let count = chunk.withUnsafeMutableBytes { read(peer, $0.baseAddress, $0.count) }
            if count > 0 { total += count } else { usleep(1000) }
        }
        XCTAssertEqual(total, 1 << 20)
        eventually("the end of the queued write") { written.withLock { $0 } == true }
        XCTAssertEqual(owner.events.withLock { $0 }, ["complete", "writable false", "writable true"])

        shutdown(peer, CInt(SHUT_RDWR))  // closed at teardown
        eventually("the peer's close") { owner.events.withLock { $0.last } == "closed" }
        XCTAssertFalse(try loop.submit { socket.isOpen }.wait())
    }

    func testClosingReportsFromATaskAndFailsWhatIsQueued() throws {
        let (socket, owner, peer) = rawSocket()
        let loop = self.loop!
        let outcome = Mutex<Bool?>(nil)
        let heardAtOnce = try loop.submit {
            precondition(socket.start(owner: owner))
            socket.queue([ByteBuffer(repeating: 0x62, count: 1 << 20)]) { ok in outcome.withLock { $0 = ok } }
            socket.close()
            return owner.events.withLock { $0.contains("closed") }
        }.wait()
        XCTAssertFalse(heardAtOnce, "close() reports from a task, as SwiftNIO's channelInactive after a close from a handler")
        eventually("the report") { owner.events.withLock { $0.last } == "closed" }
        XCTAssertEqual(outcome.withLock { $0 }, false)
        // The peer sees the connection end once it has read what got through.
        var chunk = [UInt8](repeating: 0, count: 65_536)
        var ended = false
        let deadline = Date().addingTimeInterval(5)
        while !ended, Date() < deadline {
            let count = chunk.withUnsafeMutableBytes { read(peer, $0.baseAddress, $0.count) }
            if count == 0 { ended = true } else if count < 0 { usleep(1000) }
        }
        XCTAssertTrue(ended)
    }
}
