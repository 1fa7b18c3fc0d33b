import Foundation

/// What a reload did, for the log and the RELOAD caller.
public enum ReloadOutcome: Sendable {
    /// The new files are in force. `changes` says what changed; `needRestart` lists changed
    /// settings that only a restart applies.
    case applied(changes: [String], needRestart: [String])
    /// The files have errors; the old configuration keeps running.
    case refused(ConfigErrors)
}

extension ProxyRuntime {
    /// Re-reads both files and, if they are valid, applies them without dropping clients.
    func reload() -> ReloadOutcome {
        let old = config
        let new: ProxyConfig
        do {
            new = try ConfigLoader.load(configPath: old.configPath, usersPath: old.usersPath)
        } catch {
            let errors = error as? ConfigErrors
                ?? ConfigErrors(errors: [ConfigError(file: old.configPath, line: nil, key: "", reason: "\(error)")])
            reloads.withLock { $0.record(success: false) }
            logger.error("reload refused, the running configuration is unchanged:\n\(errors)")
            return .refused(errors)
        }
        let tls: TLSContexts?
        do {
            // Re-read even when the paths are the same: a renewed certificate replaces the file.
            tls = try new.tls.map(TLSContexts.init)
        } catch {
            let errors = ConfigErrors(errors: [ConfigError(file: new.configPath, line: nil, key: "tls", reason: "\(error)")])
            reloads.withLock { $0.record(success: false) }
            logger.error("reload refused, the running configuration is unchanged:\n\(errors)")
            return .refused(errors)
        }
        let needRestart = Self.settingsNeedingRestart(old: old, new: new)
        tlsContexts.withLock { $0 = tls }
        snapshot.withLock { $0 = ConfigSnapshot(new) }
        plainVerifiers.withLock { $0.removeAll() }
        authLookups.withLock { $0.cache.removeAll() }
        applyTopologies(config: new)
        for pool in allPools {
            guard let database = new.hosts(of: pool.key.database).first(where: { $0.host.host == pool.backend.address.host && $0.host.port == pool.backend.address.port })?.host,
                  let user = user(of: pool.key, in: new, pool: pool) else { continue }
            pool.update(settings: poolSettings(user: user, database: database, config: new))
        }
        let changes = Self.describeChanges(old: old, new: new)
        reloads.withLock { $0.record(success: true) }
        if changes.isEmpty {
            logger.info("reloaded \(new.configPath) and \(new.usersPath): no changes")
        } else {
            logger.info("reloaded \(new.configPath) and \(new.usersPath): \(changes.joined(separator: "; "))")
        }
        for setting in needRestart {
            logger.warning("\(setting) changed in the file but only takes effect after a restart")
        }
        return .applied(changes: changes, needRestart: needRestart)
    }

    /// Settings read once at start.
    static func settingsNeedingRestart(old: ProxyConfig, new: ProxyConfig) -> [String] {
        let before = Dictionary(uniqueKeysWithValues: old.general.settings.map { ($0.key, $0.value) })
        var names = new.general.settings.filter { !$0.changeable && before[$0.key] != $0.value }.map(\.key)
        if old.prometheus != new.prometheus { names.append("[prometheus]") }
        if old.plugins != new.plugins { names.append("[[plugins]]") }
        return names
    }

    /// One phrase per changed setting, database or user, in a stable order.
    static func describeChanges(old: ProxyConfig, new: ProxyConfig) -> [String] {
        var changes: [String] = []
        let before = Dictionary(uniqueKeysWithValues: old.general.settings.map { ($0.key, $0.value) })
        for setting in new.general.settings where before[setting.key] != setting.value {
            changes.append("\(setting.key): \(before[setting.key].flatMap { $0 } ?? "") -> \(setting.value ?? "")")
        }
        func diff<T: Equatable>(_ kind: String, _ old: [T], _ new: [T], key: (T) -> String) {
            let oldByKey = Dictionary(old.map { (key($0), $0) }, uniquingKeysWith: { first, _ in first })
            let newByKey = Dictionary(new.map { (key($0), $0) }, uniquingKeysWith: { first, _ in first })
            for name in oldByKey.keys.sorted() where newByKey[name] == nil { changes.append("\(kind) \(name) removed") }
            for name in newByKey.keys.sorted() {
                guard let previous = oldByKey[name] else { changes.append("\(kind) \(name) added"); continue }
                if previous != newByKey[name] { changes.append("\(kind) \(name) changed") }
            }
        }
        func hostsByName(_ config: ProxyConfig) -> [[DatabaseConfig]] {
            var order: [String] = []
            var hosts: [String: [DatabaseConfig]] = [:]
            for entry in config.databases {
                if hosts[entry.name] == nil { order.append(entry.name) }
                hosts[entry.name, default: []].append(entry)
            }
            return order.map { hosts[$0] ?? [] }
        }
        diff("database", hostsByName(old), hostsByName(new)) { $0.first?.name ?? "" }
        diff("user", old.users, new.users) { $0.name + ($0.database.map { "@" + $0 } ?? "") }
        if old.admin != new.admin { changes.append("[admin] changed") }
        return changes
    }
}
