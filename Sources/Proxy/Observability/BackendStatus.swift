import Synchronization

/// What pgproxy knows of each backend server from its own connection attempts: whether the
/// last one worked, how many failed, and how long connecting took. Written when a server
/// connection is opened (never on the data path), read by SHOW BACKENDS and /metrics.
final class BackendStatus: Sendable {
    struct Key: Hashable, Sendable {
        var database: String
        var address: BackendAddress
    }

    struct Entry: Sendable {
        var connects: UInt64 = 0
        var connectFailures: UInt64 = 0
        /// Nil while the last attempt worked (or none was made).
        var lastError: String?
        var lastConnectSeconds: Double?
        var totalConnectSeconds: Double = 0
        /// Whether the last attempt worked; nil before the first.
        var healthy: Bool?

        var averageConnectSeconds: Double? { connects == 0 ? nil : totalConnectSeconds / Double(connects) }
    }

    private let entries = Mutex<[Key: Entry]>([:])
    /// Told of every connect duration, for the latency histogram.
    private let latencyObserver = Mutex<(@Sendable (Key, Double) -> Void)?>(nil)

    func observeLatency(_ observer: @escaping @Sendable (Key, Double) -> Void) {
        latencyObserver.withLock { $0 = observer }
    }

    func connected(database: String, address: BackendAddress, seconds: Double) {
        let key = Key(database: database, address: address)
        entries.withLock { entries in
            var entry = entries[key, default: Entry()]
            entry.connects += 1
            entry.lastConnectSeconds = seconds
            entry.totalConnectSeconds += seconds
            entry.lastError = nil
            entry.healthy = true
            entries[key] = entry
        }
        latencyObserver.withLock { $0 }?(key, seconds)
    }

    func connectFailed(database: String, address: BackendAddress, error: String) {
        entries.withLock { entries in
            let key = Key(database: database, address: address)
            var entry = entries[key, default: Entry()]
            entry.connectFailures += 1
            entry.lastError = error
            entry.healthy = false
            entries[key] = entry
        }
    }

    func entry(database: String, address: BackendAddress) -> Entry? {
        entries.withLock { $0[Key(database: database, address: address)] }
    }
}
