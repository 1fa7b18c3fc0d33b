/// The whole validated configuration: `pgproxy.toml` and `users.toml` as one immutable snapshot.
///
/// A value is only ever produced by ``ConfigLoader`` after every check passed, so the pooler can
/// trust it: database names are unique, every user's database exists, sizes are in range.
public struct ProxyConfig: Sendable, Equatable {
    /// The `[general]` section.
    public var general: GeneralConfig
    /// The `[[databases]]` entries, in file order.
    public var databases: [DatabaseConfig]
    /// The `[[users]]` entries, in file order.
    public var users: [UserConfig]
    /// `[admin]`; nil leaves the admin console closed.
    public var admin: AdminConfig?
    /// `[prometheus]`; nil serves no metrics.
    public var prometheus: PrometheusConfig?
    /// `[[plugins]]`, in chain order.
    public var plugins: [PluginConfig]
    /// `[tls]`; nil means plain text on both sides.
    public var tls: TLSConfig?
    /// `[[sharded_tables]]`, in file order.
    public var shardedTables: [ShardedTableConfig] = []
    /// `[[omnisharded_tables]]`, in file order.
    public var omnishardedTables: [OmnishardedTableConfig] = []
    /// The rules of `hba_file`, read with the config (and again at each reload); nil without one.
    var hostRules: HostRules?
    /// Path `pgproxy.toml` was read from, so a reload reads the same file.
    public var configPath: String
    /// Path `users.toml` was read from, so a reload reads the same file.
    public var usersPath: String

    /// A snapshot from parts; the loader is the usual way to get one.
    public init(
        general: GeneralConfig,
        databases: [DatabaseConfig],
        users: [UserConfig],
        admin: AdminConfig? = nil,
        prometheus: PrometheusConfig? = nil,
        plugins: [PluginConfig] = [],
        tls: TLSConfig? = nil,
        configPath: String,
        usersPath: String
    ) {
        self.general = general
        self.databases = databases
        self.users = users
        self.admin = admin
        self.prometheus = prometheus
        self.plugins = plugins
        self.tls = tls
        self.configPath = configPath
        self.usersPath = usersPath
    }

    /// The database clients know as `name` (its first host), if configured.
    public func database(named name: String) -> DatabaseConfig? {
        databases.first { $0.name == name }
    }

    /// Every host of the database `name`, with its backend id (its index in `databases`).
    public func hosts(of name: String) -> [(id: Int, host: DatabaseConfig)] {
        databases.enumerated().filter { $0.element.name == name }.map { ($0.offset, $0.element) }
    }

    /// Shards of database `name`: 1 + the highest `shard` of its hosts.
    public func shardCount(of name: String) -> Int {
        (databases.filter { $0.name == name }.map(\.shard).max() ?? 0) + 1
    }

    /// How reads of `database` pick a host.
    public func loadBalancing(database name: String) -> LoadBalancing {
        database(named: name)?.loadBalancing ?? general.loadBalancing
    }

    /// The entry that lets `name` into `database`: one naming that database wins over one for any
    /// database. Nil when the database is not configured, since "any" means any configured one.
    public func user(named name: String, database: String) -> UserConfig? {
        guard self.database(named: database) != nil else { return nil }
        var forAnyDatabase: UserConfig?
        for entry in users where entry.name == name {
            if entry.database == database { return entry }
            if entry.database == nil, forAnyDatabase == nil { forAnyDatabase = entry }
        }
        return forAnyDatabase
    }

    /// Server connections of the (user, database) pool: the user's, else the database's, else the default.
    public func poolSize(user: String, database: String) -> Int {
        self.user(named: user, database: database)?.poolSize
            ?? self.database(named: database)?.poolSize
            ?? general.defaultPoolSize
    }

    /// Pool mode of the (user, database) pool: the user's, else the database's, else the general one.
    public func poolMode(user: String, database: String) -> PoolMode {
        self.user(named: user, database: database)?.poolMode
            ?? self.database(named: database)?.poolMode
            ?? general.poolMode
    }

    /// Connections the (user, database) pool keeps open: the user's, else the database's, else the general one.
    public func minPoolSize(user: String, database: String) -> Int {
        self.user(named: user, database: database)?.minPoolSize
            ?? self.database(named: database)?.minPoolSize
            ?? general.minPoolSize
    }
}
