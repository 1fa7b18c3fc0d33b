import CSockets
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The data path's writes on a plain (unencrypted) socket: sent with send(2) by pgproxy itself
/// while the channel holds none of the connection's bytes, and through the channel otherwise.
///
/// A write and a flush through SwiftNIO cost far more than the system call (the pipeline, the
/// pending-writes queue, its promises and checks): at `pgbench -S -c 10` pgproxy's CPU per
/// transaction went from about 28 to 22 µs with direct writes (a bare SwiftNIO forwarder
/// measured alongside went from 26 to 22). Reads still go through the channel, and so does
/// everything when the socket takes less than it is given: the rest is handed to the channel
/// (which keeps its back-pressure and its error handling), and every later write follows it
/// there until the channel reports all of it written. So bytes keep their order.
///
/// No method calls into SwiftNIO, so none can re-enter the handler that owns this value; the
/// handler writes what `flush` hands back through its channel and reports the outcome with
/// `channelWrote`.
struct DirectWrites {
    /// The socket while direct writes are on; -1 when every byte goes through the channel.
    private(set) var descriptor: CInt = -1
    /// Bytes written since the last flush, in order.
    private var first: ByteBuffer?
    private var rest: [ByteBuffer] = []
    /// Batches handed to the channel that it has not yet reported written (or failed).
    private var owedByChannel = 0

    /// Writes go through `append` and `flush` (not through the channel).
    @inline(__always)
    var isOn: Bool { descriptor >= 0 }

    /// Turns direct writes on for `descriptor`. `channelOwes`: the channel may still hold bytes
    /// written before; the caller reports them with `channelWrote` like a hand-off.
    mutating func start(descriptor: CInt, channelOwes: Bool) {
        self.descriptor = descriptor
        if channelOwes { owedByChannel += 1 }
    }

    /// Turns direct writes off for good (the connection closes, or the channel reported an
    /// error). Returns what was appended and not flushed: the caller writes it to the channel.
    mutating func stop() -> [ByteBuffer] {
        descriptor = -1
        return takeQueued()
    }

    @inline(__always)
    mutating func append(_ buffer: ByteBuffer) {
        if first == nil { first = buffer } else { rest.append(buffer) }
    }

    /// Sends what was appended. Returns what the socket did not take, for the caller to write to
    /// the channel and report with `channelWrote`; nil when there is nothing for the channel.
    @inline(__always)
    mutating func flush() -> [ByteBuffer]? {
        guard first != nil else { return nil }
        if owedByChannel > 0 {
            // The channel still has earlier bytes: these go after them.
            owedByChannel += 1
            return takeQueued()
        }
        if rest.isEmpty {
            var buffer = first.take()!
            let sent = send(buffer)
            if sent == buffer.readableBytes { return nil }
            buffer.moveReaderIndex(forwardBy: sent)
            owedByChannel += 1
            return [buffer]
        }
        return flushSeveral()
    }

    /// The channel finished a batch handed to it (`flush`'s answer, or the bytes `start` spoke
    /// of). After a failure (the socket is broken; the channel closes it) nothing is sent
    /// directly again.
    mutating func channelWrote(succeeded: Bool) {
        owedByChannel -= 1
        if !succeeded { descriptor = -1 }
    }

    private mutating func takeQueued() -> [ByteBuffer] {
        guard let head = first.take() else { return [] }
        var all = [head]
        all.append(contentsOf: rest)
        rest.removeAll(keepingCapacity: true)
        return all
    }

    static let gatherLimit = 16

    /// Several buffers in one sendmsg(2) (up to `gatherLimit` of them), then what is left.
    private mutating func flushSeveral() -> [ByteBuffer]? {
        var sent = 0
        if rest.count < Self.gatherLimit, let head = first {
            // No copy of `rest` outlives the call: emptying it below then keeps its storage.
            let result = withUnsafeTemporaryAllocation(of: iovec.self, capacity: rest.count + 1) { vectors in
                head.withUnsafeReadableBytes { bytes in
                    vectors[0] = iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count)
                    return Self.gather(rest, from: 0, into: vectors, descriptor: descriptor)
                }
            }
            sent = taken(result)
            if sent == rest.reduce(head.readableBytes, { $0 + $1.readableBytes }) {
                first = nil
                rest.removeAll(keepingCapacity: true)
                return nil
            }
        }
        var left = takeQueued()
        var index = 0
        while index < left.count, sent >= left[index].readableBytes {
            sent -= left[index].readableBytes
            index += 1
        }
        if index == left.count { return nil }
        left[index].moveReaderIndex(forwardBy: sent)
        owedByChannel += 1
        return Array(left[index...])
    }

    /// Puts each buffer's bytes in `vectors` (after the first, already there) and sends them all.
    /// Recursive because a buffer's bytes are only valid inside its closure.
    private static func gather(
        _ buffers: [ByteBuffer], from index: Int, into vectors: UnsafeMutableBufferPointer<iovec>, descriptor: CInt
    ) -> Int {
        guard index < buffers.count else {
            var header = msghdr()
            header.msg_iov = vectors.baseAddress
            header.msg_iovlen = vectors.count
            return retrying { pgproxy_sendmsg(descriptor, &header) }
        }
        return buffers[index].withUnsafeReadableBytes { bytes in
            vectors[index + 1] = iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count)
            return gather(buffers, from: index + 1, into: vectors, descriptor: descriptor)
        }
    }

    private mutating func send(_ buffer: ByteBuffer) -> Int {
        let descriptor = self.descriptor
        return taken(buffer.withUnsafeReadableBytes { bytes in
            Self.retrying { pgproxy_send(descriptor, bytes.baseAddress, bytes.count) }
        })
    }

    /// Bytes the socket took (0 when it takes none now), from a call's result or -errno; turns
    /// direct writes off when the socket failed, leaving the channel to meet the same error.
    private mutating func taken(_ result: Int) -> Int {
        if result >= 0 { return result }
        if result != -Int(EAGAIN) && result != -Int(EWOULDBLOCK) { descriptor = -1 }
        return 0
    }

    /// The call's result, or -errno when it failed (EINTR: called again).
    private static func retrying(_ call: () -> Int) -> Int {
        while true {
            let result = call()
            if result >= 0 { return result }
            let error = errno
            if error != EINTR { return -Int(error) }
        }
    }
}

extension DirectWrites {
    /// Hands what the socket did not take to whatever carries the connection: the `RawSocket`'s
    /// queue on pgproxy's own loops, else the channel.
    static func handOff(_ buffers: [ByteBuffer], raw: RawSocket?, context: ChannelHandlerContext?, done: @escaping (Bool) -> Void) {
        if let raw { raw.queue(buffers, done: done) } else if let context { handOff(buffers, to: context, done: done) }
    }

    /// Writes a batch `flush` or `stop` handed back to the channel, flushes it, and calls `done`
    /// when the channel has written it (true) or failed (false).
    static func handOff(_ buffers: [ByteBuffer], to context: ChannelHandlerContext, done: @escaping (Bool) -> Void) {
        guard let last = buffers.last else { return }
        for buffer in buffers.dropLast() { context.write(NIOAny(buffer), promise: nil) }
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(NIOAny(last), promise: promise)
        promise.futureResult.whenComplete { result in
            if case .success = result { done(true) } else { done(false) }
        }
    }
}
