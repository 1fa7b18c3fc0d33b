import Foundation
import NIOCore
import PluginABI
import Synchronization

/// One host of a database and what pgproxy knows of it right now: health, ban, the role it
/// reports, clients using it, recent latency. Shared by every pool of the host and read on the
/// data path, so everything live is atomic. Kept across reloads while the host stays configured.
final class Backend: @unchecked Sendable {
    /// The index of the host's `[[databases]]` entry (the id plugins see); updated on reload.
    let id: Atomic<Int>
    let database: String
    let address: BackendAddress
    private let settings: Mutex<DatabaseConfig>
    /// `weight` and `role` of the config, read on the data path without the lock.
    private let weightValue: Atomic<Int>
    private let configuredRoleValue: Atomic<UInt8>

    /// 0 unknown, 1 primary, 2 replica: what `pg_is_in_recovery()` said last.
    private let detected = Atomic<UInt8>(0)
    /// The last health check (or connect) worked. True until one fails.
    private let healthyFlag = Atomic<Bool>(true)
    /// Uptime in nanoseconds until which the host gets no reads; 0 when not banned.
    private let bannedUntil = Atomic<UInt64>(0)
    /// Clients holding a connection to this host.
    let activeClients = Atomic<Int>(0)
    /// Recent statement latency, exponentially weighted, in microseconds (as integer bits).
    private let latencyMicros = Atomic<Int>(0)
    private let latencyP99Scaled = Atomic<Int>(0)
    /// The host name as a C string that lives as long as the backend, for plugin contexts.
    let hostCString: UnsafeMutablePointer<CChar>
    let databaseCString: UnsafeMutablePointer<CChar>
    /// The same as `pgproxy_str`, for contexts and events.
    let hostString: pgproxy_str
    let databaseString: pgproxy_str

    init(id: Int, config: DatabaseConfig) {
        self.id = Atomic(id)
        self.database = config.name
        self.address = BackendAddress(host: config.host, port: config.port)
        self.settings = Mutex(config)
        self.weightValue = Atomic(config.weight)
        self.configuredRoleValue = Atomic(Self.code(config.role))
        self.hostCString = strdup(config.host)
        self.databaseCString = strdup(config.name)
        self.hostString = pgproxy_str(ptr: hostCString, len: strlen(hostCString))
        self.databaseString = pgproxy_str(ptr: databaseCString, len: strlen(databaseCString))
    }

    deinit {
        free(hostCString)
        free(databaseCString)
    }

    var config: DatabaseConfig { settings.withLock { $0 } }

    func update(id: Int, config: DatabaseConfig) {
        self.id.store(id, ordering: .relaxed)
        settings.withLock { $0 = config }
        weightValue.store(config.weight, ordering: .relaxed)
        configuredRoleValue.store(Self.code(config.role), ordering: .relaxed)
    }

    private static func code(_ role: BackendRole) -> UInt8 {
        switch role {
        case .primary: return 1
        case .replica: return 2
        case .auto: return 0
        }
    }

    var weight: Int { weightValue.load(ordering: .relaxed) }

    var configuredRole: BackendRole {
        switch configuredRoleValue.load(ordering: .relaxed) {
        case 1: return .primary
        case 2: return .replica
        default: return .auto
        }
    }

    /// The role the host plays now: as configured, or as detected for `role = "auto"` (nil
    /// while unknown).
    var role: BackendRole? {
        let configured = configuredRole
        guard configured == .auto else { return configured }
        switch detected.load(ordering: .relaxed) {
        case 1: return .primary
        case 2: return .replica
        default: return nil
        }
    }

    /// What the last health check found; nil before the first.
    var detectedRole: BackendRole? {
        switch detected.load(ordering: .relaxed) {
        case 1: return .primary
        case 2: return .replica
        default: return nil
        }
    }

    func detected(inRecovery: Bool?) {
        detected.store(inRecovery.map { $0 ? 2 : 1 } ?? 0, ordering: .relaxed)
    }

    var healthy: Bool { healthyFlag.load(ordering: .relaxed) }

    func setHealthy(_ value: Bool) { healthyFlag.store(value, ordering: .relaxed) }

    /// Whether the host may get reads now: healthy and not banned. The clock is read only for a
    /// host with a ban, so routing over hosts without one never asks for the time.
    @inline(__always)
    var isAvailable: Bool {
        guard healthyFlag.load(ordering: .relaxed) else { return false }
        let until = bannedUntil.load(ordering: .relaxed)
        return until == 0 || until <= NIODeadline.now().uptimeNanoseconds
    }

    /// Keeps reads away for `duration`; returns false when already banned.
    @discardableResult
    func ban(for duration: TimeAmount, now: UInt64 = NIODeadline.now().uptimeNanoseconds) -> Bool {
        let until = now &+ UInt64(max(duration.nanoseconds, 0))
        let previous = bannedUntil.exchange(until, ordering: .relaxed)
        return previous <= now
    }

    func unban() { bannedUntil.store(0, ordering: .relaxed) }

    /// When the ban ends, if banned now.
    func bannedUntilUptime(now: UInt64) -> UInt64? {
        let until = bannedUntil.load(ordering: .relaxed)
        return until > now ? until : nil
    }

    /// Folds one statement batch's latency into the running average.
    @inline(__always)
    func record(latencyMicros sample: Int) {
        let old = latencyMicros.load(ordering: .relaxed)
        latencyMicros.store(old == 0 ? sample : old + (sample - old) / 16, ordering: .relaxed)
        // A streaming 99th percentile (in 1/1024 µs): a sample above the estimate raises it by a
        // step, one below lowers it by a 99th of a step, so it settles where 1% of the samples
        // are above it. The step is 1/32 of the estimate, so it follows a changing load quickly.
        let scaled = sample << 10
        let p99 = latencyP99Scaled.load(ordering: .relaxed)
        if p99 == 0 {
            latencyP99Scaled.store(scaled, ordering: .relaxed)
        } else {
            let step = max(p99 >> 5, 1 << 10)
            latencyP99Scaled.store(scaled > p99 ? p99 + step : max(p99 - step / 99, 1), ordering: .relaxed)
        }
    }

    var latencyAverageMilliseconds: Double { Double(latencyMicros.load(ordering: .relaxed)) / 1000 }
    var latencyP99Milliseconds: Double { Double(latencyP99Scaled.load(ordering: .relaxed)) / 1024 / 1000 }

    var pluginRole: pgproxy_role {
        switch role {
        case .primary?: return PGPROXY_ROLE_PRIMARY
        case .replica?: return PGPROXY_ROLE_REPLICA
        default: return PGPROXY_ROLE_UNDECIDED
        }
    }
}
