import NIOCore

/// auth_query: the secrets of users not in users.toml, read from the server as `auth_user`.
extension ProxyRuntime {
    /// A secret found by auth_query and until when it may be used.
    struct CachedSecret {
        var secret: String?
        var expires: NIODeadline
    }

    /// The secret of `user` (SCRAM verifier or MD5 hash; nil when the server has none for it),
    /// from the cache while `auth_query_cache_ttl` lasts, else from the database's primary.
    func lookUpSecret(user: String, database: DatabaseConfig, on loop: any EventLoop) -> EventLoopFuture<String?> {
        let config = self.config
        let general = config.general
        let key = "\(database.name)\u{0}\(user)"
        let now = NIODeadline.now()
        if let cached = authSecrets.withLock({ $0[key] }), cached.expires > now {
            return loop.makeSucceededFuture(cached.secret)
        }
        guard let authUser = general.authUser, let lookup = config.users.first(where: { $0.name == authUser }) else {
            return loop.makeFailedFuture(ServerQuery.Failure("auth_user is not configured"))
        }
        let address = topology(of: database.name)?.primary?.address ?? BackendAddress(host: database.host, port: database.port)
        let tls = tlsContexts.withLock { $0 }
        return ServerQuery.run(
            general.authQuery, parameters: [user], at: address,
            credentials: lookup.serverCredentials(database: database.databaseName), tls: tls,
            timeout: .milliseconds(max(general.serverConnectTimeout, 1)), on: loop
        ).map { [self] rows in
            // auth_query returns (name, secret); a query written to return the secret alone works too.
            let secret = rows.first.flatMap { $0.count > 1 ? $0[1] : $0.first ?? nil }
            let ttl = general.authQueryCacheTTL
            if ttl > 0, secret != nil {
                authSecrets.withLock { $0[key] = CachedSecret(secret: secret, expires: .now() + .milliseconds(ttl)) }
            }
            return secret
        }
    }
}
