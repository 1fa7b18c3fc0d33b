import CSockets
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A non-blocking connect on an `EpollLoop`, for server connections, over TCP (TCP_NODELAY set)
/// or a Unix-domain socket: the connected socket, or the reason there is none, within `timeout`.
final class RawConnect: EpollHandle {
    private let descriptor: CInt
    private let loop: EpollLoop
    private var completion: ((Result<RawSocket, any Error>) -> Void)?
    private var deadline: Scheduled<Void>?

    /// Resolves `server` (see `BackendAddress.resolve`) and connects. `completion` runs on
    /// `loop`, once.
    static func start(_ server: BackendAddress, on loop: EpollLoop, timeout: TimeAmount,
                      completion: @escaping (Result<RawSocket, any Error>) -> Void) {
        let address: SocketAddress
        do {
            address = try server.resolve()
        } catch {
            return loop.execute { completion(.failure(error)) }
        }
        let family: CInt
        switch address {
        case .v4: family = AF_INET
        case .v6: family = AF_INET6
        case .unixDomainSocket: family = AF_UNIX
        }
        let descriptor = socket(family, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_NONBLOCK.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else {
            let code = errno
            return loop.execute { completion(.failure(IOError(errnoCode: code, reason: "socket"))) }
        }
        if family != AF_UNIX {
            var one: CInt = 1
            setsockopt(descriptor, CInt(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<CInt>.size))
        }
        let result = address.withSockAddr { connect(descriptor, $0, socklen_t($1)) }
        let code = errno
        if result == 0 {
            return loop.execute { completion(.success(RawSocket(descriptor: descriptor, loop: loop))) }
        }
        guard code == EINPROGRESS else {
            close(descriptor)
            return loop.execute { completion(.failure(IOError(errnoCode: code, reason: "connect to \(server)"))) }
        }
        let pending = RawConnect(descriptor: descriptor, loop: loop, completion: completion)
        guard loop.watch(descriptor, pending, events: EPOLLOUT.rawValue) else {
            close(descriptor)
            return loop.execute { completion(.failure(IOError(errnoCode: errno, reason: "epoll_ctl"))) }
        }
        pending.deadline = loop.scheduleTask(in: timeout) { [pending] in
            pending.finish(.failure(ChannelError.connectTimeout(timeout)))
        }
    }

    private init(descriptor: CInt, loop: EpollLoop, completion: @escaping (Result<RawSocket, any Error>) -> Void) {
        self.descriptor = descriptor
        self.loop = loop
        self.completion = completion
    }

    override func ready(_ events: UInt32) {
        var code: CInt = 0
        var length = socklen_t(MemoryLayout<CInt>.size)
        getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &code, &length)
        if code == 0 {
            finish(.success(RawSocket(descriptor: descriptor, loop: loop)))
        } else {
            finish(.failure(IOError(errnoCode: code, reason: "connect")))
        }
    }

    private func finish(_ result: Result<RawSocket, any Error>) {
        guard let completion else { return }
        self.completion = nil
        deadline?.cancel()
        deadline = nil
        loop.unwatch(descriptor, self)
        if case .failure = result { close(descriptor) }
        completion(result)
    }
}
