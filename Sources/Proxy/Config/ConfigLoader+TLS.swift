import Foundation
import TOMLKit

extension ConfigLoader {
    static let tlsKeys = [
        "certificate", "private_key", "ca_certificate", "client_tls",
        "server_tls", "server_ca_certificate", "server_certificate", "server_private_key",
    ]

    /// `[tls]`; nil when the section is absent or unusable (its problems are logged). The
    /// certificates and keys are loaded here too, so `--check` and a reload report a missing or
    /// mismatched file instead of the first TLS client finding out.
    static func readTLS(_ value: any TOMLValueConvertible, file: String, source: SourceMap, log: ErrorLog) -> TLSConfig? {
        guard let table = value.table else {
            log.add(file: file, line: source.line(section: "tls"), key: "tls",
                    reason: "expected a table ([tls]), got \(SectionReader.describe(value.type))")
            return nil
        }
        let reader = SectionReader(table: table, file: file, section: "tls", index: nil, source: source, log: log)
        reader.refuseUnknownKeys(known: tlsKeys, place: .otherSection, elsewhere: [
            "sslmode": "[tls] as client_tls or server_tls", "client_tls_sslmode": "[tls] as client_tls",
            "server_tls_sslmode": "[tls] as server_tls", "key": "[tls] as private_key", "cert": "[tls] as certificate",
        ])
        func path(_ key: String) -> String? {
            reader.string(key, nonEmpty: true).map { resolve($0, besideConfig: file) }
        }
        var tls = TLSConfig(
            certificate: path("certificate"), privateKey: path("private_key"), caCertificate: path("ca_certificate"),
            serverCACertificate: path("server_ca_certificate"), serverCertificate: path("server_certificate"),
            serverPrivateKey: path("server_private_key"))
        tls.clientTLS = reader.choice("client_tls", ClientTLSMode.self) ?? (tls.certificate == nil ? .disable : .prefer)
        tls.serverTLS = reader.choice("server_tls", ServerTLSMode.self) ?? .disable

        pair(reader, "certificate", tls.certificate, "private_key", tls.privateKey)
        pair(reader, "server_certificate", tls.serverCertificate, "server_private_key", tls.serverPrivateKey)
        if tls.clientTLS != .disable, tls.certificate == nil, !reader.failed("client_tls"), !reader.failed("certificate") {
            reader.fail("client_tls", "\"\(tls.clientTLS.rawValue)\" needs certificate and private_key in [tls]")
        }
        if tls.clientTLS.requiresCertificate, tls.caCertificate == nil, !reader.failed("client_tls") {
            reader.fail("client_tls", "\"\(tls.clientTLS.rawValue)\" needs ca_certificate in [tls] to check client certificates")
        }
        if tls.serverTLS == .verifyCA || tls.serverTLS == .verifyFull, tls.serverCACertificate == nil, !reader.failed("server_tls") {
            reader.fail("server_tls", "\"\(tls.serverTLS.rawValue)\" needs server_ca_certificate in [tls] to check server certificates")
        }
        guard !reader.failedAny(tlsKeys) else { return tls }
        do {
            _ = try TLSContexts(tls)
        } catch {
            reader.fail(nil, "\(error)")
        }
        return tls
    }

    /// One of a certificate and its key without the other is refused.
    private static func pair(_ reader: SectionReader, _ first: String, _ firstValue: String?, _ second: String, _ secondValue: String?) {
        if firstValue != nil, secondValue == nil, !reader.failed(second) {
            reader.fail(second, "is required with \(first)")
        } else if firstValue == nil, secondValue != nil, !reader.failed(first) {
            reader.fail(first, "is required with \(second)")
        }
    }

    /// `path` as given when absolute, else relative to the directory of the config file.
    static func resolve(_ path: String, besideConfig configPath: String) -> String {
        if path.hasPrefix("/") { return path }
        return URL(fileURLWithPath: configPath).deletingLastPathComponent().appendingPathComponent(path).standardized.path
    }
}
