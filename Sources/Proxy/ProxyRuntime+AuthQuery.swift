import NIOCore

/// auth_query: the secrets of users not in users.toml, read from the server as `auth_user`.
///
/// Anyone who can reach the port can ask for a lookup by naming a user, so lookups are shared
/// (one query for all clients naming the same user), at most `AuthLookups.limit` run at once
/// (the rest queue), and misses are remembered for a while too.
extension ProxyRuntime {
    /// A secret found by auth_query (nil: none) and until when it may be used.
    struct CachedSecret {
        var secret: String?
        var expires: NIODeadline
    }

    /// The lookups running and waiting.
    struct AuthLookups {
        static let limit = 4
        /// Misses are kept this long at most, so a user created on the server can soon log in.
        static let missTTL: Int64 = 10_000
        var cache: [String: CachedSecret] = [:]
        var waiters: [String: [EventLoopPromise<String?>]] = [:]
        var queue: [(key: String, user: String, database: DatabaseConfig)] = []
        var running = 0
    }

    /// The secret of `user` (SCRAM verifier or MD5 hash; nil when the server has none for it),
    /// from the cache while `auth_query_cache_ttl` lasts, else from the database's primary.
    func lookUpSecret(user: String, database: DatabaseConfig, on loop: any EventLoop) -> EventLoopFuture<String?> {
        let key = "\(database.name)\u{0}\(user)"
        let promise = loop.makePromise(of: String?.self)
        let now = NIODeadline.now()
        let start = authLookups.withLock { state -> Bool in
            if let cached = state.cache[key], cached.expires > now {
                promise.succeed(cached.secret)
                return false
            }
            let joined = state.waiters[key] != nil
            state.waiters[key, default: []].append(promise)
            guard !joined else { return false }
            guard state.running < AuthLookups.limit else {
                state.queue.append((key, user, database))
                return false
            }
            state.running += 1
            return true
        }
        if start { runLookup(key: key, user: user, database: database, on: loop) }
        return promise.futureResult
    }

    private func runLookup(key: String, user: String, database: DatabaseConfig, on loop: any EventLoop) {
        let config = self.config
        let general = config.general
        guard let authUser = general.authUser, let lookup = config.users.first(where: { $0.name == authUser }) else {
            finishLookup(key: key, .failure(ServerQuery.Failure("auth_user is not configured")), ttl: 0, on: loop)
            return
        }
        let address = topology(of: database.name)?.primary?.address ?? BackendAddress(host: database.host, port: database.port)
        ServerQuery.run(
            general.authQuery, parameters: [user], at: address,
            credentials: lookup.serverCredentials(database: database.databaseName), tls: tlsContexts.withLock { $0 },
            timeout: .milliseconds(max(general.serverConnectTimeout, 1)), on: loop
        ).whenComplete { [self] result in
            // auth_query returns (name, secret); a query written to return the secret alone works too.
            let found = result.map { rows in rows.first.flatMap { $0.count > 1 ? $0[1] : $0.first ?? nil } }
            let ttl = (try? found.get()) == nil ? min(general.authQueryCacheTTL, AuthLookups.missTTL) : general.authQueryCacheTTL
            finishLookup(key: key, found, ttl: ttl, on: loop)
        }
    }

    /// Answers everyone waiting for `key`, caches the answer, and starts the next queued lookup.
    private func finishLookup(key: String, _ result: Result<String?, any Error>, ttl: Int64, on loop: any EventLoop) {
        let (waiters, next) = authLookups.withLock { state in
            if ttl > 0, case .success(let secret) = result {
                state.cache[key] = CachedSecret(secret: secret, expires: .now() + .milliseconds(ttl))
            }
            let waiters = state.waiters.removeValue(forKey: key) ?? []
            guard !state.queue.isEmpty else {
                state.running -= 1
                return (waiters, nil as (key: String, user: String, database: DatabaseConfig)?)
            }
            return (waiters, state.queue.removeFirst())
        }
        for waiter in waiters { waiter.completeWith(result) }
        if let next { runLookup(key: next.key, user: next.user, database: next.database, on: loop) }
    }
}
