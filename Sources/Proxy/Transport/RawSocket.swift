import CSockets
import CTLS
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What a `RawSocket` reports to the client session or server connection that owns it, on its loop.
protocol RawSocketOwner: AnyObject {
    /// Bytes read. The buffer is the socket's: keep a copy, not a promise that it stays unchanged.
    func socketRead(_ buffer: ByteBuffer)
    /// The end of a burst of reads (flush what they produced).
    func socketReadComplete()
    /// The bytes queued in the socket crossed a watermark.
    func socketWritabilityChanged(_ writable: Bool)
    /// The socket is closed: by the peer or an error (reported at once), or by `close` (reported
    /// from a task, as SwiftNIO reports channelInactive after a close from inside a handler).
    func socketClosed(_ error: (any Error)?)
}

/// A connected, non-blocking TCP socket on an `EpollLoop`. Reads go to the owner as they come;
/// writes are the owner's own (`DirectWrites` sends them straight), and what the socket does not
/// take is queued here (`queue`) and written when epoll says it can be.
///
/// After `startTLS` (a client that sent SSLRequest, or a server that accepted pgproxy's) every
/// byte goes through OpenSSL: reads decrypt, and writes are queued here (`append`,
/// `flushAppended`) and encrypted as they go out.
final class RawSocket: EpollHandle {
    let descriptor: CInt
    unowned(unsafe) let loop: EpollLoop
    private unowned(unsafe) var owner: (any RawSocketOwner)?
    /// Keeps the owner alive while the socket is open (the owner keeps the socket).
    private var ownerReference: AnyObject?
    private(set) var isOpen = true
    private var reading = false
    private var watching = false
    /// The events epoll watches for (changed only when they must).
    private var interest: UInt32 = 0
    /// Bytes the socket did not take, in order, with the owner's callbacks between them.
    private var queued = CircularBuffer<Queued>(initialCapacity: 4)
    private var queuedBytes = 0
    private var closeWhenWritten = false
    private(set) var isWritable = true
    /// The OpenSSL connection once TLS is on (see `TLSServerContext`).
    private var tls: UnsafeMutableRawPointer?
    /// A TLS read needs the socket writable first (a handshake flight it could not send).
    private var tlsReadWantsWrite = false
    /// A TLS write needs bytes from the peer first (pgproxy as the TLS client, waiting for the
    /// server's handshake): reads retry it, and writability is not watched meanwhile.
    private var tlsWriteWantsRead = false
    static let highWatermark = 64 * 1024
    static let lowWatermark = 32 * 1024

    private enum Queued {
        case bytes(ByteBuffer)
        case done((Bool) -> Void)
    }

    init(descriptor: CInt, loop: EpollLoop) {
        self.descriptor = descriptor
        self.loop = loop
    }

    /// Starts reading for `owner`. Returns false (and closes the descriptor) when the loop
    /// cannot watch it.
    func start(owner: any RawSocketOwner) -> Bool {
        self.owner = owner
        ownerReference = owner
        reading = true
        interest = EPOLLIN.rawValue
        guard loop.watch(descriptor, self, events: interest) else {
            isOpen = false
            ownerReference = nil
            Glibc.close(descriptor)
            return false
        }
        watching = true
        return true
    }

    // MARK: reading

    override func ready(_ events: UInt32) {
        guard isOpen else { return }
        if events & EPOLLOUT.rawValue != 0 { writeQueued() }
        guard isOpen else { return }
        if events & EPOLLIN.rawValue != 0 || (tlsReadWantsWrite && events & EPOLLOUT.rawValue != 0) {
            readAvailable()
        } else if events & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 {
            // Reported even while reads are paused: the connection is gone either way.
            closed(by: IOError(errnoCode: socketError(), reason: "connection lost"))
        }
    }

    private func readAvailable() {
        guard let owner else { return }
        // The loop's buffer, shared by its sockets: the bytes are usually sent on before the
        // next read, and when an owner keeps them, clearing makes a new buffer. Taken out of the
        // loop for the burst, so each step is not a retain of the loop and of the buffer.
        var buffer = loop.readBuffer.take() ?? ByteBufferAllocator().buffer(capacity: EpollLoop.readCapacity)
        defer { loop.readBuffer = buffer }
        var delivered = false
        var rounds = 0
        if tlsReadWantsWrite {
            tlsReadWantsWrite = false
            updateInterest()
        }
        while isOpen, reading {
            buffer.clear()
            if let tls {
                let count = buffer.withUnsafeMutableWritableBytes { pgproxy_tls_read(tls, $0.baseAddress, $0.count) }
                guard tlsRead(count, into: &buffer, owner: owner) else { break }
                delivered = true
                rounds += 1
                // OpenSSL reads ahead: when it holds nothing more, this read took what the
                // socket had, and epoll (level-triggered) reports what comes next, so no read
                // is made only to hear EAGAIN. What it holds, no socket event announces: it is
                // read now, or after 16 records (other connections get their turn) from a task.
                if pgproxy_tls_has_pending(tls) == 0 { break }
                if rounds >= 16 {
                    loop.execute { [self] in if isOpen, reading { readAvailable() } }
                    break
                }
                continue
            }
            let count = buffer.withUnsafeMutableWritableBytes { pgproxy_recv(descriptor, $0.baseAddress, $0.count) }
            if count > 0 {
                buffer.moveWriterIndex(forwardBy: count)
                owner.socketRead(buffer)
                delivered = true
                rounds += 1
                guard buffer.writableBytes == 0, rounds < 4 else { break }
                continue
            }
            if count == 0 {
                closed(by: nil)
                return
            }
            let code = errno
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { break }
            closed(by: IOError(errnoCode: code, reason: "read"))
            return
        }
        if delivered, isOpen { owner.socketReadComplete() }
        // A write that waited for a read (TLS) can go on now.
        if tls != nil, isOpen, !queued.isEmpty { writeQueued() }
    }

