import NIOCore

extension ByteBuffer {
    /// Writes a typed message: the id byte, a length placeholder, the body, then the real length.
    @inlinable
    mutating func writeMessage(id: UInt8, _ body: (inout ByteBuffer) -> Void) {
        writeInteger(id)
        let lengthIndex = writerIndex
        writeInteger(Int32(0))
        body(&self)
        setInteger(Int32(writerIndex - lengthIndex), at: lengthIndex)
    }

    /// Writes an untyped startup-phase packet (StartupMessage, CancelRequest, SSLRequest).
    @inlinable
    mutating func writeUntypedMessage(_ body: (inout ByteBuffer) -> Void) {
        let lengthIndex = writerIndex
        writeInteger(Int32(0))
        body(&self)
        setInteger(Int32(writerIndex - lengthIndex), at: lengthIndex)
    }

    @inlinable
    mutating func writeCString(_ string: String) {
        writeString(string)
        writeInteger(UInt8(0))
    }

    /// The readable bytes in a buffer of their own, sized to them. What is kept past a read takes
    /// this: a slice would keep the whole read buffer alive (on pgproxy's own loops, the loop's
    /// one buffer, which its next read would then have to allocate again).
    func ownCopy() -> ByteBuffer {
        var copy = ByteBufferAllocator().buffer(capacity: readableBytes)
        copy.writeImmutableBuffer(self)
        return copy
    }
}
