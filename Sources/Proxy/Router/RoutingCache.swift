/// Statement analyses by shape, for one event loop (so never locked): bounded, and when full the
/// least recently used eighth is dropped at once.
///
/// An open-addressing table keyed by the shape's fingerprint, which is already a hash: a hit is
/// a few compares, where a `Dictionary` runs SipHash over the key first (measured: about 250
/// instructions per lookup). The table is rebuilt when it grows and after an eviction, both
/// rare; entries are never removed one by one, so probing needs no tombstones.
final class RoutingCache {
    let limit: Int
    private(set) var count = 0
    private var tick: UInt64 = 0
    private(set) var hits: UInt64 = 0
    private(set) var misses: UInt64 = 0
    private(set) var evictions: UInt64 = 0

    /// Slot `i` is empty when `entries[i]` is nil; `keys[i]` is its entry's fingerprint.
    private var keys: UnsafeMutablePointer<UInt64>
    private var entries: UnsafeMutablePointer<StatementInfo?>
    /// Slots - 1 (a power of two - 1); at most half the slots are used.
    private var mask: Int

    init(limit: Int) {
        self.limit = max(limit, 16)
        let slots = Self.slots(for: min(self.limit, 1024))
        mask = slots - 1
        keys = .allocate(capacity: slots)
        entries = .allocate(capacity: slots)
        entries.initialize(repeating: nil, count: slots)
    }

    deinit {
        entries.deinitialize(count: mask + 1)
        entries.deallocate()
        keys.deallocate()
    }

    /// The analysis of `text`, parsed on a miss.
    @inline(__always)
    func info(text: UnsafeRawBufferPointer, shape: StatementShape) -> StatementInfo {
        tick &+= 1
        let fingerprint = shape.fingerprint
        var slot = Self.home(of: fingerprint, mask: mask)
        while let entry = entries[slot] {
            if keys[slot] == fingerprint {
                if entry.literalCount == shape.literalCount, entry.parameterCount == shape.parameterCount {
                    hits &+= 1
                    entry.lastUse = tick
                    return entry
                }
                // Another statement with the same fingerprint: the newer one takes the slot.
                misses &+= 1
                let made = analyse(text, shape)
                entries[slot] = made
                return made
            }
            slot = (slot &+ 1) & mask
        }
        misses &+= 1
        let made = analyse(text, shape)
        if count >= limit {
            evict()
            insert(made)
        } else {
            keys[slot] = fingerprint
            entries[slot] = made
            count += 1
            if count * 2 > mask + 1, mask + 1 < Self.slots(for: limit) { rebuild(slots: (mask + 1) * 2, keeping: all()) }
        }
        return made
    }

    private func analyse(_ text: UnsafeRawBufferPointer, _ shape: StatementShape) -> StatementInfo {
        let made = StatementInfo(text: text, shape: shape)
        made.lastUse = tick
        return made
    }

    /// The slots for `entries` entries: a power of two at least twice as many.
    private static func slots(for entries: Int) -> Int {
        var slots = 32
        while slots < entries * 2 { slots *= 2 }
        return slots
    }

    /// Where probing for `fingerprint` starts. FNV-1a's low bits are its weakest, so the high
    /// half is folded in.
    @inline(__always)
    private static func home(of fingerprint: UInt64, mask: Int) -> Int {
        Int(truncatingIfNeeded: fingerprint ^ (fingerprint >> 32)) & mask
    }

    /// Every entry, in no order.
    private func all() -> [StatementInfo] {
        var kept: [StatementInfo] = []
        kept.reserveCapacity(count)
        for slot in 0...mask { if let entry = entries[slot] { kept.append(entry) } }
        return kept
    }

    /// Places `entry` (whose fingerprint is not in the table) in its first free slot.
    private func insert(_ entry: StatementInfo) {
        var slot = Self.home(of: entry.fingerprint, mask: mask)
        while entries[slot] != nil { slot = (slot &+ 1) & mask }
        keys[slot] = entry.fingerprint
        entries[slot] = entry
        count += 1
    }

    private func rebuild(slots: Int, keeping kept: [StatementInfo]) {
        entries.deinitialize(count: mask + 1)
        entries.deallocate()
        keys.deallocate()
        mask = slots - 1
        keys = .allocate(capacity: slots)
        entries = .allocate(capacity: slots)
        entries.initialize(repeating: nil, count: slots)
        count = 0
        for entry in kept { insert(entry) }
    }

    private func evict() {
        let drop = max(limit / 8, 1)
        let kept = all().sorted { $0.lastUse > $1.lastUse }.dropLast(drop)
        evictions &+= UInt64(count - kept.count)
        rebuild(slots: mask + 1, keeping: Array(kept))
    }
}
