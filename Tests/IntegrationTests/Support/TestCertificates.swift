import Foundation

/// A throwaway certificate authority and the certificates the TLS tests need, made with the
/// openssl command line once per test run: a server certificate for localhost and 127.0.0.1,
/// client certificates for the users "app" and "intruder", and a second, untrusted CA.
final class TestCertificates: @unchecked Sendable {
    let directory: String

    static let shared: TestCertificates = {
        do {
            return try TestCertificates()
        } catch {
            fatalError("could not make the test certificates: \(error)")
        }
    }()

    private init() throws {
        directory = NSTemporaryDirectory() + "pgproxy-certs-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try makeAuthority("ca", name: "pgproxy test CA")
        try makeAuthority("rogue", name: "someone else's CA")
        try makeCertificate("server", commonName: "localhost", signedBy: "ca", altNames: "DNS:localhost,IP:127.0.0.1")
        try makeCertificate("server2", commonName: "localhost", signedBy: "ca", altNames: "DNS:localhost,IP:127.0.0.1")
        try makeCertificate("app", commonName: "app", signedBy: "ca")
        try makeCertificate("intruder", commonName: "intruder", signedBy: "ca")
        try makeCertificate("rogue-app", commonName: "app", signedBy: "rogue")
    }

    /// Path of `name.crt`.
    func certificate(_ name: String) -> String { "\(directory)/\(name).crt" }
    /// Path of `name.key`.
    func key(_ name: String) -> String { "\(directory)/\(name).key" }

    private func makeAuthority(_ file: String, name: String) throws {
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", key(file), "-out", certificate(file), "-days", "3", "-subj", "/CN=\(name)"])
    }

    private func makeCertificate(_ file: String, commonName: String, signedBy authority: String, altNames: String? = nil) throws {
        let request = "\(directory)/\(file).csr"
        try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", key(file), "-out", request, "-subj", "/CN=\(commonName)"])
        var arguments = ["x509", "-req", "-in", request, "-CA", certificate(authority), "-CAkey", key(authority),
                         "-CAcreateserial", "-out", certificate(file), "-days", "3", "-sha256"]
        if let altNames {
            let extensions = "\(directory)/\(file).ext"
            try "subjectAltName=\(altNames)\n".write(toFile: extensions, atomically: true, encoding: .utf8)
            arguments += ["-extfile", extensions]
        }
        try openssl(arguments)
        // libpq refuses a client key that others can read.
        chmod(key(file), 0o600)
    }

    private func openssl(_ arguments: [String]) throws {
        let result = try runCommand("/usr/bin/openssl", arguments)
        guard result.status == 0 else {
            throw NSError(domain: "openssl", code: Int(result.status), userInfo: [NSLocalizedDescriptionKey: result.stderr])
        }
    }
}
