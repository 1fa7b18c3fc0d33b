/// The admin console: the `[admin]` section of `pgproxy.toml`.
///
/// Clients that log in as `user` to the database `pgproxy` (or `pgbouncer`, for existing scripts)
/// get the console instead of a server connection.
public struct AdminConfig: Sendable, Equatable {
    /// The one user allowed into the console (`user`).
    public var user: String
    /// Its password, clear text or a stored SCRAM/MD5 secret (`password`); nil with `auth_type = "trust"`.
    public var password: String?

    /// Database names that open the console instead of a pool.
    public static let databaseNames = ["pgproxy", "pgbouncer"]

    public init(user: String, password: String?) {
        self.user = user
        self.password = password
    }
}

/// The Prometheus exporter: the `[prometheus]` section of `pgproxy.toml`.
public struct PrometheusConfig: Sendable, Equatable {
    /// Address the `/metrics` endpoint listens on (`host`); the general `host` unless set.
    public var host: String
    /// Its port (`port`, 9930 by default); 0 lets the kernel pick one (tests).
    public var port: Int

    public init(host: String, port: Int = 9930) {
        self.host = host
        self.port = port
    }
}
