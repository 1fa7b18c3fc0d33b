import Foundation
import Logging
import NIOCore
import PluginABI

/// Health checks and primary detection: every `healthcheck_interval`, each host of a database
/// with several hosts (or with `role = "auto"`) is asked `pg_is_in_recovery()`. A host that
/// fails is banned from reads for `ban_time`; an `auto` host is classified by the answer; when
/// the primary changes, connections to the old one are closed. Changes are logged and sent to
/// plugins as events.
final class HealthChecker: @unchecked Sendable {
    private let runtime: ProxyRuntime
    private var tasks: [RepeatedTask] = []

    init(runtime: ProxyRuntime) { self.runtime = runtime }

    /// Starts the checks of the current config's hosts (the first at once).
    func start() {
        let config = runtime.config
        let interval = config.general.healthcheckInterval
        guard interval > 0 else { return }
        var index = 0
        for database in Set(config.databases.map(\.name)).sorted() {
            let hosts = config.hosts(of: database)
            guard hosts.count > 1 || hosts.contains(where: { $0.host.role == .auto }) else { continue }
            let loop = runtime.loops[index % runtime.loops.count]
            index += 1
            let task = loop.scheduleRepeatedAsyncTask(initialDelay: .zero, delay: .milliseconds(interval)) { [self] _ in
                checkAll(database: database, on: loop)
            }
            tasks.append(task)
        }
    }

    func stop() {
        for task in tasks { task.cancel() }
        tasks.removeAll()
    }

    private func checkAll(database: String, on loop: any EventLoop) -> EventLoopFuture<Void> {
        let config = runtime.config
        guard let topology = runtime.topology(of: database) else { return loop.makeSucceededVoidFuture() }
        guard let credentials = Self.credentials(database: database, config: config) else {
            runtime.logger.warning("health checks of database \(database) need a user with a clear-text password in \(config.usersPath) (or healthcheck_user)")
            return loop.makeSucceededVoidFuture()
        }
        let timeout = TimeAmount.milliseconds(config.general.healthcheckTimeout)
        let primariesBefore = (0..<topology.shardCount).map { topology.primary(shard: $0) }
        let tls = runtime.tlsContexts.withLock { $0 }
        let checks = topology.backends.map { backend in
            var credentials = credentials
            credentials.database = backend.config.databaseName
            return ServerQuery.run("SELECT pg_is_in_recovery()", at: backend.address, credentials: credentials, tls: tls, timeout: timeout, on: loop)
                .flatMapThrowing { rows -> Void in
                    guard let answer = rows.first?.first ?? nil else { throw ServerQuery.Failure("no answer to pg_is_in_recovery()") }
                    self.passed(backend, inRecovery: answer == "t")
                }
                .recover { error in self.failed(backend, reason: "\(error)", banTime: config.general.banTime) }
        }
        return EventLoopFuture.andAllComplete(checks, on: loop).map { [self] in
            for (shard, primaryBefore) in primariesBefore.enumerated() {
                let primaryAfter = topology.primary(shard: shard)
                guard primaryBefore !== primaryAfter else { continue }
                let now = primaryAfter.map { "\($0.address)" } ?? "unknown"
                let was = primaryBefore.map { "\($0.address)" } ?? "unknown"
                let which = topology.isSharded ? " shard \(shard)" : ""
                runtime.logger.warning("primary of database \(database)\(which) is now \(now) (was \(was))")
                if let old = primaryBefore {
                    // Its connections may sit in a transaction that can no longer commit, or serve
                    // writes that must go elsewhere now: replace them.
                    for pool in runtime.allPools where pool.backend === old { pool.reconnect() }
                }
            }
        }
    }

    private func passed(_ backend: Backend, inRecovery: Bool) {
        let wasHealthy = backend.healthy
        let roleBefore = backend.detectedRole
        backend.setHealthy(true)
        backend.detected(inRecovery: inRecovery)
        if !wasHealthy {
            backend.unban()
            runtime.logger.info("host \(backend.address) of database \(backend.database) is healthy again")
        }
        if roleBefore != backend.detectedRole {
            if let roleBefore {
                runtime.logger.warning("host \(backend.address) of database \(backend.database) now reports \(inRecovery ? "being in recovery (replica)" : "not being in recovery (primary)"), was \(roleBefore.rawValue)")
            } else if backend.configuredRole == .auto {
                runtime.logger.info("host \(backend.address) of database \(backend.database) is a \(inRecovery ? "replica" : "primary")")
            }
        }
        if !wasHealthy || roleBefore != backend.detectedRole { announce(backend) }
    }

    private func failed(_ backend: Backend, reason: String, banTime: Int64) {
        let wasHealthy = backend.healthy
        backend.setHealthy(false)
        if backend.configuredRole == .auto { backend.detected(inRecovery: nil) }
        let newlyBanned = banTime > 0 && backend.role != .primary && backend.ban(for: .milliseconds(banTime))
        if wasHealthy || newlyBanned {
            let banned = newlyBanned ? "; no reads for \(banTime / 1000)s (ban_time)" : ""
            runtime.logger.warning("host \(backend.address) of database \(backend.database) failed its health check: \(reason)\(banned)")
            announce(backend)
        }
    }

    /// Sends a backend-state event to the plugins.
    func announce(_ backend: Backend) {
        guard runtime.plugins.wantsEvents else { return }
        var event = pgproxy_event()
        event.kind = PGPROXY_EVENT_BACKEND_STATE
        event.backend_id = Int32(backend.id.load(ordering: .relaxed))
        event.database = backend.databaseString
        event.healthy = backend.isAvailable ? 1 : 0
        event.role = backend.pluginRole
        runtime.plugins.send(&event)
    }

    /// Who health checks log in as: `healthcheck_user`, else the first user of the database with
    /// a clear-text password (a stored hash cannot answer the server's challenge by itself).
    static func credentials(database: String, config: ProxyConfig) -> ServerCredentials? {
        let candidates = config.users.filter { $0.database == nil || $0.database == database }
        let chosen: UserConfig?
        if let name = config.general.healthcheckUser {
            chosen = candidates.first { $0.name == name }
        } else {
            chosen = candidates.first { user in
                (user.serverPassword ?? user.password).map { StoredSecret(parsing: $0).isPlain } ?? true
            }
        }
        guard let user = chosen else { return nil }
        return user.serverCredentials(database: database)
    }
}
