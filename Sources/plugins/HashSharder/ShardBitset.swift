// A set of shard numbers as a bitset over borrowed memory. `withShardBitsets` hands out
// zeroed sets on the stack for up to `inlineShardLimit` shards — the per-statement path does
// not allocate — and falls back to the heap beyond that. Pure code.

/// Shards a bitset holds without touching the heap.
let inlineShardLimit = 1024

struct ShardBitset {
    /// One bit per shard, shard s at bit s % 64 of word s / 64.
    let words: UnsafeMutableBufferPointer<UInt64>

    @inline(__always)
    func removeAll() {
        for i in words.indices { words[i] = 0 }
    }

    /// `shard` must be below 64 × words.count.
    @inline(__always)
    func insert(_ shard: Int) {
        words[shard >> 6] |= 1 << UInt64(shard & 63)
    }

    @inline(__always)
    func contains(_ shard: Int) -> Bool {
        words[shard >> 6] & (1 << UInt64(shard & 63)) != 0
    }

    @inline(__always)
    func formIntersection(_ other: ShardBitset) {
        for i in words.indices { words[i] &= other.words[i] }
    }

    @inline(__always)
    func assign(_ other: ShardBitset) {
        for i in words.indices { words[i] = other.words[i] }
    }

    /// The lowest shard in the set, or nil when it is empty.
    var lowest: Int? {
        for i in words.indices where words[i] != 0 {
            return (i << 6) + words[i].trailingZeroBitCount
        }
        return nil
    }

    /// 0, 1, or 2 meaning "two or more" (all a router needs to know).
    var cardinalityUpToTwo: Int {
        var seen = 0
        for word in words where word != 0 {
            seen += word & (word &- 1) == 0 ? 1 : 2
            if seen >= 2 { return 2 }
        }
        return seen
    }
}

/// Calls `body` with two empty bitsets, each able to hold shards 0..<shardCount.
func withShardBitsets<R>(shardCount: Int, _ body: (ShardBitset, ShardBitset) -> R) -> R {
    let wordCount = max(1, (shardCount + 63) >> 6)
    if shardCount <= inlineShardLimit {
        // 2 × 16 words, zero-initialised, on the stack.
        var storage: (
            UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
            UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
            UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
            UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64
        ) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        return withUnsafeMutableBytes(of: &storage) { raw in
            let all = raw.bindMemory(to: UInt64.self)
            let first = UnsafeMutableBufferPointer(rebasing: all[0..<wordCount])
            let second = UnsafeMutableBufferPointer(rebasing: all[16..<16 + wordCount])
            return body(ShardBitset(words: first), ShardBitset(words: second))
        }
    }
    let heap = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: 2 * wordCount)
    heap.initialize(repeating: 0)
    defer { heap.deallocate() }
    return body(
        ShardBitset(words: UnsafeMutableBufferPointer(rebasing: heap[0..<wordCount])),
        ShardBitset(words: UnsafeMutableBufferPointer(rebasing: heap[wordCount..<2 * wordCount])))
}
