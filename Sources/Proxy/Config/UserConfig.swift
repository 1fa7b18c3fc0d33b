/// One user allowed to log in through pgproxy: an entry of `[[users]]` in `users.toml`.
public struct UserConfig: Sendable, Equatable {
    /// User name clients log in with (`name`).
    public var name: String
    /// Cleartext password or a stored `SCRAM-SHA-256$...` secret (`password`); nil only with `auth_type = "trust"`.
    public var password: String?
    /// The one database this entry is for (`database`); nil = any configured database.
    public var database: String?
    /// Pool size for this user's pools, before the database's and the default (`pool_size`).
    public var poolSize: Int?
    /// Pool mode for this user's pools, before the database's and the general one (`pool_mode`).
    public var poolMode: PoolMode?
    /// Minimum pool size for this user's pools (`min_pool_size`).
    public var minPoolSize: Int?
    /// Client connections this user may hold at once (`max_client_connections`); nil = only the global limit.
    public var maxClientConnections: Int?
    /// User pgproxy logs in to PostgreSQL as (`server_user`); nil = the same name.
    public var serverUser: String?
    /// Password pgproxy gives PostgreSQL (`server_password`); nil = the client's password.
    public var serverPassword: String?

    /// A user entry; everything but the name is optional, as in the file.
    public init(
        name: String,
        password: String? = nil,
        database: String? = nil,
        poolSize: Int? = nil,
        poolMode: PoolMode? = nil,
        minPoolSize: Int? = nil,
        maxClientConnections: Int? = nil,
        serverUser: String? = nil,
        serverPassword: String? = nil
    ) {
        self.name = name
        self.password = password
        self.database = database
        self.poolSize = poolSize
        self.poolMode = poolMode
        self.minPoolSize = minPoolSize
        self.maxClientConnections = maxClientConnections
        self.serverUser = serverUser
        self.serverPassword = serverPassword
    }
}

extension UserConfig {
    /// How pgproxy logs in to a server as this user: `server_user`/`server_password` when set.
    func serverCredentials(database: String) -> ServerCredentials {
        let secret = (serverPassword ?? password).map(StoredSecret.init(parsing:))
        return ServerCredentials(user: serverUser ?? name, database: database, secret: secret)
    }
}
