/// What pgproxy asks of a connecting client's TLS (`client_tls`), as PgBouncer's `client_tls_sslmode`.
public enum ClientTLSMode: String, Sendable, CaseIterable {
    /// Answer every SSLRequest with "no": clients talk in plain text.
    case disable
    /// TLS when the client asks for it, plain text otherwise (the same as `prefer` on this side).
    case allow
    /// TLS when the client asks for it, plain text otherwise.
    case prefer
    /// Only TLS clients; others are refused before any password is exchanged.
    case require
    /// TLS with a client certificate signed by `ca_certificate`.
    case verifyCA = "verify-ca"
    /// As `verify-ca`, and the certificate's common name must be the user name (PostgreSQL's
    /// `clientcert=verify-full`; stricter than PgBouncer, where it is the same as `verify-ca`).
    case verifyFull = "verify-full"

    /// Whether a client without TLS is refused.
    var requiresTLS: Bool { self == .require || self == .verifyCA || self == .verifyFull }
    /// Whether a client must present a certificate signed by the CA.
    var requiresCertificate: Bool { self == .verifyCA || self == .verifyFull }
}

/// How pgproxy talks to servers (`server_tls`), as libpq's `sslmode`.
public enum ServerTLSMode: String, Sendable, CaseIterable {
    /// Plain text, no SSLRequest.
    case disable
    /// TLS when the server offers it, plain text when it does not.
    case prefer
    /// TLS or no connection; the server's certificate is not checked.
    case require
    /// TLS with a server certificate signed by `server_ca_certificate`.
    case verifyCA = "verify-ca"
    /// As `verify-ca`, and the certificate must name the host pgproxy connects to.
    case verifyFull = "verify-full"
}

/// The `[tls]` section of `pgproxy.toml`: certificates and modes for both sides. File paths are
/// absolute here (the loader resolves relative ones against the config file's directory).
public struct TLSConfig: Sendable, Equatable {
    /// pgproxy's certificate chain (PEM) shown to clients (`certificate`).
    public var certificate: String?
    /// Its private key (PEM) (`private_key`).
    public var privateKey: String?
    /// CA certificates (PEM) that sign the certificates clients present (`ca_certificate`).
    public var caCertificate: String?
    public var clientTLS: ClientTLSMode
    public var serverTLS: ServerTLSMode
    /// CA certificates (PEM) that sign the servers' certificates (`server_ca_certificate`).
    public var serverCACertificate: String?
    /// A certificate and key pgproxy presents to servers that ask for one (`server_certificate`, `server_private_key`).
    public var serverCertificate: String?
    public var serverPrivateKey: String?

    public init(
        certificate: String? = nil, privateKey: String? = nil, caCertificate: String? = nil,
        clientTLS: ClientTLSMode = .disable, serverTLS: ServerTLSMode = .disable,
        serverCACertificate: String? = nil, serverCertificate: String? = nil, serverPrivateKey: String? = nil
    ) {
        self.certificate = certificate
        self.privateKey = privateKey
        self.caCertificate = caCertificate
        self.clientTLS = clientTLS
        self.serverTLS = serverTLS
        self.serverCACertificate = serverCACertificate
        self.serverCertificate = serverCertificate
        self.serverPrivateKey = serverPrivateKey
    }
}
