extension GeneralConfig {
    /// Every [general] key as written in pgproxy.toml with its value (durations in milliseconds)
    /// and whether RELOAD applies a change to it.
    var settings: [(key: String, value: String?, changeable: Bool)] {
        let general = self
        return [
            ("host", general.host, false), ("port", String(general.port), false),
            ("unix_socket_dir", general.unixSocketDir, false), ("unix_socket_mode", "0" + String(general.unixSocketMode, radix: 8), false),
            ("workers", String(general.workers), false), ("io_engine", general.ioEngine.rawValue, false),
            ("pool_mode", general.poolMode.rawValue, true),
            ("default_pool_size", String(general.defaultPoolSize), true), ("min_pool_size", String(general.minPoolSize), true),
            ("max_client_connections", String(general.maxClientConnections), true), ("auth_type", general.authType.rawValue, true),
            ("server_idle_timeout", String(general.serverIdleTimeout), true), ("server_lifetime", String(general.serverLifetime), true),
            ("query_wait_timeout", String(general.queryWaitTimeout), true),
            ("server_connect_timeout", String(general.serverConnectTimeout), true),
            ("client_login_timeout", String(general.clientLoginTimeout), true), ("shutdown_timeout", String(general.shutdownTimeout), true),
            ("client_idle_timeout", String(general.clientIdleTimeout), true), ("max_packet_size", String(general.maxPacketSize), true),
            ("hba_file", general.hbaFile, true), ("auth_user", general.authUser, true), ("auth_query", general.authQuery, true),
            ("auth_query_cache_ttl", String(general.authQueryCacheTTL), true),
            ("server_reset_query", general.serverResetQuery, true),
            ("server_reset_query_always", general.serverResetQueryAlways ? "true" : "false", true),
            ("log_level", general.logLevel, false), ("stats_period", String(general.statsPeriod), false),
            ("autoreload", String(general.autoreload), false),
            ("load_balancing", general.loadBalancing.rawValue, true),
            ("healthcheck_interval", String(general.healthcheckInterval), false),
            ("healthcheck_timeout", String(general.healthcheckTimeout), false),
            ("ban_time", String(general.banTime), true),
            ("healthcheck_user", general.healthcheckUser, false),
            ("plugin_dir", general.pluginDir, false),
            ("query_cache_limit", String(general.queryCacheLimit), false),
            ("prepared_statements_limit", String(general.preparedStatementsLimit), false),
            ("track_session_settings", String(general.trackSessionSettings), true),
            ("cross_shard_writes", String(general.crossShardWrites), true),
        ]
    }
}
