import NIOCore
import XCTest

@testable import Proxy

final class MessageScannerTests: XCTestCase {
    /// A backend response: RowDescription, two DataRows, CommandComplete, ReadyForQuery.
    private func sampleStream() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeTextRowDescription(["a"])
        buffer.writeDataRow(["1"])
        buffer.writeDataRow([String(repeating: "x", count: 300)])
        buffer.writeParameterStatus("TimeZone", "UTC")
        buffer.writeCommandComplete("SELECT 2")
        buffer.writeReadyForQuery(.inTransaction)
        return buffer
    }

    private struct Seen: Equatable {
        var id: UInt8
        var body: [UInt8]?
    }

    private func scan(_ chunks: [ByteBuffer]) throws -> [Seen] {
        var scanner = MessageScanner(
            notify: MessageSet([BackendID.commandComplete]),
            capture: MessageSet([BackendID.readyForQuery, BackendID.parameterStatus]))
        var seen: [Seen] = []
        for chunk in chunks {
            try scanner.scan(chunk) { id, body, _ in
                seen.append(Seen(id: id, body: body.map { Array($0.readableBytesView) }))
            }
        }
        XCTAssertTrue(scanner.atMessageBoundary)
        return seen
    }

    func testWholeBurst() throws {
        let seen = try scan([sampleStream()])
        XCTAssertEqual(seen.map(\.id), [BackendID.parameterStatus, BackendID.commandComplete, BackendID.readyForQuery])
        XCTAssertEqual(seen[2].body, [UInt8(ascii: "T")])
        XCTAssertEqual(seen[0].body, Array("TimeZone\0UTC\0".utf8))
        XCTAssertNil(seen[1].body)
    }

    func testSplitAtEveryByte() throws {
        let stream = sampleStream()
        let expected = try scan([stream])
        for split in 1..<stream.readableBytes {
            let first = stream.getSlice(at: 0, length: split)!
            let second = stream.getSlice(at: split, length: stream.readableBytes - split)!
            XCTAssertEqual(try scan([first, second]), expected, "split at \(split)")
        }
        let bytes = (0..<stream.readableBytes).map { stream.getSlice(at: $0, length: 1)! }
        XCTAssertEqual(try scan(bytes), expected, "one byte at a time")
    }

    func testMessageEndPositions() throws {
        var buffer = ByteBuffer()
        buffer.writeQuery("SELECT 1")
        buffer.writeTerminate()
        var scanner = MessageScanner(notify: MessageSet([FrontendID.query, FrontendID.terminate]), capture: MessageSet([]))
        var ends: [Int] = []
        try scanner.scan(buffer) { _, _, end in ends.append(end) }
        XCTAssertEqual(ends, [14, 19])
    }

    func testRejectsBadLength() {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(ascii: "Q"))
        buffer.writeInteger(Int32(3))
        var scanner = MessageScanner(notify: MessageSet([]), capture: MessageSet([]))
        XCTAssertThrowsError(try scanner.scan(buffer) { _, _, _ in }) { error in
            XCTAssertEqual(error as? MessageScanner.ScanError, .invalidLength(id: UInt8(ascii: "Q"), length: 3))
        }
    }

    func testRejectsTooLong() {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(ascii: "Q"))
        buffer.writeInteger(Int32(1_000_000))
        var scanner = MessageScanner(notify: MessageSet([]), capture: MessageSet([]), maximumLength: 1000)
        XCTAssertThrowsError(try scanner.scan(buffer) { _, _, _ in })
    }

    func testFramerYieldsWholeMessagesAndRemainder() throws {
        var stream = sampleStream()
        stream.writeInteger(UInt8(ascii: "Q"))  // the start of a next message
        var framer = MessageFramer()
        var ids: [UInt8] = []
        for index in 0..<stream.readableBytes {
            framer.append(stream.getSlice(at: index, length: 1)!)
            while let (id, _) = try framer.next() { ids.append(id) }
        }
        XCTAssertEqual(ids, [UInt8(ascii: "T"), UInt8(ascii: "D"), UInt8(ascii: "D"), UInt8(ascii: "S"), UInt8(ascii: "C"), UInt8(ascii: "Z")])
        XCTAssertEqual(framer.takeRemainder().map { Array($0.readableBytesView) }, [UInt8(ascii: "Q")])
    }

    /// A stream whose reads always end inside a message never lets the framer empty: what it
    /// consumed must still go, or it holds the whole stream (a COPY of gigabytes).
    func testFramerDropsWhatItConsumedWhenAMessageIsAlwaysPartial() throws {
        var message = ByteBuffer()
        message.writeMessage(id: FrontendID.copyData) { $0.writeBytes(Array(repeating: UInt8(ascii: "x"), count: 8000)) }
        var stream = ByteBuffer()
        for _ in 0..<2000 { stream.writeImmutableBuffer(message) }  // 16 MB
        var framer = MessageFramer()
        var messages = 0
        var index = stream.readerIndex
        while index < stream.writerIndex {
            let length = min(65_521, stream.writerIndex - index)  // never a multiple of a message
            framer.append(stream.getSlice(at: index, length: length)!)
            index += length
            while try framer.next() != nil { messages += 1 }
            XCTAssertLessThanOrEqual(framer.buffer.capacity, 1 << 18, "after \(index) bytes")
        }
        XCTAssertEqual(messages, 2000)
    }
}
