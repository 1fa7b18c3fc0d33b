import NIOCore

/// The first packet a client sends: untyped, length-prefixed, told apart by its version code.
enum StartupPacket: Equatable {
    case startup(protocolVersion: Int32, parameters: [(String, String)])
    case sslRequest
    case gssEncRequest
    case cancel(processID: Int32, secretKey: Int32)

    /// PostgreSQL refuses startup packets over 10000 bytes; so do we.
    static let maximumLength = 10_000

    enum DecodeError: Error, Equatable {
        case invalidLength(Int32)
        case malformed(String)
        case unsupportedProtocol(Int32)
    }

    /// Decodes one packet, or returns nil (reader index untouched) when more bytes are needed.
    static func decode(from buffer: inout ByteBuffer) throws -> StartupPacket? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else { return nil }
        guard length >= 8, length <= maximumLength else { throw DecodeError.invalidLength(length) }
        guard buffer.readableBytes >= Int(length) else { return nil }
        var body = buffer.getSlice(at: buffer.readerIndex + 4, length: Int(length) - 4)!
        buffer.moveReaderIndex(forwardBy: Int(length))
        let code = body.readInteger(as: Int32.self)!
        switch code {
        case StartupCode.sslRequest:
            guard body.readableBytes == 0 else { throw DecodeError.malformed("SSLRequest has a body") }
            return .sslRequest
        case StartupCode.gssEncRequest:
            guard body.readableBytes == 0 else { throw DecodeError.malformed("GSSENCRequest has a body") }
            return .gssEncRequest
        case StartupCode.cancelRequest:
            guard body.readableBytes == 8,
                let pid = body.readInteger(as: Int32.self),
                let key = body.readInteger(as: Int32.self)
            else { throw DecodeError.malformed("CancelRequest must be 16 bytes") }
            return .cancel(processID: pid, secretKey: key)
        default:
            guard code >> 16 == 3 else { throw DecodeError.unsupportedProtocol(code) }
            var parameters: [(String, String)] = []
            parameters.reserveCapacity(8)
            while true {
                guard let name = body.readNullTerminatedString() else {
                    throw DecodeError.malformed("startup parameters are not terminated")
                }
                if name.isEmpty { break }
                guard let value = body.readNullTerminatedString() else {
                    throw DecodeError.malformed("startup parameter \(name) has no value")
                }
                parameters.append((name, value))
            }
            guard body.readableBytes == 0 else { throw DecodeError.malformed("bytes after the startup parameters") }
            return .startup(protocolVersion: code, parameters: parameters)
        }
    }

    static func == (lhs: StartupPacket, rhs: StartupPacket) -> Bool {
        switch (lhs, rhs) {
        case (.sslRequest, .sslRequest), (.gssEncRequest, .gssEncRequest): return true
        case let (.cancel(a, b), .cancel(c, d)): return a == c && b == d
        case let (.startup(v1, p1), .startup(v2, p2)):
            return v1 == v2 && p1.map { $0.0 } == p2.map { $0.0 } && p1.map { $0.1 } == p2.map { $0.1 }
        default: return false
        }
    }
}
