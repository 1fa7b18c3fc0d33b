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
        pointer = try TLSFailure.unlessMade { pgproxy_tls_server_context(certificate, key, config.caCertificate, verify, $0, $1) }
    }

    deinit { pgproxy_tls_context_free(pointer) }
}

/// pgproxy's TLS client side towards servers on its own event loops (`server_tls`): the same
/// checks as SwiftNIO's context (`TLSContexts.serverSide`) and libpq's sslmode.
final class TLSClientContext: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    /// verify-full: the certificate must name the host pgproxy connects to.
    let checksHost: Bool

    init(_ config: TLSConfig) throws {
        // As libpq: require with a CA file checks the certificate against it (verify-ca).
        let verifies = config.serverTLS == .verifyCA || config.serverTLS == .verifyFull
            || (config.serverTLS == .require && config.serverCACertificate != nil)
        checksHost = config.serverTLS == .verifyFull
        let certificate = config.serverCertificate, key = config.serverPrivateKey
        pointer = try TLSFailure.unlessMade {
            pgproxy_tls_client_context(config.serverCACertificate, certificate, key, verifies ? 1 : 0, $0, $1)
        }
    }

    deinit { pgproxy_tls_context_free(pointer) }
}

/// A TLS failure on pgproxy's own loops, as OpenSSL describes it.
struct TLSFailure: Error, CustomStringConvertible {
    let description: String

    /// The reason for the last failed TLS read or write of `connection` on this thread, with the
    /// certificate check's verdict when that is what failed.
    static func last(of connection: UnsafeMutableRawPointer?) -> TLSFailure {
        var error = [CChar](repeating: 0, count: 512)
        pgproxy_tls_error(connection, &error, error.count)
        return TLSFailure(description: String(cString: error))
    }

    /// What `make` returns, or its reason for returning nothing.
    fileprivate static func unlessMade(
        _ make: (UnsafeMutablePointer<CChar>, Int) -> UnsafeMutableRawPointer?
    ) throws -> UnsafeMutableRawPointer {
        var error = [CChar](repeating: 0, count: 512)
        guard let pointer = error.withUnsafeMutableBufferPointer({ make($0.baseAddress!, $0.count) }) else {
            throw TLSFailure(description: String(cString: error))
        }
        return pointer
    }
}
