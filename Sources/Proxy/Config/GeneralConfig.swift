import Foundation

/// Settings of the proxy itself: the `[general]` section of `pgproxy.toml`.
///
/// Every property starts at the default the config file documents, so a missing key and a key set
/// to its default give the same snapshot. Durations are milliseconds.
public struct GeneralConfig: Sendable, Equatable {
    /// Address clients connect to (`host`).
    public var host: String = "0.0.0.0"
    /// Port clients connect to (`port`); 0 lets the kernel pick a free one (tests).
    public var port: Int = 6432
    /// Directory of a Unix-domain socket clients can connect to as well, `.s.PGSQL.<port>` as
    /// PostgreSQL names it (`unix_socket_dir`); nil: TCP only.
    public var unixSocketDir: String?
    /// Permissions of that socket file (`unix_socket_mode`, octal text such as "0777").
    public var unixSocketMode: Int = 0o777
    /// Event-loop threads (`workers`); defaults to the number of cores, kept within 1...256.
    public var workers: Int = GeneralConfig.coreCount()
    /// The event loops connections run on (`io_engine`): see `IOEngine`.
    public var ioEngine: IOEngine = .auto
    /// Pool mode of every pool that neither its database nor its user overrides (`pool_mode`).
    public var poolMode: PoolMode = .transaction
    /// Server connections per (user, database) pool unless overridden (`default_pool_size`).
    public var defaultPoolSize: Int = 10
    /// Server connections each pool keeps open even when idle (`min_pool_size`).
    public var minPoolSize: Int = 0
    /// Client connections accepted at once, over all pools (`max_client_connections`).
    public var maxClientConnections: Int = 10_000
    /// How clients prove who they are (`auth_type`).
    public var authType: ClientAuthType = .scramSHA256

    /// Close a server connection idle for this long (`server_idle_timeout`); 0 keeps it forever.
    public var serverIdleTimeout: Int64 = 600_000
    /// Close a server connection this old once it is back in the pool (`server_lifetime`); 0 = no limit.
    public var serverLifetime: Int64 = 3_600_000
    /// Fail a client that waited this long for a server connection (`query_wait_timeout`); 0 = wait forever.
    public var queryWaitTimeout: Int64 = 120_000
    /// Give up opening a server connection after this long (`server_connect_timeout`).
    public var serverConnectTimeout: Int64 = 5_000
    /// Drop a client that has not finished logging in after this long (`client_login_timeout`).
    public var clientLoginTimeout: Int64 = 60_000
    /// Close a logged-in client that sent nothing for this long while no answer was owed to it
    /// (`client_idle_timeout`); 0 = never.
    public var clientIdleTimeout: Int64 = 0
    /// The longest message a logged-in client may send, in bytes (`max_packet_size`); longer
    /// ones close the connection before a byte of them reaches a server.
    public var maxPacketSize: Int = 1 << 30
    /// Host-based access rules in pg_hba.conf syntax (`hba_file`), checked before authentication;
    /// nil lets every address in. Absolute (resolved against the config file's directory).
    public var hbaFile: String?
    /// A user of users.toml that looks up the secrets of users not listed there (`auth_user`),
    /// with `auth_query` on the database's primary; nil: only listed users may log in.
    public var authUser: String?
    /// Returns the user's name and secret (SCRAM verifier or MD5 hash) for the name in $1 (`auth_query`).
    public var authQuery = "SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL ELSE rolpassword END FROM pg_authid WHERE rolname = $1 AND rolcanlogin"
    /// How long a secret found with auth_query is used before it is looked up again (`auth_query_cache_ttl`); 0 = every login.
    public var authQueryCacheTTL: Int64 = 60_000
    /// On shutdown, wait this long for clients to finish before closing them (`shutdown_timeout`); 0 = at once.
    public var shutdownTimeout: Int64 = 30_000

    /// Query run on a server connection before another client gets it (`server_reset_query`); empty = none.
    public var serverResetQuery: String = "DISCARD ALL"
    /// Run the reset query in transaction mode too, not only in session mode (`server_reset_query_always`).
    public var serverResetQueryAlways: Bool = false
    /// One of trace, debug, info, notice, warning, error, critical (`log_level`).
    public var logLevel: String = "info"
    /// Averages in SHOW STATS are over this period (`stats_period`).
    public var statsPeriod: Int64 = 60_000
    /// Check the config files this often and reload when they changed (`autoreload`); 0 = never.
    public var autoreload: Int64 = 0

    /// A write or DDL statement on sharded tables without a sharding key runs on every shard
    /// (`cross_shard_writes`); false refuses it.
    public var crossShardWrites = false

    /// How reads pick among replicas unless a database says otherwise (`load_balancing`).
    public var loadBalancing: LoadBalancing = .random
    /// Health checks of hosts of databases with several hosts or `role = "auto"`
    /// (`healthcheck_interval`); 0 = none.
    public var healthcheckInterval: Int64 = 10_000
    /// A health check that takes longer fails (`healthcheck_timeout`).
    public var healthcheckTimeout: Int64 = 5_000
    /// A host that fails a health check or a connection attempt gets no reads for this long (`ban_time`).
    public var banTime: Int64 = 60_000
    /// The users.toml user health checks log in as (`healthcheck_user`); default: the first user
    /// allowed on the database with a clear-text password.
    public var healthcheckUser: String?
    /// Where built-in plugins named in `[[plugins]]` are looked for (`plugin_dir`); default: the
    /// directory of the pgproxy executable.
    public var pluginDir: String?
    /// Statement shapes remembered per event loop by the routing cache (`query_cache_limit`).
    public var queryCacheLimit: Int = 5_000
    /// Named prepared statements each server connection keeps for transaction-pooled clients,
    /// least recently used evicted first (`prepared_statements_limit`); 0 passes clients'
    /// statements through untouched, which breaks them once a client changes server connection.
    public var preparedStatementsLimit: Int = 200
    /// In transaction mode, a session SET is replayed on every server connection the client
    /// uses (`track_session_settings`); when false, the connection is reset after it instead.
    public var trackSessionSettings: Bool = true

    /// The documented defaults.
    public init() {}

    // A default of 0 or thousands of threads would be refused if written in the file, so the
    // machine's count is held to the same bounds the validation applies.
    private static func coreCount() -> Int {
        min(max(ProcessInfo.processInfo.activeProcessorCount, 1), 256)
    }
}
