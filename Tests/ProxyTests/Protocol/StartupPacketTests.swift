import NIOCore
import XCTest

@testable import Proxy

final class StartupPacketTests: XCTestCase {
    func testStartupMessageAtEverySplit() throws {
        var packet = ByteBuffer()
        packet.writeStartupMessage(parameters: [("user", "app"), ("database", "db"), ("application_name", "psql")])
        for split in 0...packet.readableBytes {
            var buffer = packet.getSlice(at: 0, length: split)!
            if split < packet.readableBytes {
                XCTAssertNil(try StartupPacket.decode(from: &buffer))
                XCTAssertEqual(buffer.readerIndex, 0)
                var rest = packet.getSlice(at: split, length: packet.readableBytes - split)!
                buffer.writeBuffer(&rest)
            }
            let decoded = try StartupPacket.decode(from: &buffer)
            XCTAssertEqual(decoded, .startup(protocolVersion: StartupCode.protocol3, parameters: [("user", "app"), ("database", "db"), ("application_name", "psql")]))
            XCTAssertEqual(buffer.readableBytes, 0)
        }
    }

    func testSSLAndCancel() throws {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(8))
        buffer.writeInteger(StartupCode.sslRequest)
        buffer.writeCancelRequest(processID: 42, secretKey: -7)
        XCTAssertEqual(try StartupPacket.decode(from: &buffer), .sslRequest)
        XCTAssertEqual(try StartupPacket.decode(from: &buffer), .cancel(processID: 42, secretKey: -7))
    }

    func testRejectsBadLengthsAndVersions() {
        for length: Int32 in [0, 4, -1, Int32.max, 10_001] {
            var buffer = ByteBuffer()
            buffer.writeInteger(length)
            buffer.writeInteger(StartupCode.protocol3)
            XCTAssertThrowsError(try StartupPacket.decode(from: &buffer), "length \(length)")
        }
        var old = ByteBuffer()
        old.writeInteger(Int32(8))
        old.writeInteger(Int32(2 << 16))
        XCTAssertThrowsError(try StartupPacket.decode(from: &old)) { error in
            XCTAssertEqual(error as? StartupPacket.DecodeError, .unsupportedProtocol(2 << 16))
        }
        var unterminated = ByteBuffer()
        unterminated.writeInteger(Int32(12))
        unterminated.writeInteger(StartupCode.protocol3)
        unterminated.writeString("user")
        XCTAssertThrowsError(try StartupPacket.decode(from: &unterminated))
    }
}
