extension ProxyRuntime {
    /// PAUSE or KILL: the pools of `database` (nil: every database) stop handing out servers,
    /// and pools made for it later start paused. Returns the pools paused.
    @discardableResult
    func pause(database: String?, closingIdle: Bool = true) -> [Pool] {
        pausedDatabases.withLock { paused in
            if let database { paused.insert(database) } else { paused = ["*"] }
        }
        let pools = allPools.filter { database == nil || $0.key.database == database }
        for pool in pools {
            if closingIdle { pool.pause() } else { pool.paused.store(true, ordering: .relaxed) }
        }
        return pools
    }

    /// RESUME: ends PAUSE or KILL of `database` (nil: every database).
    func resume(database: String?) {
        pausedDatabases.withLock { paused in
            guard let database else { return paused.removeAll() }
            if paused.remove("*") != nil {
                // Resuming one database of a global pause leaves the others paused.
                paused.formUnion(config.databases.map(\.name))
            }
            paused.remove(database)
        }
        for pool in allPools where database == nil || pool.key.database == database { pool.resume() }
    }

    /// Whether a pool made now for `database` must start paused.
    func isPaused(database: String) -> Bool {
        pausedDatabases.withLock { $0.contains("*") || $0.contains(database) }
    }
}