    /// Hands on what one TLS read gave; false when reading stops here (nothing more to read
    /// now, or the connection ended). Bytes OpenSSL still holds are read on: no
    /// socket event would announce them.
    private func tlsRead(_ count: Int, into buffer: inout ByteBuffer, owner: any RawSocketOwner) -> Bool {
        if count > 0 {
            buffer.moveWriterIndex(forwardBy: count)
            owner.socketRead(buffer)
            return isOpen
        }
        switch count {
        case Int(PGPROXY_TLS_WANT_READ):
            return false
        case Int(PGPROXY_TLS_WANT_WRITE):
            tlsReadWantsWrite = true
            updateInterest()
            return false
        case Int(PGPROXY_TLS_CLOSED):
            closed(by: nil)
            return false
        default:
            closed(by: TLSFailure.last(of: tls))
            return false
        }
    }

    /// Puts OpenSSL between the socket and its owner, from the next byte on, with pgproxy as
    /// the TLS server (the handshake runs inside the first reads). False when it cannot.
    func startTLS(_ context: TLSServerContext) -> Bool {
        startTLS { pgproxy_tls_new(context.pointer, descriptor) }
    }

    /// The same with pgproxy as the TLS client of the server at `host` (the handshake starts
    /// with the first write).
    func startTLS(_ context: TLSClientContext, host: String) -> Bool {
        startTLS { pgproxy_tls_new_client(context.pointer, descriptor, host, context.checksHost ? 1 : 0) }
    }

    private func startTLS(_ make: () -> UnsafeMutableRawPointer?) -> Bool {
        // Bytes still queued were written in clear: they must not go out encrypted.
        guard isOpen, tls == nil, queued.isEmpty, let connection = make() else { return false }
        tls = connection
        return true
    }

    var isTLS: Bool { tls != nil }

    /// The client's certificate (verified, and its common name) and the protocol, once the
    /// handshake is done.
    var tlsPeer: (verified: Bool, commonName: String?, version: String)? {
        guard let tls else { return nil }
        var name = [CChar](repeating: 0, count: 256)
        let verified = pgproxy_tls_peer_certificate(tls, &name, name.count) == 1
        let commonName = name[0] == 0 ? nil : String(cString: name)
        return (verified, commonName, String(cString: pgproxy_tls_version(tls)))
    }

    /// The peer's certificate (DER), once the handshake is done.
    var tlsPeerCertificate: [UInt8]? {
        guard let tls else { return nil }
        let size = Int(pgproxy_tls_peer_certificate_der(tls, nil, 0))
        guard size > 0 else { return nil }
        var bytes = [UInt8](repeating: 0, count: size)
        let written = Int(pgproxy_tls_peer_certificate_der(tls, &bytes, size))
        return written == size ? bytes : nil
    }

    /// Queues `buffer` for `flushAppended` (a TLS connection's writes: they are encrypted on
    /// their way out, so `DirectWrites` cannot send them).
    func append(_ buffer: ByteBuffer) {
        guard isOpen, buffer.readableBytes > 0 else { return }
        queued.append(.bytes(buffer))
        queuedBytes += buffer.readableBytes
    }

    /// Sends what `append` queued, as far as the socket takes it.
    func flushAppended() {
        guard isOpen, !queued.isEmpty else { return }
        if queuedBytes > Self.highWatermark, isWritable {
            isWritable = false
            owner?.socketWritabilityChanged(false)
        }
        writeQueued()
    }

    /// Stops or resumes reading (back-pressure).
    func setReading(_ on: Bool) {
        guard isOpen, on != reading else { return }
        reading = on
        updateInterest()
        if on, let tls, pgproxy_tls_has_pending(tls) != 0 {
            loop.execute { [self] in if isOpen, reading { readAvailable() } }
        }
    }

