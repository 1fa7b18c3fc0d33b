import NIOCore

/// The pieces written to the server for one buffer: runs of the client's bytes between the
/// messages pgproxy replaces or adds. The usual buffer is written whole, as one piece.
struct ServerOutput {
    let buffer: ByteBuffer
    unowned(unsafe) let server: ServerConnection
    /// Index of the first client byte not written yet.
    private var written: Int

    init(buffer: ByteBuffer, server: ServerConnection) {
        self.buffer = buffer
        self.server = server
        self.written = buffer.readerIndex
    }

    private mutating func writeClientBytes(upTo index: Int) {
        guard index > written else { return }
        server.write(buffer.getSlice(at: written, length: index - written)!)
        written = index
    }

    /// `message` goes before the client's byte at `index`.
    mutating func insert(_ message: ByteBuffer, before index: Int) {
        writeClientBytes(upTo: index)
        server.write(message)
    }

    /// The client's bytes in `range` are replaced by `message`.
    mutating func replace(_ range: Range<Int>, with message: ByteBuffer) {
        writeClientBytes(upTo: range.lowerBound)
        server.write(message)
        written = range.upperBound
    }

    /// Bytes from `index` on wait in `carry` for the rest of their message.
    mutating func hold(from index: Int, into carry: inout ByteBuffer?) {
        writeClientBytes(upTo: index)
        carry = buffer.getSlice(at: index, length: buffer.writerIndex - index)!.ownCopy()
        written = buffer.writerIndex
    }

    mutating func finish() {
        if written == buffer.readerIndex, buffer.readableBytes > 0 {
            server.write(buffer)
            written = buffer.writerIndex
            return
        }
        writeClientBytes(upTo: buffer.writerIndex)
    }
}
