import NIOCore
import Synchronization

/// The hosts of one database as the current config lists them, with the live state of each, and
/// how reads are spread over them. Immutable except for the backends' own atomics; a reload
/// that changes the host list makes a new one.
final class DatabaseTopology: @unchecked Sendable {
    let name: String
    /// In config order.
    let backends: [Backend]
    let loadBalancing: LoadBalancing
    private let turn = Atomic<Int>(0)

    init(name: String, backends: [Backend], loadBalancing: LoadBalancing) {
        self.name = name
        self.backends = backends
        self.loadBalancing = loadBalancing
    }

    var hasSeveralHosts: Bool { backends.count > 1 }

    /// The host that takes writes now: the configured primary, or the healthy `auto` host that
    /// reports not being in recovery. Nil when none is known.
    var primary: Backend? {
        var fallback: Backend?
        for backend in backends {
            switch backend.role {
            case .primary?:
                if backend.configuredRole == .primary || backend.healthy { return backend }
                fallback = fallback ?? backend
            default: continue
            }
        }
        return fallback
    }

    /// Picks the host for a statement of `role`; nil when no host can take it (no primary known).
    /// Reads go to available replicas (and the primary too for `.any`); with none available,
    /// to the primary.
    func select(role: BackendRoleChoice, now: UInt64) -> Backend? {
        switch role {
        case .primary: return primary
        case .replica, .any:
            let primary = self.primary
            // Without building a list: this runs for every routed read.
            @inline(__always) func isCandidate(_ backend: Backend) -> Bool {
                guard backend.available(now: now), backend.weight > 0 else { return false }
                if backend === primary { return role == .any }
                return backend.role == .replica
            }
            var count = 0
            var total = 0
            for backend in backends where isCandidate(backend) {
                count += 1
                total += backend.weight
            }
            guard count > 0 else { return primary }
            switch loadBalancing {
            case .random, .roundRobin:
                var ticket = loadBalancing == .random
                    ? Int.random(in: 0..<count)
                    : (turn.add(1, ordering: .relaxed).newValue & Int.max) % count
                for backend in backends where isCandidate(backend) {
                    if ticket == 0 { return backend }
                    ticket -= 1
                }
            case .weighted:
                var ticket = Int.random(in: 0..<max(total, 1))
                for backend in backends where isCandidate(backend) {
                    ticket -= backend.weight
                    if ticket < 0 { return backend }
                }
            case .leastConnections:
                var best: Backend?
                var bestCount = Int.max
                for backend in backends where isCandidate(backend) {
                    let active = backend.activeClients.load(ordering: .relaxed)
                    if active < bestCount {
                        best = backend
                        bestCount = active
                    }
                }
                return best
            }
            return primary
        }
    }

    func backend(id: Int) -> Backend? {
        backends.first { $0.id.load(ordering: .relaxed) == id }
    }
}

/// The role a routing decision asks for, once plugins and defaults have spoken.
enum BackendRoleChoice: Sendable, Equatable {
    case primary, replica, any
}
