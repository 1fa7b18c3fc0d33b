import Logging
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Maps the BackendKeyData pgproxy gave each client to that client, so a CancelRequest arriving
/// on a new connection reaches the server running that client's statement, and no other.
final class CancelRegistry: Sendable {
    /// Strong on purpose: a weak reference would give every session a side table and slow down
    /// each retain on the data path. Sessions unregister when they leave.
    private struct Entry {
        var secretKey: Int32
        var session: ClientSession
        var loop: any EventLoop
    }

    private let entries = Mutex<[Int32: Entry]>([:])
    /// Random numbers for process IDs and secrets, drawn from the kernel a batch at a time: one
    /// read of /dev/urandom per 32 logins instead of two getrandom(2) calls per login.
    private let randomness = Mutex(RandomBatch())

    /// Gives `session` a process ID unique among live clients and a random secret.
    func register(_ session: ClientSession, loop: any EventLoop) -> (Int32, Int32) {
        let (first, second) = randomness.withLock { ($0.next(), $0.next()) }
        let secret = Int32(truncatingIfNeeded: first)
        return entries.withLock { entries in
            // A positive process ID, as PostgreSQL's are; a taken one (rare) is drawn again.
            var pid = Int32(truncatingIfNeeded: second & 0x7FFF_FFFF)
            while pid == 0 || entries[pid] != nil {
                pid = Int32(truncatingIfNeeded: randomness.withLock { $0.next() } & 0x7FFF_FFFF)
            }
            entries[pid] = Entry(secretKey: secret, session: session, loop: loop)
            return (pid, secret)
        }
    }

    func unregister(processID: Int32) {
        _ = entries.withLock { $0.removeValue(forKey: processID) }
    }

    func cancel(processID: Int32, secretKey: Int32) {
        let target: (ClientSession, any EventLoop)? = entries.withLock { entries in
            guard let entry = entries[processID], entry.secretKey == secretKey else { return nil }
            return (entry.session, entry.loop)
        }
        guard let (session, loop) = target else { return }
        loop.execute { session.forwardCancel() }
    }

    /// The session with this process ID (KILL_CLIENT).
    func session(processID: Int32) -> (ClientSession, any EventLoop)? {
        entries.withLock { entries in entries[processID].map { ($0.session, $0.loop) } }
    }

    /// Every live session with its loop (used to drain clients at shutdown).
    func allSessions() -> [(ClientSession, any EventLoop)] {
        entries.withLock { $0.values.map { ($0.session, $0.loop) } }
    }

    var count: Int { entries.withLock { $0.count } }
}

/// Numbers from the system's secure random source, fetched 64 at a time.
struct RandomBatch {
    private var numbers = [UInt64](repeating: 0, count: 64)
    private var used = 64

    mutating func next() -> UInt64 {
        if used == numbers.count {
            numbers.withUnsafeMutableBytes { SystemRandomBytes.fill($0) }
            used = 0
        }
        defer { used += 1 }
        return numbers[used]
    }
}

enum SystemRandomBytes {
    /// The kernel's secure source, opened once (the same one getrandom(2) reads).
    private static let urandom: CInt = open("/dev/urandom", O_RDONLY | O_CLOEXEC)

    /// Fills `bytes` from /dev/urandom in one read; from the standard generator (a system call
    /// per word) for whatever that does not give.
    static func fill(_ bytes: UnsafeMutableRawBufferPointer) {
        var filled = 0
        while urandom >= 0, filled < bytes.count {
            let got = read(urandom, bytes.baseAddress! + filled, bytes.count - filled)
            if got > 0 {
                filled += got
            } else if got < 0, errno == EINTR {
                continue
            } else {
                break
            }
        }
        var generator = SystemRandomNumberGenerator()
        while filled < bytes.count {
            bytes[filled] = UInt8.random(in: 0...255, using: &generator)
            filled += 1
        }
    }
}

/// Sends one CancelRequest to a server on a connection of its own, as PostgreSQL expects; with
/// `server_tls`, inside TLS (as libpq 17 does), so the secret key never crosses the wire in clear.
enum CancelSender {
    static func send(processID: Int32, secretKey: Int32, to address: BackendAddress, tls: TLSContexts?, on loop: any EventLoop, logger: Logger) {
        let tls = address.tls(tls)?.serverSide == nil ? nil : tls
        ClientBootstrap.on(loop)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let tls else { return }
                    try channel.pipeline.syncOperations.addHandler(TLSCancel(tls: tls, host: address.host, logger: logger) {
                        request(processID: processID, secretKey: secretKey, allocator: channel.allocator)
                    })
                }
            }
            .connect(to: address)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    let first = tls == nil
                        ? request(processID: processID, secretKey: secretKey, allocator: channel.allocator)
                        : ServerTLSRequest.packet(allocator: channel.allocator)
                    channel.writeAndFlush(first).whenComplete { _ in if tls == nil { channel.close(promise: nil) } }
                case .failure(let error):
                    logger.warning("could not send a cancel request to \(address): \(error)")
                }
            }
    }

    private static func request(processID: Int32, secretKey: Int32, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 16)
        buffer.writeCancelRequest(processID: processID, secretKey: secretKey)
        return buffer
    }

    /// Reads the answer to the SSLRequest, then sends the cancel (encrypted, or in clear with `prefer`).
    private final class TLSCancel: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        private let tls: TLSContexts
        private let host: String
        private let logger: Logger
        private let makeRequest: () -> ByteBuffer
        private var answered = false

        init(tls: TLSContexts, host: String, logger: Logger, makeRequest: @escaping () -> ByteBuffer) {
            self.tls = tls
            self.host = host
            self.logger = logger
            self.makeRequest = makeRequest
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard !answered else { return }
            answered = true
            if case .failed(let failure) = ServerTLSRequest.accept(unwrapInboundIn(data), tls: tls, host: host, pipeline: context.pipeline.syncOperations) {
                logger.warning("could not send a cancel request to \(host): \(failure)")
                context.close(promise: nil)
                return
            }
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(makeRequest())).whenComplete { _ in channel.close(promise: nil) }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            logger.warning("could not send a cancel request to \(host): \(error)")
            context.close(promise: nil)
        }
    }
}
