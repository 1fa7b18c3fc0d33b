import Foundation

/// Modification times and sizes of the two config files, to notice edits (autoreload).
enum ConfigFiles {
    struct Fingerprint: Equatable {
        var config: [Double]
        var users: [Double]
    }

    static func fingerprint(_ config: ProxyConfig) -> Fingerprint {
        Fingerprint(config: stamp(config.configPath), users: stamp(config.usersPath))
    }

    private static func stamp(_ path: String) -> [Double] {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return [] }
        let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        let size = (attributes[.size] as? NSNumber)?.doubleValue ?? 0
        return [modified, size]
    }
}
