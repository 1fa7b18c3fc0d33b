import NIOCore
import Synchronization

/// The pools of one (database, user): one per host of the database, in the topology's order.
/// Clients of the pair belong to the group; each transaction (or session) uses the pool of the
/// host its route picked.
final class PoolGroup: @unchecked Sendable {
    struct Layout: Sendable {
        var topology: DatabaseTopology
        /// Aligned with `topology.backends`.
        var pools: [Pool]
    }

    let key: PoolKey
    private let current: Mutex<Layout>
    /// One per event loop, in the runtime's loop order.
    let parts: [GroupPartition]
    private let loopIDs: [ObjectIdentifier]

    init(key: PoolKey, layout: Layout, loops: [any EventLoop]) {
        self.key = key
        self.current = Mutex(layout)
        self.loopIDs = loops.map { ObjectIdentifier($0) }
        self.parts = loops.enumerated().map { GroupPartition(loopIndex: $0.offset, eventLoop: $0.element, layout: layout) }
    }

    var layout: Layout { current.withLock { $0 } }

    /// The part that serves clients of `loop`.
    func part(for loop: any EventLoop) -> GroupPartition {
        let id = ObjectIdentifier(loop)
        for (index, loopID) in loopIDs.enumerated() where loopID == id { return parts[index] }
        return parts[0]
    }

    /// A reload changed the database's hosts: clients see the new layout from their next route.
    func update(layout: Layout) {
        current.withLock { $0 = layout }
        for part in parts { part.eventLoop.execute { part.apply(layout) } }
    }
}

/// A group as seen from one event loop: the topology and this loop's partition of each host's
/// pool. Read by the group's clients on the data path without locks; only touched on its loop.
final class GroupPartition {
    let loopIndex: Int
    let eventLoop: any EventLoop
    private(set) var topology: DatabaseTopology
    /// This loop's partition of each host's pool, aligned with `topology.backends`.
    private(set) var partitions: [PoolPartition]

    init(loopIndex: Int, eventLoop: any EventLoop, layout: PoolGroup.Layout) {
        self.loopIndex = loopIndex
        self.eventLoop = eventLoop
        self.topology = layout.topology
        self.partitions = layout.pools.map { $0.partitions[loopIndex] }
    }

    func apply(_ layout: PoolGroup.Layout) {
        topology = layout.topology
        partitions = layout.pools.map { $0.partitions[loopIndex] }
    }

    /// The partition of `backend`'s pool, if the backend is still one of the group's hosts.
    @inline(__always)
    func partition(of backend: Backend) -> PoolPartition? {
        for (index, candidate) in topology.backends.enumerated() where candidate === backend {
            return index < partitions.count ? partitions[index] : nil
        }
        return nil
    }

    /// Where clients start and where writes go when nothing else is known: the primary's pool,
    /// else the first host's.
    var home: PoolPartition {
        if let primary = topology.primary, let partition = partition(of: primary) { return partition }
        return partitions[0]
    }
}
