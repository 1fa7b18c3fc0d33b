#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The process's limit on open files. Every client and every server connection is one; a
/// default soft limit of 1024 would cap a pooler far below its `max_client_connections`, and
/// the hard limit is usually much higher, so pgproxy raises the soft limit to it at start.
enum FileDescriptorLimit {
    #if canImport(Glibc)
    private static let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    private static let resource = RLIMIT_NOFILE
    #endif

    /// Raises the soft limit to the hard one (at most 1 << 20); returns the soft limit in force
    /// afterwards, nil if unlimited or unknown.
    @discardableResult
    static func raiseToHardLimit() -> UInt64? {
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { return nil }
        let wanted = min(UInt64(limit.rlim_max), 1 << 20)
        if UInt64(limit.rlim_cur) < wanted {
            var raised = limit
            raised.rlim_cur = rlim_t(wanted)
            _ = setrlimit(resource, &raised)
        }
        return soft()
    }

    /// The soft limit in force, nil when unlimited or unknown. RLIM_INFINITY does not import on
    /// Linux (it is ~0UL) and is Int64.max on Darwin; no real limit reaches Int64.max.
    static func soft() -> UInt64? {
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0, UInt64(limit.rlim_cur) < UInt64(Int64.max) else { return nil }
        return UInt64(limit.rlim_cur)
    }

    /// A warning when the limit cannot hold every client and server connection the
    /// configuration allows, else nil.
    static func shortfall(limit: UInt64?, clients: Int, servers: Int) -> String? {
        guard let limit else { return nil }
        // A few dozen for the event loops, the listener, logs and /metrics.
        let needed = UInt64(clients + servers + 64)
        guard needed > limit else { return nil }
        return "the open file limit (\(limit)) is below what max_client_connections (\(clients)) and the pool sizes (\(servers) server connections) need (\(needed)): connections past it will be refused; raise it with ulimit -n or LimitNOFILE="
    }
}
