/// One host of a PostgreSQL database pgproxy serves: an entry of `[[databases]]` in
/// `pgproxy.toml`. Several entries with one `name` are the hosts of one database (a primary and
/// its replicas).
public struct DatabaseConfig: Sendable, Equatable {
    /// Name clients ask for in their startup message (`name`).
    public var name: String
    /// Host of the PostgreSQL server (`host`).
    public var host: String
    /// Port of the PostgreSQL server (`port`).
    public var port: Int
    /// Name of the database on the server (`database_name`); the same as `name` unless set.
    public var databaseName: String
    /// Pool size for this database's pools, instead of `default_pool_size` (`pool_size`).
    public var poolSize: Int?
    /// Pool mode for this database's pools, instead of the general one (`pool_mode`).
    public var poolMode: PoolMode?
    /// Minimum pool size for this database's pools, instead of the general one (`min_pool_size`).
    public var minPoolSize: Int?
    /// What the host is for (`role`).
    public var role: BackendRole
    /// Share of reads under `load_balancing = "weighted"`; 0 = never for reads (`weight`).
    public var weight: Int
    /// How reads pick a host, instead of the general strategy (`load_balancing`).
    public var loadBalancing: LoadBalancing?
    /// The shard the host serves, 0-based (`shard`); every host of an unsharded database is in 0.
    public var shard: Int

    /// A database entry; `databaseName` defaults to `name`, as in the file.
    public init(
        name: String,
        host: String,
        port: Int = 5432,
        databaseName: String? = nil,
        poolSize: Int? = nil,
        poolMode: PoolMode? = nil,
        minPoolSize: Int? = nil,
        role: BackendRole = .primary,
        weight: Int = 1,
        loadBalancing: LoadBalancing? = nil,
        shard: Int = 0
    ) {
        self.name = name
        self.host = host
        self.port = port
        self.databaseName = databaseName ?? name
        self.poolSize = poolSize
        self.poolMode = poolMode
        self.minPoolSize = minPoolSize
        self.role = role
        self.weight = weight
        self.loadBalancing = loadBalancing
        self.shard = shard
    }

    /// Host and port, for logs and errors.
    public var address: String { "\(host):\(port)" }
}