    private func updateInterest() {
        var events: UInt32 = 0
        if reading { events |= EPOLLIN.rawValue }
        if (!queued.isEmpty && !tlsWriteWantsRead) || tlsReadWantsWrite { events |= EPOLLOUT.rawValue }
        guard events != interest else { return }
        interest = events
        loop.change(descriptor, self, events: events)
    }

    // MARK: writing what the socket did not take

    /// Writes `buffers` after whatever is queued, then calls `done` (false: the socket failed or
    /// closed first).
    func queue(_ buffers: [ByteBuffer], done: @escaping (Bool) -> Void) {
        guard isOpen else { return done(false) }
        let wasEmpty = queued.isEmpty
        for buffer in buffers where buffer.readableBytes > 0 {
            queued.append(.bytes(buffer))
            queuedBytes += buffer.readableBytes
        }
        queued.append(.done(done))
        if queuedBytes > Self.highWatermark, isWritable {
            isWritable = false
            owner?.socketWritabilityChanged(false)
        }
        if wasEmpty { writeQueued() }
    }

    private func writeQueued() {
        tlsWriteWantsRead = false
        while isOpen, let first = queued.first {
            switch first {
            case .done(let done):
                queued.removeFirst()
                done(true)
            case .bytes(var buffer):
                guard let sent = send(buffer) else {
                    // The socket takes nothing now: epoll says when it will (or, for a TLS
                    // write waiting for the peer's handshake, the next read retries).
                    if isOpen { updateInterest() }
                    return
                }
                queuedBytes -= sent
                if sent < buffer.readableBytes {
                    buffer.moveReaderIndex(forwardBy: sent)
                    queued[queued.startIndex] = .bytes(buffer)
                    continue
                }
                queued.removeFirst()
            }
        }
        guard isOpen else { return }
        if !isWritable, queuedBytes < Self.lowWatermark {
            isWritable = true
            owner?.socketWritabilityChanged(true)
        }
        if queued.isEmpty, closeWhenWritten { return close() }
        updateInterest()
    }

    /// Sends what the socket takes of `buffer` (through OpenSSL once TLS is on); nil when it
    /// takes nothing now (epoll says when it will) or the connection ended.
    private func send(_ buffer: ByteBuffer) -> Int? {
        if let tls {
            let sent = buffer.withUnsafeReadableBytes { pgproxy_tls_write(tls, $0.baseAddress, $0.count) }
            if sent > 0 { return sent }
            if sent == PGPROXY_TLS_WANT_READ {
                tlsWriteWantsRead = true
            } else if sent != PGPROXY_TLS_WANT_WRITE {
                closed(by: sent == PGPROXY_TLS_CLOSED ? nil : TLSFailure.last(of: tls))
            }
            return nil
        }
        while true {
            let sent = buffer.withUnsafeReadableBytes { pgproxy_send(descriptor, $0.baseAddress, $0.count) }
            if sent >= 0 { return sent }
            let code = errno
            if code == EINTR { continue }
            if code != EAGAIN && code != EWOULDBLOCK { closed(by: IOError(errnoCode: code, reason: "send")) }
            return nil
        }
    }

    // MARK: closing

    /// Sends `last` (what is queued goes first) and closes once it is written, or at once when
    /// it cannot be: a server connection's Terminate.
    func close(after last: [ByteBuffer]) {
        guard isOpen else { return }
        closeWhenWritten = true
        queue(last) { _ in }
        if isOpen, queued.isEmpty { close() }
    }

    /// Closes the socket; the owner hears of it from a task.
    func close() {
        guard isOpen else { return }
        let owner = shutDown()
        if let owner { loop.execute { owner.socketClosed(nil) } }
    }

    /// The peer closed or the socket failed: the owner hears of it now.
    private func closed(by error: (any Error)?) {
        let owner = shutDown()
        owner?.socketClosed(error)
    }

    private func shutDown() -> (any RawSocketOwner)? {
        isOpen = false
        if watching {
            watching = false
            loop.unwatch(descriptor, self)
        }
        if let tls {
            self.tls = nil
            pgproxy_tls_free(tls)
        }
        Glibc.close(descriptor)
        let owner = self.owner
        let pending = queued
        queued.removeAll()
        queuedBytes = 0
        for case .done(let done) in pending { done(false) }
        self.owner = nil
        // Released after the owner has heard: `owner` above holds it till then.
        let reference = ownerReference
        ownerReference = nil
        _ = reference
        return owner
    }

    /// This end's address (for SHOW CLIENTS and SHOW SERVERS).
    var localAddress: SocketAddress? {
        guard isOpen else { return nil }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return named == 0 ? EpollListener.address(storage) : nil
    }

    private func socketError() -> CInt {
        var code: CInt = 0
        var length = socklen_t(MemoryLayout<CInt>.size)
        getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &code, &length)
        return code == 0 ? ECONNRESET : code
    }
}
