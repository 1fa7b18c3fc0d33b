import CTLS

/// pgproxy's TLS server side on its own event loops: an OpenSSL context made from the same
/// `[tls]` files as SwiftNIO's (`TLSContexts.clientSide`), shared by the loops' connections.
final class TLSServerContext: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer

    /// `config`'s certificate, key and client-certificate checks (`client_tls`, `ca_certificate`).
    init(_ config: TLSConfig) throws {
        guard let certificate = config.certificate, let key = config.privateKey else {
            throw TLSFailure(description: "[tls] has no certificate and private_key")
        }
        // 0: no client certificate asked; 1: asked, checked if given; 2: required.
        let verify: CInt = config.caCertificate == nil ? 0 : config.clientTLS.requiresCertificate ? 2 : 1
        var error = [CChar](repeating: 0, count: 512)
        guard let pointer = pgproxy_tls_server_context(certificate, key, config.caCertificate, verify, &error, error.count) else {
            throw TLSFailure(description: String(cString: error))
        }
        self.pointer = pointer
    }

    deinit { pgproxy_tls_context_free(pointer) }
}

/// A TLS failure on pgproxy's own loops, as OpenSSL describes it.
struct TLSFailure: Error, CustomStringConvertible {
    let description: String

    /// The reason for the last failed TLS read or write on this thread.
    static func last() -> TLSFailure {
        var error = [CChar](repeating: 0, count: 256)
        pgproxy_tls_error(&error, error.count)
        return TLSFailure(description: String(cString: error))
    }
}
