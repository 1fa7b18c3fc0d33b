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
}
