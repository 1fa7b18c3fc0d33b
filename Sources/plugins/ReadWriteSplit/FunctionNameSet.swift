import PluginABI

/// A fixed set of lower-case function names, looked up straight from a `pgproxy_str` without
/// allocating: an open-addressing table keyed by a 64-bit hash of the ASCII-lower-cased bytes
/// (taken 8 bytes at a time), each hit confirmed by comparing the bytes. Built once and
/// read-only afterwards, so any number of threads may query it. Memory is manual
/// (`deallocate()`), which keeps lookups free of ARC traffic.
struct FunctionNameSet {
    private struct Slot {
        var hash: UInt64
        var offset: UInt32
        var length: UInt32  // 0: empty slot (empty names are never stored)
    }

    private let slots: UnsafeMutablePointer<Slot>
    private let mask: Int
    private let bytes: UnsafeMutablePointer<UInt8>
    /// Distinct names stored.
    let count: Int

    init(_ names: [String]) {
        var unique: [[UInt8]] = []
        var seen = Set<[UInt8]>()
        for name in names {
            let lowered = name.utf8.map { $0 &- 0x41 < 26 ? $0 | 0x20 : $0 }
            if !lowered.isEmpty && seen.insert(lowered).inserted { unique.append(lowered) }
        }
        count = unique.count

        var capacity = 16
        while capacity < unique.count * 4 { capacity <<= 1 }  // load ≤ 1/4: short probe runs
        mask = capacity - 1
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: Slot(hash: 0, offset: 0, length: 0), count: capacity)

        let total = unique.reduce(0) { $0 + $1.count }
        bytes = .allocate(capacity: max(total, 1))
        var offset = 0
        for name in unique {
            let stored = bytes + offset
            name.withUnsafeBufferPointer { stored.initialize(from: $0.baseAddress!, count: $0.count) }
            let hash = hashName(stored, name.count)
            var i = Self.index(hash) & mask
            while slots[i].length != 0 { i = (i + 1) & mask }
            slots[i] = Slot(hash: hash, offset: UInt32(offset), length: UInt32(name.count))
            offset += name.count
        }
    }

    func deallocate() {
        slots.deallocate()
        bytes.deallocate()
    }

    /// Whether the function named by `name` (as the host reports it: lower-case, qualified when
    /// written so) is known not to write. A "pg_catalog."-qualified name is looked up by what
    /// follows the qualifier; any name is also looked up in full, so users can list
    /// "myschema.f". Any other qualifier names a user function: not known unless listed in full.
    @inline(__always)
    func isKnownReadOnly(_ name: pgproxy_str) -> Bool {
        guard let raw = name.ptr, name.len > 0 else { return false }
        let p = UnsafeRawPointer(raw).assumingMemoryBound(to: UInt8.self)
        let length = name.len
        if length > 11 && loweredWord(p, 8) == pgCatalPrefix && loweredWord(p + 8, 3) == ogDotSuffix {
            let rest = p + 11
            if contains(rest, length - 11, hash: hashName(rest, length - 11)) { return true }
        }
        return contains(p, length, hash: hashName(p, length))
    }

    @inline(__always)
    private func contains(_ p: UnsafePointer<UInt8>, _ length: Int, hash: UInt64) -> Bool {
        var i = Self.index(hash) & mask
        while true {
            let slot = slots[i]
            if slot.length == 0 { return false }
            if slot.hash == hash && Int(slot.length) == length
                && equalLowered(p, bytes + Int(slot.offset), length) {
                return true
            }
            i = (i + 1) & mask
        }
    }

    @inline(__always)
    private static func index(_ hash: UInt64) -> Int {
        Int(truncatingIfNeeded: hash ^ (hash >> 32))
    }
}

/// "pg_catal" and "og." as little-endian words.
private let pgCatalPrefix: UInt64 = 0x6c61_7461_635f_6770
private let ogDotSuffix: UInt64 = 0x2e_676f

/// `min(n, 8)` bytes at `p` as a little-endian word (zero-padded), A-Z lower-cased. Never
/// reads past `p + n`.
@inline(__always)
private func loweredWord(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
    let raw = UnsafeRawPointer(p)
    let w: UInt64
    if n >= 8 {
        w = UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self))
    } else if n >= 4 {
        // Two overlapping 4-byte loads; the overlap holds the same bytes, so OR is exact.
        let first = UInt64(UInt32(littleEndian: raw.loadUnaligned(as: UInt32.self)))
        let last = UInt64(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self)))
        w = first | last &<< UInt64((n - 4) &* 8)
    } else {
        // 1...3 bytes: first, middle and last (some coincide).
        w = UInt64(p[0]) | UInt64(p[n &>> 1]) &<< UInt64((n &>> 1) &* 8)
            | UInt64(p[n - 1]) &<< UInt64((n - 1) &* 8)
    }
    // SWAR: set bit 5 in every byte 0x41...0x5A (bytes ≥ 0x80 are left alone).
    let low7 = w & 0x7f7f_7f7f_7f7f_7f7f
    let atLeastA = low7 &+ 0x3f3f_3f3f_3f3f_3f3f     // high bit set where byte ≥ 0x41
    let pastZ = low7 &+ 0x2525_2525_2525_2525        // high bit set where byte ≥ 0x5B
    let upper = atLeastA & ~pastZ & ~w & 0x8080_8080_8080_8080
    return w | (upper &>> 2)
}

/// A 64-bit hash of the lower-cased bytes, 8 at a time.
@inline(__always)
private func hashName(_ p: UnsafePointer<UInt8>, _ length: Int) -> UInt64 {
    var hash: UInt64 = 0x9e37_79b9_7f4a_7c15 ^ UInt64(length)
    var i = 0
    while i < length {
        hash = (hash ^ loweredWord(p + i, length - i)) &* 0xff51_afd7_ed55_8ccd
        hash ^= hash &>> 29
        i += 8
    }
    return hash
}

/// Whether `length` bytes at `p` equal the (lower-case) `stored` bytes, ignoring A-Z case in `p`.
@inline(__always)
private func equalLowered(_ p: UnsafePointer<UInt8>, _ stored: UnsafePointer<UInt8>, _ length: Int) -> Bool {
    var i = 0
    while i < length {
        if loweredWord(p + i, length - i) != loweredWord(stored + i, length - i) { return false }
        i += 8
    }
    return true
}
