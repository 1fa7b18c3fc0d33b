import CSockets
import Logging
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The client listener on pgproxy's own event loops: accepts on the first loop and hands each
/// connection to the loops in turn, where it becomes a `ClientSession` on a `RawSocket`.
final class EpollListener: EpollHandle {
    private let descriptor: CInt
    private let loops: [EpollLoop]
    private var next = 0
    private let logger: Logger
    private let accepted: (CInt, SocketAddress?, EpollLoop) -> Void
    private var open = true
    let port: Int
    /// The socket file of a Unix-domain listener, removed when it closes.
    private let socketFile: UnixSocketFile?
    /// What accepted connections are from on a Unix-domain listener (their peers have no name).
    private let localPeer: SocketAddress?

    /// Binds `host`:`port` (port 0: any free port, see `port`) or, with `socketFile`, that
    /// Unix-domain socket, and starts accepting; `accepted` runs on the connection's own loop.
    init(host: String, port: Int, socketFile: UnixSocketFile? = nil, loops: [EpollLoop], logger: Logger,
         accepted: @escaping (CInt, SocketAddress?, EpollLoop) -> Void) throws {
        let address = try socketFile?.address() ?? SocketAddress.makeAddressResolvingHost(host, port: port)
        let family: CInt
        switch address {
        case .v4: family = AF_INET
        case .v6: family = AF_INET6
        case .unixDomainSocket: family = AF_UNIX
        }
        let descriptor = socket(family, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_NONBLOCK.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw IOError(errnoCode: errno, reason: "socket") }
        if family != AF_UNIX {
            var one: CInt = 1
            // Accepted sockets inherit SO_KEEPALIVE and TCP_NODELAY from the listener on Linux.
            setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<CInt>.size))
            setsockopt(descriptor, SOL_SOCKET, SO_KEEPALIVE, &one, socklen_t(MemoryLayout<CInt>.size))
            setsockopt(descriptor, CInt(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<CInt>.size))
        }
        let bound = address.withSockAddr { bind(descriptor, $0, socklen_t($1)) }
        guard bound == 0, listen(descriptor, 1024) == 0 else {
            let code = errno
            Glibc.close(descriptor)
            throw IOError(errnoCode: code, reason: "bind to \(socketFile?.path ?? "\(host):\(port)")")
        }
        do {
            try socketFile?.setMode()
        } catch {
            Glibc.close(descriptor)
            socketFile?.remove()
            throw error
        }
        self.port = socketFile == nil ? Self.boundPort(descriptor) ?? port : port
        self.socketFile = socketFile
        self.localPeer = socketFile == nil ? nil : address
        self.descriptor = descriptor
        self.loops = loops
        self.logger = logger
        self.accepted = accepted
        super.init()
        let first = loops[0]
        first.execute { [self] in
            if !first.watch(descriptor, self, events: EPOLLIN.rawValue) {
                logger.error("cannot watch the listening socket: errno \(errno)")
            }
        }
    }

    override func ready(_ events: UInt32) {
        for _ in 0..<64 {
            guard open else { return }
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let client = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pgproxy_accept(descriptor, $0, &length) }
            }
            if client < 0 {
                let code = errno
                if code == EAGAIN || code == EWOULDBLOCK { return }
                if code == EINTR || code == ECONNABORTED { continue }
                // Out of descriptors (or memory): stop accepting for a moment, not spin on it.
                logger.warning("accept failed: errno \(code); pausing new connections for 100 ms")
                let loop = loops[0]
                loop.change(descriptor, self, events: 0)
                _ = loop.scheduleTask(in: .milliseconds(100)) { [self] in
                    if open { loop.change(descriptor, self, events: EPOLLIN.rawValue) }
                }
                return
            }
            let remote = localPeer ?? Self.address(storage)
            let loop = loops[next]
            next = (next + 1) % loops.count
            if loop === loops[0] {
                accepted(client, remote, loop)
            } else {
                let accepted = self.accepted
                loop.execute { accepted(client, remote, loop) }
            }
        }
    }

    /// Stops listening (from any thread).
    func close() {
        let loop = loops[0]
        loop.execute { [self] in
            guard open else { return }
            open = false
            loop.unwatch(descriptor, self)
            Glibc.close(descriptor)
            socketFile?.remove()
        }
    }

    private static func boundPort(_ descriptor: CInt) -> Int? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard named == 0 else { return nil }
        return address(storage)?.port
    }

    /// The peer's address as SwiftNIO describes it (host: the address as text).
    static func address(_ storage: sockaddr_storage) -> SocketAddress? {
        var storage = storage
        switch CInt(storage.ss_family) {
        case AF_INET:
            let address = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in.self) }
            return SocketAddress(address, host: dottedQuad(address.sin_addr))
        case AF_INET6:
            let address = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in6.self) }
            return SocketAddress(address, host: text(AF_INET6, address.sin6_addr, INET6_ADDRSTRLEN))
        default:
            return nil
        }
    }

    /// An IPv4 address as text, written here: inet_ntop formats each number with sprintf, which
    /// cost more than the rest of accepting the connection.
    static func dottedQuad(_ address: in_addr) -> String {
        let value = UInt32(bigEndian: address.s_addr)
        return String(unsafeUninitializedCapacity: 15) { text in
            var count = 0
            for shift in stride(from: 24, through: 0, by: -8) {
                let octet = Int((value >> UInt32(shift)) & 0xff)
                if octet >= 100 { text[count] = UInt8(ascii: "0") + UInt8(octet / 100); count += 1 }
                if octet >= 10 { text[count] = UInt8(ascii: "0") + UInt8(octet / 10 % 10); count += 1 }
                text[count] = UInt8(ascii: "0") + UInt8(octet % 10)
                count += 1
                if shift > 0 { text[count] = UInt8(ascii: "."); count += 1 }
            }
            return count
        }
    }

    private static func text<Raw>(_ family: CInt, _ raw: Raw, _ length: CInt) -> String {
        var raw = raw
        var text = [CChar](repeating: 0, count: Int(length))
        inet_ntop(family, &raw, &text, socklen_t(length))
        return String(cString: text)
    }
}
