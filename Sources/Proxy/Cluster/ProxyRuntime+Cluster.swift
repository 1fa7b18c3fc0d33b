import NIOCore

/// A pool's place: (database, user) and the host it connects to.
struct PoolID: Hashable, Sendable {
    var key: PoolKey
    var address: BackendAddress
}

extension ProxyRuntime {
    /// Makes the topology of every configured database from `config`, keeping the live state of
    /// hosts that stay.
    func rebuildTopologies(config: ProxyConfig) {
        var made: [String: DatabaseTopology] = [:]
        backends.withLock { known in
            var kept: [BackendStatus.Key: Backend] = [:]
            var byDatabase: [String: [Backend]] = [:]
            var order: [String] = []
            for (id, entry) in config.databases.enumerated() {
                let key = BackendStatus.Key(database: entry.name, address: BackendAddress(host: entry.host, port: entry.port))
                let backend = known[key] ?? Backend(id: id, config: entry)
                backend.update(id: id, config: entry)
                kept[key] = backend
                if byDatabase[entry.name] == nil { order.append(entry.name) }
                byDatabase[entry.name, default: []].append(backend)
            }
            known = kept
            for name in order {
                let sharding = ShardingTables(
                    sharded: config.shardedTables.filter { $0.database == name },
                    omnisharded: config.omnishardedTables.filter { $0.database == name },
                    crossShardWrites: config.general.crossShardWrites)
                made[name] = DatabaseTopology(
                    name: name, backends: byDatabase[name] ?? [], loadBalancing: config.loadBalancing(database: name), sharding: sharding)
            }
        }
        topologies.withLock { $0 = made }
    }

    func topology(of database: String) -> DatabaseTopology? { topologies.withLock { $0[database] } }

    /// Every configured host, in config order.
    var allBackends: [Backend] {
        backends.withLock { Array($0.values) }.sorted { $0.id.load(ordering: .relaxed) < $1.id.load(ordering: .relaxed) }
    }

    /// The users.toml entry of a pool's user, or for a user found with auth_query (not listed),
    /// one with the secret its pools log in with.
    func user(of key: PoolKey, in config: ProxyConfig, pool: Pool?) -> UserConfig? {
        if let listed = config.user(named: key.user, database: key.database) { return listed }
        guard config.general.authUser != nil, !config.users.contains(where: { $0.name == key.user }) else { return nil }
        return UserConfig(name: key.user, password: pool?.settings.credentials.secret?.text)
    }

    /// After a reload: each group gets the new topology and pools for new hosts; pools of hosts
    /// no longer listed are closed once their clients are done.
    func applyTopologies(config: ProxyConfig) {
        rebuildTopologies(config: config)
        for group in groups.withLock({ Array($0.values) }) {
            guard let user = user(of: group.key, in: config, pool: group.layout.pools.first) else { continue }
            let layout = layout(for: group.key, user: user, config: config)
            group.update(layout: layout)
        }
        let wanted = Set(groups.withLock { Array($0.values) }.flatMap { group in
            group.layout.pools.map { PoolID(key: group.key, address: $0.backend.address) }
        })
        let retired = pools.withLock { pools -> [Pool] in
            let gone = pools.filter { !wanted.contains($0.key) }
            for id in gone.keys { pools.removeValue(forKey: id) }
            return Array(gone.values)
        }
        for pool in retired {
            logger.info("host \(pool.backend.address) is no longer a host of database \(pool.key.database): closing its connections as they are released")
            pool.reconnect()
        }
        // Forget retired pools that have nothing left; keep the others (and the new ones).
        let finished = retiredPools.withLock { kept -> [Pool] in
            let done = kept.filter { $0.openConnectionCount == 0 && $0.partitions.allSatisfy { $0.clients == 0 } }
            kept.removeAll { pool in done.contains { $0 === pool } }
            kept.append(contentsOf: retired)
            return done
        }
        for pool in finished { pool.closeAll() }
    }
}
