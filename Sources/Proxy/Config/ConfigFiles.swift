import Foundation

/// Modification times and sizes of the files the configuration reads (both config files, the
/// hba_file, the TLS certificates and keys), to notice edits and renewals (autoreload).
enum ConfigFiles {
    struct Fingerprint: Equatable {
        var config: [Double]
        var users: [Double]
        var others: [[Double]] = []
    }

    static func fingerprint(_ config: ProxyConfig) -> Fingerprint {
        let tls = config.tls
        let others = [
            config.general.hbaFile, tls?.certificate, tls?.privateKey, tls?.caCertificate,
            tls?.serverCACertificate, tls?.serverCertificate, tls?.serverPrivateKey,
        ].compactMap { $0 }.map(stamp)
        return Fingerprint(config: stamp(config.configPath), users: stamp(config.usersPath), others: others)
    }

    private static func stamp(_ path: String) -> [Double] {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return [] }
        let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        let size = (attributes[.size] as? NSNumber)?.doubleValue ?? 0
        return [modified, size]
    }
}
