import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The file descriptor of a SwiftNIO socket channel, for `DirectWrites`.
///
/// SwiftNIO has no API for it; its channels describe themselves as
/// `SocketChannel { BaseSocket { fd=12 }, active = true, ... }`. The number read from there is
/// checked against the socket itself (a socket, of the channel's address family, with the
/// channel's peer for TCP), so a change in that text turns direct writes off rather than point
/// them at another descriptor. Read on the channel's event loop while the channel is open, so
/// the descriptor cannot have been closed and reused in between.
enum SocketDescriptor {
    static func of(_ channel: any Channel) -> CInt? {
        guard channel.isActive, let descriptor = parse(String(describing: channel)) else { return nil }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFSOCK else { return nil }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(descriptor, $0, &length) }
        }
        guard named == 0, let remote = channel.remoteAddress else { return nil }
        switch remote {
        case .v4(let address):
            guard storage.ss_family == sa_family_t(AF_INET) else { return nil }
            let peer = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in.self) }
            guard peer.sin_port == address.address.sin_port, peer.sin_addr.s_addr == address.address.sin_addr.s_addr else { return nil }
        case .v6(let address):
            guard storage.ss_family == sa_family_t(AF_INET6) else { return nil }
            let peer = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in6.self) }
            let same = withUnsafeBytes(of: peer.sin6_addr) { a in withUnsafeBytes(of: address.address.sin6_addr) { b in a.elementsEqual(b) } }
            guard peer.sin6_port == address.address.sin6_port, same else { return nil }
        case .unixDomainSocket:
            guard storage.ss_family == sa_family_t(AF_UNIX) else { return nil }
        }
        return descriptor
    }

    /// The number after "fd=" in a channel's description.
    static func parse(_ description: String) -> CInt? {
        let text = Array(description.utf8)
        let marker = Array("fd=".utf8)
        guard text.count > marker.count else { return nil }
        for start in 0...(text.count - marker.count) where text[start..<start + marker.count].elementsEqual(marker) {
            var value: CInt = 0
            var index = start + marker.count
            while index < text.count, text[index] >= UInt8(ascii: "0"), text[index] <= UInt8(ascii: "9"), value < 1 << 24 {
                value = value * 10 + CInt(text[index] - UInt8(ascii: "0"))
                index += 1
            }
            return index > start + marker.count ? value : nil
        }
        return nil
    }
}
