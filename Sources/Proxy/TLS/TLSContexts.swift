import Crypto
import NIOCore
import NIOSSL
import X509

/// The TLS contexts of one configuration: one for clients (pgproxy as the TLS server), one for
/// servers (pgproxy as the TLS client). Built at start and at each reload, so a renewed
/// certificate is used by the next connection while connected clients keep theirs.
final class TLSContexts: Sendable {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let config: TLSConfig
    /// For client connections; nil when `client_tls = "disable"`.
    let clientSide: NIOSSLContext?
    /// The same for client connections on pgproxy's own loops (OpenSSL).
    let ownLoopClientSide: TLSServerContext?
    /// For server connections; nil when `server_tls = "disable"`.
    let serverSide: NIOSSLContext?
    /// The same for server connections on pgproxy's own loops (OpenSSL).
    let ownLoopServerSide: TLSClientContext?
    /// The `tls-server-end-point` channel binding of pgproxy's certificate (RFC 5929): the hash of
    /// the certificate a client sees, which SCRAM-SHA-256-PLUS folds into the proof.
    let channelBinding: [UInt8]?

    init(_ config: TLSConfig) throws {
        self.config = config
        if config.clientTLS != .disable, let certificatePath = config.certificate, let keyPath = config.privateKey {
            let chain = try Self.load("certificate", certificatePath) { try NIOSSLCertificate.fromPEMFile($0) }
            guard let leaf = chain.first else { throw Failure(description: "certificate: \(certificatePath) holds no certificate") }
            let key = try Self.load("private_key", keyPath) { try NIOSSLPrivateKey(file: $0, format: .pem) }
            var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
            tls.minimumTLSVersion = .tlsv12
            if let ca = config.caCertificate {
                let roots = try Self.load("ca_certificate", ca) { try NIOSSLCertificate.fromPEMFile($0) }
                tls.trustRoots = .certificates(roots)
                // A certificate is asked of every client; only verify-ca and verify-full insist on one.
                tls.certificateVerification = config.clientTLS.requiresCertificate ? .noHostnameVerification : .optionalVerification
            }
            clientSide = try Self.context(tls, "certificate/private_key")
            ownLoopClientSide = try TLSServerContext(config)
            channelBinding = try Self.endPointHash(of: leaf)
        } else {
            clientSide = nil
            ownLoopClientSide = nil
            channelBinding = nil
        }
        if config.serverTLS != .disable {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.minimumTLSVersion = .tlsv12
            switch config.serverTLS {
            case .disable, .prefer: tls.certificateVerification = .none
            // As libpq: require with a CA file checks the certificate against it (verify-ca).
            case .require: tls.certificateVerification = config.serverCACertificate == nil ? .none : .noHostnameVerification
            case .verifyCA: tls.certificateVerification = .noHostnameVerification
            case .verifyFull: tls.certificateVerification = .fullVerification
            }
            if let ca = config.serverCACertificate {
                let roots = try Self.load("server_ca_certificate", ca) { try NIOSSLCertificate.fromPEMFile($0) }
                tls.trustRoots = .certificates(roots)
            }
            if let certificatePath = config.serverCertificate, let keyPath = config.serverPrivateKey {
                let chain = try Self.load("server_certificate", certificatePath) { try NIOSSLCertificate.fromPEMFile($0) }
                tls.certificateChain = chain.map { .certificate($0) }
                tls.privateKey = .privateKey(try Self.load("server_private_key", keyPath) { try NIOSSLPrivateKey(file: $0, format: .pem) })
            }
            serverSide = try Self.context(tls, "server_certificate/server_private_key")
            ownLoopServerSide = try TLSClientContext(config)
        } else {
            serverSide = nil
            ownLoopServerSide = nil
        }
    }

    /// A handler for a client that asked for TLS.
    func clientHandler() -> NIOSSLServerHandler? {
        clientSide.map { NIOSSLServerHandler(context: $0) }
    }

    /// A handler for a server connection to `host` (named in SNI and, with verify-full, checked).
    func serverHandler(host: String) throws -> NIOSSLClientHandler? {
        guard let serverSide else { return nil }
        let isAddress = (try? SocketAddress(ipAddress: host, port: 0)) != nil
        return try NIOSSLClientHandler(context: serverSide, serverHostname: isAddress ? nil : host)
    }

    private static func load<T>(_ key: String, _ path: String, _ read: (String) throws -> T) throws -> T {
        do {
            return try read(path)
        } catch {
            throw Failure(description: "\(key): cannot read \(path): \(error)")
        }
    }

    private static func context(_ tls: TLSConfiguration, _ keys: String) throws -> NIOSSLContext {
        do {
            return try NIOSSLContext(configuration: tls)
        } catch {
            throw Failure(description: "\(keys): \(error) (does the key belong to the certificate?)")
        }
    }

    /// RFC 5929: the certificate's own signature hash, with MD5 and SHA-1 raised to SHA-256.
    static func endPointHash(of certificate: NIOSSLCertificate) throws -> [UInt8] {
        try endPointHash(der: certificate.toDERBytes())
    }

    /// The same for a certificate in DER.
    static func endPointHash(der: [UInt8]) throws -> [UInt8] {
        let parsed = try Certificate(derEncoded: der)
        switch parsed.signatureAlgorithm {
        case .sha384WithRSAEncryption, .ecdsaWithSHA384: return Array(SHA384.hash(data: der))
        case .sha512WithRSAEncryption, .ecdsaWithSHA512: return Array(SHA512.hash(data: der))
        default: return Array(SHA256.hash(data: der))
        }
    }

    /// "TLSv1.3", as PgBouncer and PostgreSQL's pg_stat_ssl show it.
    static func name(of version: TLSVersion) -> String {
        switch version {
        case .tlsv1: return "TLSv1"
        case .tlsv11: return "TLSv1.1"
        case .tlsv12: return "TLSv1.2"
        case .tlsv13: return "TLSv1.3"
        }
    }

    /// The first common name of the certificate's subject, as PostgreSQL's clientcert=verify-full
    /// takes it to compare with the user.
    static func commonName(of certificate: NIOSSLCertificate) -> String? {
        guard let der = try? certificate.toDERBytes(), let parsed = try? Certificate(derEncoded: der) else { return nil }
        for rdn in parsed.subject {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                return String(attribute.value)
            }
        }
        return nil
    }
}
