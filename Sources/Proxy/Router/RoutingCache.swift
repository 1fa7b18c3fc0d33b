/// Statement analyses by shape, for one event loop (so never locked): bounded, and when full the
/// least recently used eighth is dropped at once, which keeps a hit to one dictionary lookup and
/// one store.
final class RoutingCache {
    private var entries: [UInt64: StatementInfo] = [:]
    let limit: Int
    private var tick: UInt64 = 0
    private(set) var hits: UInt64 = 0
    private(set) var misses: UInt64 = 0
    private(set) var evictions: UInt64 = 0

    init(limit: Int) {
        self.limit = max(limit, 16)
        entries.reserveCapacity(min(self.limit, 1024))
    }

    var count: Int { entries.count }

    /// The analysis of `text`, parsed on a miss.
    @inline(__always)
    func info(text: UnsafeRawBufferPointer, shape: StatementShape) -> StatementInfo {
        tick &+= 1
        if let entry = entries[shape.fingerprint], entry.literalCount == shape.literalCount, entry.parameterCount == shape.parameterCount {
            hits &+= 1
            entry.lastUse = tick
            return entry
        }
        misses &+= 1
        let made = StatementInfo(text: text, shape: shape)
        made.lastUse = tick
        if entries.count >= limit { evict() }
        entries[shape.fingerprint] = made
        return made
    }

    private func evict() {
        let drop = max(limit / 8, 1)
        let oldest = entries.sorted { $0.value.lastUse < $1.value.lastUse }.prefix(drop).map(\.key)
        for key in oldest { entries.removeValue(forKey: key) }
        evictions &+= UInt64(oldest.count)
    }
}
