import NIOCore

/// Byte ranges of one server read taken out of the stream to the client (answers to pgproxy's
/// own Parse and Close), and a header held back from the previous read, written first unless
/// the message it starts is taken out too.
struct StreamCuts {
    private(set) var held: ByteBuffer?
    private var ranges: [Range<Int>] = []

    init(held: ByteBuffer?) { self.held = held }

    /// Takes out the 5-byte message (ParseComplete or CloseComplete) that ends at `end`.
    mutating func cut(messageEndingAt end: Int, in buffer: ByteBuffer) {
        let start = end - 5
        if start >= buffer.readerIndex {
            ranges.append(start..<end)
        } else {
            // It began with the held bytes: those go too.
            held = nil
            ranges.append(buffer.readerIndex..<end)
        }
    }

    mutating func cut(_ range: Range<Int>) { ranges.append(range) }

    /// The held header, no longer to be written.
    mutating func takeHeld() -> ByteBuffer? {
        defer { held = nil }
        return held
    }

    /// Emits what is left of `buffer`, in order.
    func write(_ buffer: ByteBuffer, _ emit: (ByteBuffer) -> Void) {
        if let held { emit(held) }
        var from = buffer.readerIndex
        for range in ranges {
            if range.lowerBound > from { emit(buffer.getSlice(at: from, length: range.lowerBound - from)!) }
            from = max(from, range.upperBound)
        }
        if buffer.writerIndex > from { emit(buffer.getSlice(at: from, length: buffer.writerIndex - from)!) }
    }
}
