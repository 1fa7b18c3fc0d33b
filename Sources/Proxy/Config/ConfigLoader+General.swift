import Foundation

extension ConfigLoader {
    /// Keys of `[general]` that this version reads.
    static let generalKeys = [
        "host", "port", "unix_socket_dir", "unix_socket_mode", "workers", "io_engine", "pool_mode",
        "default_pool_size", "min_pool_size",
        "max_client_connections", "auth_type", "server_idle_timeout", "server_lifetime",
        "query_wait_timeout", "server_connect_timeout", "client_login_timeout", "shutdown_timeout",
        "client_idle_timeout", "max_packet_size", "hba_file", "auth_user", "auth_query", "auth_query_cache_ttl",
        "server_reset_query", "server_reset_query_always", "log_level", "stats_period", "autoreload",
        "load_balancing", "healthcheck_interval", "healthcheck_timeout", "ban_time", "healthcheck_user",
        "plugin_dir", "query_cache_limit", "prepared_statements_limit", "track_session_settings", "cross_shard_writes",
    ]

    /// Values of `log_level`, the levels swift-log knows.
    static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    /// `[general]`, starting from the defaults; a refused value leaves its default in place.
    static func readGeneral(_ reader: SectionReader) -> GeneralConfig {
        reader.refuseUnknownKeys(known: generalKeys, place: .general, elsewhere: [
            "pool_size": "[[databases]] or [[users]] (or use default_pool_size here)",
            "name": "[[databases]] or [[users]]",
            "database_name": "[[databases]]",
            "password": "[[users]] in the users file",
        ])
        var general = GeneralConfig()
        if let value = reader.string("host", nonEmpty: true) { general.host = value }
        // 0 asks the kernel for a free port, which tests use to run side by side.
        if let value = reader.int("port", atLeast: 0, atMost: 65535) { general.port = value }
        // Empty turns the socket off, as in PgBouncer.
        if let value = reader.string("unix_socket_dir"), !value.isEmpty {
            var isDirectory: ObjCBool = false
            if !value.hasPrefix("/") {
                reader.fail("unix_socket_dir", "must be an absolute path (a directory), got \"\(value)\"")
            } else if !FileManager.default.fileExists(atPath: value, isDirectory: &isDirectory) || !isDirectory.boolValue {
                reader.fail("unix_socket_dir", "no such directory: \(value)")
            } else {
                general.unixSocketDir = value
            }
        }
        if let value = reader.string("unix_socket_mode") {
            if let mode = Int(value, radix: 8), value.hasPrefix("0"), (0...0o777).contains(mode) {
                general.unixSocketMode = mode
            } else {
                reader.fail("unix_socket_mode", "must be octal permissions such as \"0777\" or \"0770\", got \"\(value)\"")
            }
        }
        if let value = reader.int("workers", atLeast: 1, atMost: 256) { general.workers = value }
        if let value = reader.choice("io_engine", IOEngine.self) { general.ioEngine = value }
        if let value = reader.choice("pool_mode", PoolMode.self) { general.poolMode = value }
        if let value = reader.int("default_pool_size", atLeast: 1) { general.defaultPoolSize = value }
        if let value = reader.int("min_pool_size", atLeast: 0) { general.minPoolSize = value }
        if let value = reader.int("max_client_connections", atLeast: 1) { general.maxClientConnections = value }
        if let value = reader.choice("auth_type", ClientAuthType.self) { general.authType = value }

        if let value = reader.duration("server_idle_timeout", zeroAllowed: true) { general.serverIdleTimeout = value }
        if let value = reader.duration("server_lifetime", zeroAllowed: true) { general.serverLifetime = value }
        if let value = reader.duration("query_wait_timeout", zeroAllowed: true) { general.queryWaitTimeout = value }
        if let value = reader.duration("server_connect_timeout", zeroAllowed: false) {
            general.serverConnectTimeout = value
        }
        if let value = reader.duration("client_login_timeout", zeroAllowed: false) {
            general.clientLoginTimeout = value
        }
        if let value = reader.duration("client_idle_timeout", zeroAllowed: true) { general.clientIdleTimeout = value }
        if let value = reader.bool("cross_shard_writes") { general.crossShardWrites = value }
        if let value = reader.string("hba_file", nonEmpty: true) { general.hbaFile = resolve(value, besideConfig: reader.file) }
        if let value = reader.string("auth_user", nonEmpty: true) { general.authUser = value }
        if let value = reader.string("auth_query", nonEmpty: true) {
            if value.contains("$1") { general.authQuery = value } else { reader.fail("auth_query", "must use $1 for the user name") }
        }
        if let value = reader.duration("auth_query_cache_ttl", zeroAllowed: true) { general.authQueryCacheTTL = value }
        // Below 8 KiB ordinary statements of ORMs would be refused; PostgreSQL's own limit is 1 GiB.
        if let value = reader.int("max_packet_size", atLeast: 8192, atMost: Int(Int32.max)) { general.maxPacketSize = value }
        // 0 is meaningful here: close every client at once instead of waiting for them.
        if let value = reader.duration("shutdown_timeout", zeroAllowed: true) { general.shutdownTimeout = value }

        // Empty is allowed: it means "hand the connection on without resetting it".
        if let value = reader.string("server_reset_query") { general.serverResetQuery = value }
        if let value = reader.bool("server_reset_query_always") { general.serverResetQueryAlways = value }
        if let value = reader.oneOf("log_level", logLevels) { general.logLevel = value }
        if let value = reader.duration("stats_period", zeroAllowed: false) {
            if value < 1000 { reader.fail("stats_period", "must be at least 1s, got \(value)ms") } else { general.statsPeriod = value }
        }
        if let value = reader.duration("autoreload", zeroAllowed: true) { general.autoreload = value }

        if let value = reader.choice("load_balancing", LoadBalancing.self) { general.loadBalancing = value }
        if let value = reader.duration("healthcheck_interval", zeroAllowed: true) { general.healthcheckInterval = value }
        if let value = reader.duration("healthcheck_timeout", zeroAllowed: false) { general.healthcheckTimeout = value }
        if let value = reader.duration("ban_time", zeroAllowed: true) { general.banTime = value }
        if let value = reader.string("healthcheck_user", nonEmpty: true) { general.healthcheckUser = value }
        if let value = reader.string("plugin_dir", nonEmpty: true) { general.pluginDir = value }
        if let value = reader.int("query_cache_limit", atLeast: 16, atMost: 10_000_000) { general.queryCacheLimit = value }
        if let value = reader.int("prepared_statements_limit", atLeast: 0, atMost: 100_000) { general.preparedStatementsLimit = value }
        if let value = reader.bool("track_session_settings") { general.trackSessionSettings = value }

        if general.minPoolSize > general.defaultPoolSize,
           !reader.failed("min_pool_size"), !reader.failed("default_pool_size") {
            reader.fail("min_pool_size", "must not exceed default_pool_size (\(general.defaultPoolSize)), got \(general.minPoolSize)")
        }
        return general
    }
}
