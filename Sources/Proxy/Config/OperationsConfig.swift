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

/// One routing plugin: an entry of `[[plugins]]` in `pgproxy.toml`, in chain order.
public struct PluginConfig: Sendable, Equatable {
    /// A built-in (`name`), found as `libpgproxy_<name>.so` in `plugin_dir`; nil with `path`.
    public var name: String?
    /// Any plugin library (`path`); relative paths are relative to the config file's directory,
    /// then to the working directory.
    public var path: String?
    /// The `config` table, flattened to strings (arrays joined with ","), in key order.
    public var settings: [(key: String, value: String)]

    public init(name: String?, path: String?, settings: [(key: String, value: String)] = []) {
        self.name = name
        self.path = path
        self.settings = settings
    }

    /// The name logs use: the built-in's name or the library path.
    public var label: String { name ?? path ?? "?" }

    public static func == (lhs: PluginConfig, rhs: PluginConfig) -> Bool {
        lhs.name == rhs.name && lhs.path == rhs.path
            && lhs.settings.map(\.key) == rhs.settings.map(\.key) && lhs.settings.map(\.value) == rhs.settings.map(\.value)
    }
}
