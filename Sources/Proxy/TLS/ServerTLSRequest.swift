import NIOCore
import NIOSSL

/// The start of a connection to a server with `server_tls` on: an SSLRequest, then the server's
/// one-byte answer decides between TLS, plain text (`prefer` only) and giving up.
enum ServerTLSRequest {
    /// The SSLRequest packet.
    static func packet(allocator: ByteBufferAllocator) -> ByteBuffer {
        var request = allocator.buffer(capacity: 8)
        request.writeUntypedMessage { $0.writeInteger(StartupCode.sslRequest) }
        return request
    }

    /// How the server answered the SSLRequest.
    enum Outcome {
        /// 'S': TLS comes next (and, from `accept`, is first in the pipeline now).
        case encrypted
        /// 'N' with `prefer`: the login goes on in plain text.
        case plain
        case failed(ServerLogin.Failure)
    }

    /// Reads the server's answer in `buffer`.
    static func answer(_ buffer: ByteBuffer, mode: ServerTLSMode) -> Outcome {
        guard let answer = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else {
            return .failed(.tls("the server sent no answer to the TLS request"))
        }
        switch answer {
        case UInt8(ascii: "S"):
            // Bytes after the 'S' came before the handshake, so anyone on the path may have put them there.
            guard buffer.readableBytes == 1 else { return .failed(.tls("the server sent unencrypted data after accepting TLS")) }
            return .encrypted
        case UInt8(ascii: "N") where mode == .prefer:
            return .plain
        case UInt8(ascii: "N"):
            return .failed(.tls("the server does not accept TLS, and server_tls is \"\(mode.rawValue)\""))
        default:
            return .failed(.tls("the server answered the TLS request with '\(Character(Unicode.Scalar(answer)))'"))
        }
    }

    /// Reads the answer in `buffer` and, for 'S', puts TLS first in `pipeline`.
    static func accept(_ buffer: ByteBuffer, tls: TLSContexts, host: String, pipeline: ChannelPipeline.SynchronousOperations) -> Outcome {
        let outcome = answer(buffer, mode: tls.config.serverTLS)
        guard case .encrypted = outcome else { return outcome }
        do {
            guard let handler = try tls.serverHandler(host: host) else { return .failed(.tls("server_tls is disabled")) }
            try pipeline.addHandler(handler, position: .first)
            return .encrypted
        } catch {
            return .failed(.tls("\(error)"))
        }
    }

    /// The `tls-server-end-point` hash of the server's certificate once the handshake is over
    /// (nil before, or without TLS): what SCRAM-SHA-256-PLUS binds the login to.
    static func channelBinding(_ pipeline: ChannelPipeline.SynchronousOperations) -> [UInt8]? {
        guard let handler = try? pipeline.handler(type: NIOSSLClientHandler.self), let certificate = handler.peerCertificate else { return nil }
        return try? TLSContexts.endPointHash(of: certificate)
    }
}
