import NIOCore

/// A set of message type bytes, as a 128-bit mask (every protocol id is ASCII).
struct MessageSet: Sendable, Equatable {
    private var low: UInt64 = 0
    private var high: UInt64 = 0

    init(_ ids: [UInt8]) {
        for id in ids where id < 128 {
            if id < 64 { low |= 1 << UInt64(id) } else { high |= 1 << UInt64(id - 64) }
        }
    }

    @inline(__always)
    func contains(_ id: UInt8) -> Bool {
        if id < 64 { return low & (1 << UInt64(id)) != 0 }
        if id < 128 { return high & (1 << UInt64(id - 64)) != 0 }
        return false
    }
}

/// Walks a stream of typed protocol messages one read burst at a time, reading only the 5-byte
/// headers. The bytes themselves are forwarded untouched by the caller; the scanner only tells it
/// where messages of interest end. Bodies are handed over only for `capture` types (small control
/// messages such as ReadyForQuery); a body split across bursts is the only case that copies.
struct MessageScanner {
    enum ScanError: Error, Equatable {
        case invalidLength(id: UInt8, length: Int32)
        case tooLong(id: UInt8, length: Int)
    }

    private let notify: MessageSet
    /// Types whose bodies are handed over; changed only between messages.
    var capture: MessageSet
    private let maximumLength: Int

    private var bodyRemaining = 0
    private var currentID: UInt8 = 0
    private var partialHeaderBits: UInt64 = 0
    private var partialHeaderCount = 0
    private var capturedBody: ByteBuffer? = nil

    init(notify: MessageSet, capture: MessageSet, maximumLength: Int = Int(Int32.max)) {
        self.notify = notify
        self.capture = capture
        self.maximumLength = maximumLength
    }

    /// The type byte of a message whose 5-byte header is cut by the end of the last buffer, and
    /// how many of its bytes that buffer held.
    var partialHeader: (id: UInt8, count: Int)? {
        guard partialHeaderCount > 0 else { return nil }
        return (UInt8(truncatingIfNeeded: partialHeaderBits >> (8 * UInt64(partialHeaderCount - 1))), partialHeaderCount)
    }

    /// True when the stream stands exactly between two messages.
    var atMessageBoundary: Bool { bodyRemaining == 0 && partialHeaderCount == 0 }

    /// Scans `buffer`'s readable bytes. `onMessage(id, body, end)` runs for each completed message
    /// whose id is in `notify` or `capture`; `end` is the index in `buffer` just past its last byte.
    @inline(__always)
    mutating func scan(
        _ buffer: ByteBuffer,
        _ onMessage: (_ id: UInt8, _ body: ByteBuffer?, _ end: Int) throws -> Void
    ) throws {
        // Offsets into the readable bytes; `base` turns them into the buffer's indices.
        let base = buffer.readerIndex
        try buffer.withUnsafeReadableBytes { raw in
            var index = 0
            let end = raw.count
            while index < end {
                if bodyRemaining > 0 {
                    let count = min(bodyRemaining, end - index)
                    if capturedBody != nil {
                        capturedBody!.writeImmutableBuffer(buffer.getSlice(at: base + index, length: count)!)
                    }
                    index += count
                    bodyRemaining -= count
                    if bodyRemaining == 0 {
                        if let body = capturedBody {
                            capturedBody = nil
                            try onMessage(currentID, body, base + index)
                        } else if notify.contains(currentID) {
                            try onMessage(currentID, nil, base + index)
                        }
                    }
                    continue
                }
                let id: UInt8
                let length: Int32
                if partialHeaderCount == 0 && end - index >= 5 {
                    id = raw[index]
                    length = Int32(bigEndian: raw.loadUnaligned(fromByteOffset: index + 1, as: Int32.self))
                    index += 5
                } else {
                    while partialHeaderCount < 5 && index < end {
                        partialHeaderBits = partialHeaderBits << 8 | UInt64(raw[index])
                        partialHeaderCount += 1
                        index += 1
                    }
                    guard partialHeaderCount == 5 else { return }
                    id = UInt8(truncatingIfNeeded: partialHeaderBits >> 32)
                    length = Int32(truncatingIfNeeded: partialHeaderBits)
                    partialHeaderBits = 0
                    partialHeaderCount = 0
                }
                guard length >= 4 else { throw ScanError.invalidLength(id: id, length: length) }
                let bodyLength = Int(length) - 4
                guard bodyLength <= maximumLength else { throw ScanError.tooLong(id: id, length: bodyLength) }
                let available = end - index
                if available >= bodyLength {
                    let start = index
                    index += bodyLength
                    if capture.contains(id) {
                        try onMessage(id, buffer.getSlice(at: base + start, length: bodyLength)!, base + index)
                    } else if notify.contains(id) {
                        try onMessage(id, nil, base + index)
                    }
                    continue
                }
                currentID = id
                bodyRemaining = bodyLength - available
                if capture.contains(id) {
                    var body = ByteBuffer()
                    body.reserveCapacity(bodyLength)
                    body.writeImmutableBuffer(buffer.getSlice(at: base + index, length: available)!)
                    capturedBody = body
                }
                index = end
            }
        }
    }
}

/// Collects whole messages during the short phases where pgproxy reads bodies (login, its own
/// queries). Not used on the forwarding path.
struct MessageFramer {
    private(set) var buffer = ByteBuffer()
    let maximumLength: Int

    init(maximumLength: Int = 1 << 24) { self.maximumLength = maximumLength }

    mutating func append(_ bytes: ByteBuffer) {
        // Nothing left over: the new bytes are taken as they are, not copied.
        guard buffer.readableBytes > 0 else {
            buffer = bytes
            return
        }
        // What was consumed goes, instead of growing without end, once it is large (a message
        // left partial by every read).
        if buffer.readerIndex >= 1 << 16 { buffer.discardReadBytes() }
        var bytes = bytes
        buffer.writeBuffer(&bytes)
    }

    /// The next complete message, or nil when more bytes are needed.
    mutating func next() throws -> (id: UInt8, body: ByteBuffer)? {
        guard buffer.readableBytes >= 5,
            let id = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
            let length = buffer.getInteger(at: buffer.readerIndex + 1, as: Int32.self)
        else { return nil }
        guard length >= 4 else { throw MessageScanner.ScanError.invalidLength(id: id, length: length) }
        guard Int(length) - 4 <= maximumLength else { throw MessageScanner.ScanError.tooLong(id: id, length: Int(length) - 4) }
        guard buffer.readableBytes >= Int(length) + 1 else { return nil }
        let body = buffer.getSlice(at: buffer.readerIndex + 5, length: Int(length) - 4)!
        buffer.moveReaderIndex(forwardBy: Int(length) + 1)
        return (id, body)
    }

    /// Whatever is left after the last complete message (handed on to the forwarding path).
    mutating func takeRemainder() -> ByteBuffer? {
        guard buffer.readableBytes > 0 else { return nil }
        let rest = buffer.slice()
        buffer = ByteBuffer()
        return rest
    }
}
