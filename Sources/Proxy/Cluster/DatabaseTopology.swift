import NIOCore
import Synchronization

/// The hosts of one database as the current config lists them, with the live state of each, and
/// how reads are spread over them. Immutable except for the backends' own atomics; a reload
/// that changes the host list makes a new one.
final class DatabaseTopology: @unchecked Sendable {
    let name: String
    /// In config order.
    let backends: [Backend]
    /// The shard of each backend, aligned with `backends`.
    let shards: [Int]
    /// 1 + the highest shard.
    let shardCount: Int
    let loadBalancing: LoadBalancing
    /// The database's tables split by a key, and those copied to every shard.
    let sharding: ShardingTables
    private let turn = Atomic<Int>(0)

    init(name: String, backends: [Backend], loadBalancing: LoadBalancing, sharding: ShardingTables = ShardingTables()) {
        self.name = name
        self.backends = backends
        self.shards = backends.map { $0.config.shard }
        self.shardCount = (shards.max() ?? 0) + 1
        self.loadBalancing = loadBalancing
        self.sharding = sharding
    }

    var hasSeveralHosts: Bool { backends.count > 1 }

    var isSharded: Bool { shardCount > 1 }

    /// The host that takes writes in shard 0 (the only shard of an unsharded database).
    var primary: Backend? { primary(shard: 0) }

    /// The host that takes writes in `shard` now: the configured primary, or the healthy `auto`
    /// host that reports not being in recovery. Nil when none is known.
    func primary(shard: Int) -> Backend? {
        var fallback: Backend?
        for (index, backend) in backends.enumerated() where shards[index] == shard {
            switch backend.role {
            case .primary?:
                if backend.configuredRole == .primary || backend.healthy { return backend }
                fallback = fallback ?? backend
            default: continue
            }
        }
        return fallback
    }

    /// Picks the host of `shard` for a statement of `role`; nil when no host can take it (no
    /// primary is known). Reads go to available replicas (and the primary too for `.any`); with
    /// none available, to the primary.
    func select(role: BackendRoleChoice, shard: Int = 0) -> Backend? {
        switch role {
        case .primary: return primary(shard: shard)
        case .replica, .any:
            let primary = self.primary(shard: shard)
            // Without building a list: this runs for every routed read.
            @inline(__always) func isCandidate(_ index: Int) -> Bool {
                let backend = backends[index]
                guard shards[index] == shard, backend.isAvailable, backend.weight > 0 else { return false }
                if backend === primary { return role == .any }
                return backend.role == .replica
            }
            var count = 0
            var total = 0
            for index in backends.indices where isCandidate(index) {
                count += 1
                total += backends[index].weight
            }
            guard count > 0 else { return primary }
            switch loadBalancing {
            case .random, .roundRobin:
                var ticket = loadBalancing == .random
                    ? Int.random(in: 0..<count)
                    : (turn.add(1, ordering: .relaxed).newValue & Int.max) % count
                for index in backends.indices where isCandidate(index) {
                    if ticket == 0 { return backends[index] }
                    ticket -= 1
                }
            case .weighted:
                var ticket = Int.random(in: 0..<max(total, 1))
                for index in backends.indices where isCandidate(index) {
                    ticket -= backends[index].weight
                    if ticket < 0 { return backends[index] }
                }
            case .leastConnections:
                var best: Backend?
                var bestCount = Int.max
                for index in backends.indices where isCandidate(index) {
                    let active = backends[index].activeClients.load(ordering: .relaxed)
                    if active < bestCount {
                        best = backends[index]
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

    /// The shard `backend` serves here.
    func shard(of backend: Backend) -> Int {
        for (index, candidate) in backends.enumerated() where candidate === backend { return shards[index] }
        return 0
    }
}

/// The role a routing decision asks for, once plugins and defaults have spoken.
enum BackendRoleChoice: Sendable, Equatable {
    case primary, replica, any
}

/// The `[[sharded_tables]]` and `[[omnisharded_tables]]` of one database, as routing reads them.
struct ShardingTables: Sendable {
    var sharded: [ShardedTableConfig] = []
    var omnisharded: [OmnishardedTableConfig] = []
    /// `cross_shard_writes`.
    var crossShardWrites = false

    /// How `SET SHARDING KEY` values are read: the first sharded table's key type.
    var keyType: ShardKeyType { sharded.first?.dataType ?? .bigint }

    var isEmpty: Bool { sharded.isEmpty && omnisharded.isEmpty }

    /// The sharded table a statement's `written` table name is, if any.
    func shardedTable(named written: String) -> ShardedTableConfig? {
        sharded.first { tableName(written, matches: $0.table) }
    }

    func isOmnisharded(_ written: String) -> Bool {
        omnisharded.contains { tableName(written, matches: $0.table) }
    }
}
