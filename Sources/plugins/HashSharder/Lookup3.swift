// PostgreSQL's hash-partitioning hash, reproduced bit for bit (PostgreSQL 15 on a little-endian
// machine): Bob Jenkins' lookup3 as src/common/hashfn.c has it (`hash_bytes_extended`,
// `hash_bytes_uint32_extended`), the per-type "extended" hash support functions of the hash
// operator classes (int2/int4/int8, text/varchar, uuid), and `compute_partition_hash_value`'s
// seed and combination (src/backend/partitioning/partbounds.c).
//
// A row with key k goes to the partition whose remainder is `partitionRowHash(...) % modulus`.
// Pure code: nothing here depends on the plugin ABI.

/// `HASH_PARTITION_SEED`: the seed PostgreSQL passes to the extended hash functions when it
/// places a row in a hash partition.
let hashPartitionSeed: UInt64 = 0x7A5B_2236_7996_DCFD

/// `hash_combine64(a, b)`: how PostgreSQL folds each key column's hash into the row hash.
@inline(__always)
func hashCombine64(_ a: UInt64, _ b: UInt64) -> UInt64 {
    a ^ (b &+ 0x49a0_f4dd_15e5_a8e3 &+ (a << 54) &+ (a >> 7))
}

/// The row hash of a one-column key whose column hash is `h` (a NULL key's row hash is 0).
@inline(__always)
func partitionRowHash(columnHash h: UInt64) -> UInt64 {
    hashCombine64(0, h)
}

// MARK: - Per-type extended hashes (seeded)

/// `hashint2extended` / `hashint4extended`: the value, sign-extended to 32 bits.
@inline(__always)
func hashInt32Extended(_ value: Int32, seed: UInt64) -> UInt64 {
    hashUInt32Extended(UInt32(bitPattern: value), seed: seed)
}

/// `hashint8extended`: folds the high half into the low half so that a value fitting in 32 bits
/// hashes like the same int4 (cross-type hash opfamily).
@inline(__always)
func hashInt64Extended(_ value: Int64, seed: UInt64) -> UInt64 {
    var lohalf = UInt32(truncatingIfNeeded: value)
    let hihalf = UInt32(truncatingIfNeeded: value >> 32)
    lohalf ^= value >= 0 ? hihalf : ~hihalf
    return hashUInt32Extended(lohalf, seed: seed)
}

// `hashtextextended` (deterministic collation) and `uuid_hash_extended` are both
// `hash_any_extended` over the raw bytes: use `hashBytesExtended` directly.

// MARK: - lookup3

@inline(__always)
private func rot(_ x: UInt32, _ k: UInt32) -> UInt32 {
    (x << k) | (x >> (32 &- k))
}

@inline(__always)
private func mix(_ a: inout UInt32, _ b: inout UInt32, _ c: inout UInt32) {
    a &-= c; a ^= rot(c, 4); c &+= b
    b &-= a; b ^= rot(a, 6); a &+= c
    c &-= b; c ^= rot(b, 8); b &+= a
    a &-= c; a ^= rot(c, 16); c &+= b
    b &-= a; b ^= rot(a, 19); a &+= c
    c &-= b; c ^= rot(b, 4); b &+= a
}

@inline(__always)
private func finalMix(_ a: inout UInt32, _ b: inout UInt32, _ c: inout UInt32) {
    c ^= b; c &-= rot(b, 14)
    a ^= c; a &-= rot(c, 11)
    b ^= a; b &-= rot(a, 25)
    c ^= b; c &-= rot(b, 16)
    a ^= c; a &-= rot(c, 4)
    b ^= a; b &-= rot(a, 14)
    c ^= b; c &-= rot(b, 24)
}

/// Little-endian 32-bit word at `offset` (unaligned).
@inline(__always)
private func le32(_ k: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
    UInt32(k[offset]) | UInt32(k[offset + 1]) << 8 | UInt32(k[offset + 2]) << 16
        | UInt32(k[offset + 3]) << 24
}

/// `hash_bytes_extended(k, len, seed)`: the 64-bit lookup3 hash of a byte string.
func hashBytesExtended(_ k: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
    var len = k.count
    var a = 0x9e37_79b9 &+ UInt32(truncatingIfNeeded: len) &+ 3_923_095
    var b = a
    var c = a
    if seed != 0 {
        a &+= UInt32(truncatingIfNeeded: seed >> 32)
        b &+= UInt32(truncatingIfNeeded: seed)
        mix(&a, &b, &c)
    }
    var offset = 0
    while len >= 12 {
        a &+= le32(k, offset)
        b &+= le32(k, offset + 4)
        c &+= le32(k, offset + 8)
        mix(&a, &b, &c)
        offset += 12
        len -= 12
    }
    // The last 0...11 bytes; the lowest byte of c is left out (lookup3 reserves it for the length).
    if len >= 11 { c &+= UInt32(k[offset + 10]) << 24 }
    if len >= 10 { c &+= UInt32(k[offset + 9]) << 16 }
    if len >= 9 { c &+= UInt32(k[offset + 8]) << 8 }
    if len >= 8 { b &+= UInt32(k[offset + 7]) << 24 }
    if len >= 7 { b &+= UInt32(k[offset + 6]) << 16 }
    if len >= 6 { b &+= UInt32(k[offset + 5]) << 8 }
    if len >= 5 { b &+= UInt32(k[offset + 4]) }
    if len >= 4 { a &+= UInt32(k[offset + 3]) << 24 }
    if len >= 3 { a &+= UInt32(k[offset + 2]) << 16 }
    if len >= 2 { a &+= UInt32(k[offset + 1]) << 8 }
    if len >= 1 { a &+= UInt32(k[offset]) }
    finalMix(&a, &b, &c)
    return UInt64(b) << 32 | UInt64(c)
}

/// `hash_bytes_uint32_extended(k, seed)`: lookup3 of one 32-bit word.
func hashUInt32Extended(_ k: UInt32, seed: UInt64) -> UInt64 {
    var a: UInt32 = 0x9e37_79b9 &+ 4 &+ 3_923_095
    var b = a
    var c = a
    if seed != 0 {
        a &+= UInt32(truncatingIfNeeded: seed >> 32)
        b &+= UInt32(truncatingIfNeeded: seed)
        mix(&a, &b, &c)
    }
    a &+= k
    finalMix(&a, &b, &c)
    return UInt64(b) << 32 | UInt64(c)
}
