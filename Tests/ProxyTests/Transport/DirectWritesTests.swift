import NIOCore
import XCTest

@testable import Proxy

#if canImport(Glibc)
import Glibc
#endif

final class DirectWritesTests: XCTestCase {
    /// A connected pair of Unix stream sockets, the writing end non-blocking (as SwiftNIO's are).
    private func socketPair(sendBuffer: Int32? = nil) throws -> (writer: CInt, reader: CInt) {
        var pair: [CInt] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair), 0)
        if var size = sendBuffer {
            XCTAssertEqual(setsockopt(pair[0], SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size)), 0)
        }
        XCTAssertEqual(fcntl(pair[0], F_SETFL, fcntl(pair[0], F_GETFL) | O_NONBLOCK), 0)
        XCTAssertEqual(fcntl(pair[1], F_SETFL, fcntl(pair[1], F_GETFL) | O_NONBLOCK), 0)
        addTeardownBlock { close(pair[0]); close(pair[1]) }
        return (pair[0], pair[1])
    }

    /// Everything the reader can read now.
    private func drain(_ descriptor: CInt) -> [UInt8] {
        var all: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { return all }
            all += chunk[..<count]
        }
    }

    private func bytes(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    func testBuffersOfAFlushReachTheSocketInOrder() throws {
        let (writer, reader) = try socketPair()
        var out = DirectWrites()
        XCTAssertFalse(out.isOn)
        out.start(descriptor: writer, channelOwes: false)
        XCTAssertTrue(out.isOn)
        XCTAssertNil(out.flush(), "nothing appended, nothing to send")
        out.append(bytes("Q-one;"))
        XCTAssertNil(out.flush())
        for part in ["a", "bb", "ccc"] { out.append(bytes(part)) }
        XCTAssertNil(out.flush(), "three buffers go out in one sendmsg")
        XCTAssertEqual(String(decoding: drain(reader), as: UTF8.self), "Q-one;abbccc")
    }

    func testWhatTheSocketDoesNotTakeGoesToTheChannelAndLaterWritesFollowIt() throws {
        let (writer, reader) = try socketPair(sendBuffer: 4096)
        var out = DirectWrites()
        out.start(descriptor: writer, channelOwes: false)
        let big = ByteBuffer(bytes: (0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 % 251) })
        out.append(big)
        let left = try XCTUnwrap(out.flush(), "a megabyte does not fit a 4 KiB socket buffer")
        XCTAssertEqual(left.count, 1)
        let taken = big.readableBytes - left[0].readableBytes
        XCTAssertGreaterThan(taken, 0)
        XCTAssertEqual(left[0].getBytes(at: left[0].readerIndex, length: 4), big.getBytes(at: taken, length: 4))

        // While the channel still owes the rest, new bytes go to it as well, behind the rest.
        out.append(bytes("after"))
        XCTAssertEqual(try XCTUnwrap(out.flush()).map { $0.readableBytes }, [5])
        XCTAssertTrue(out.isOn)
        out.channelWrote(succeeded: true)
        out.channelWrote(succeeded: true)

        // Once the channel has written everything, bytes go straight to the socket again.
        _ = drain(reader)
        out.append(bytes("direct"))
        XCTAssertNil(out.flush())
        XCTAssertEqual(String(decoding: drain(reader), as: UTF8.self), "direct")
    }

    func testStartingWhileTheChannelOwesWaitsForIt() throws {
        let (writer, reader) = try socketPair()
        var out = DirectWrites()
        out.start(descriptor: writer, channelOwes: true)
        out.append(bytes("x"))
        XCTAssertEqual(out.flush()?.count, 1, "the login reply still in the channel goes first")
        out.channelWrote(succeeded: true)
        out.channelWrote(succeeded: true)
        out.append(bytes("y"))
        XCTAssertNil(out.flush())
        XCTAssertEqual(drain(reader), [UInt8(ascii: "y")])
    }

    func testABrokenSocketTurnsDirectWritesOff() throws {
        let (writer, reader) = try socketPair()
        close(reader)
        var out = DirectWrites()
        out.start(descriptor: writer, channelOwes: false)
        out.append(bytes("lost"))
        // EPIPE, without a SIGPIPE (which would end the test run): the channel meets the error.
        XCTAssertEqual(out.flush()?.first?.readableBytes, 4)
        XCTAssertFalse(out.isOn)
    }

    func testAFailedHandOffTurnsDirectWritesOff() throws {
        let (writer, _) = try socketPair()
        var out = DirectWrites()
        out.start(descriptor: writer, channelOwes: true)
        out.channelWrote(succeeded: false)
        XCTAssertFalse(out.isOn)
    }

    func testManyBuffersGoToTheChannelWhole() throws {
        let (writer, reader) = try socketPair()
        var out = DirectWrites()
        out.start(descriptor: writer, channelOwes: false)
        for index in 0..<(DirectWrites.gatherLimit + 4) { out.append(bytes("\(index % 10)")) }
        XCTAssertEqual(out.flush()?.count, DirectWrites.gatherLimit + 4)
        XCTAssertEqual(drain(reader), [])
    }

    func testStopHandsBackWhatWasNotFlushed() throws {
        let (writer, _) = try socketPair()
        var out = DirectWrites()
        out.start(descriptor: writer, channelOwes: false)
        out.append(bytes("a"))
        out.append(bytes("b"))
        XCTAssertEqual(out.stop().map { String(buffer: $0) }, ["a", "b"])
        XCTAssertFalse(out.isOn)
    }
}
