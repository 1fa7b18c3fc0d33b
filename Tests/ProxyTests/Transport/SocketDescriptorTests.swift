import NIOCore
import NIOPosix
import XCTest

@testable import Proxy

#if canImport(Glibc)
import Glibc
#endif

final class SocketDescriptorTests: XCTestCase {
    func testTheNumberIsReadFromAChannelsDescription() {
        XCTAssertEqual(SocketDescriptor.parse("SocketChannel { BaseSocket { fd=12 }, active = true }"), 12)
        XCTAssertEqual(SocketDescriptor.parse("fd=0"), 0)
        XCTAssertNil(SocketDescriptor.parse("SocketChannel { BaseSocket { fd= }, active = true }"))
        XCTAssertNil(SocketDescriptor.parse("EmbeddedChannel"))
        XCTAssertNil(SocketDescriptor.parse(""))
    }

    /// The port of a socket's own or its peer's address.
    private func port(_ descriptor: CInt, peer: Bool) -> Int {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let result = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                peer ? getpeername(descriptor, $0, &length) : getsockname(descriptor, $0, &length)
            }
        }
        XCTAssertEqual(result, 0)
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Guards the reading of SwiftNIO's description: if a SwiftNIO release changes it, this
    /// fails instead of direct writes silently going away.
    func testBothEndsOfATCPConnectionAreFound() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let accepted = group.next().makePromise(of: Channel.self)
        let listener = try ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                accepted.succeed(channel)
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        defer { try? listener.close().wait() }
        let client = try ClientBootstrap(group: group).connect(to: listener.localAddress!).wait()
        let server = try accepted.futureResult.wait()

        let clientSide = try client.eventLoop.submit { SocketDescriptor.of(client) }.wait()
        let serverSide = try server.eventLoop.submit { SocketDescriptor.of(server) }.wait()
        let clientDescriptor = try XCTUnwrap(clientSide, "the connecting channel's descriptor")
        let serverDescriptor = try XCTUnwrap(serverSide, "the accepted channel's descriptor")
        XCTAssertEqual(port(clientDescriptor, peer: false), client.localAddress?.port)
        XCTAssertEqual(port(serverDescriptor, peer: true), client.localAddress?.port)
        XCTAssertEqual(port(clientDescriptor, peer: true), listener.localAddress?.port)

        try client.close().wait()
        XCTAssertNil(try client.eventLoop.submit { SocketDescriptor.of(client) }.wait(), "a closed channel has none")
        try? server.close().wait()
    }
}
