// From a key value's bytes to a shard: parse (KeyParsing.swift), hash with the configured
// hasher, take the remainder. Allocation-free unless the value is refused. Pure code.

/// How keys are hashed (`hasher` setting).
enum KeyHasher {
    /// Bit-exact with PostgreSQL's `PARTITION BY HASH` on one key column: shard i holds what
    /// the partition `FOR VALUES WITH (MODULUS n, REMAINDER i)` would hold.
    case postgres
    /// SHA-1 of the key's canonical text; the first 8 digest bytes, big-endian, modulo n.
    case sha1

    var name: String {
        switch self {
        case .postgres: return "postgres"
        case .sha1: return "sha1"
        }
    }
}

/// A key value read from its Bind/literal bytes.
enum ParsedKey {
    case integer(Int64)
    case text(UnsafeRawBufferPointer)  // borrowed from the input: use during the call only
    case uuid(UUIDValue)
}

/// Reads `value` (text form, or binary when `binary`) as a key of type `type`.
@inline(__always)
func parseKey(_ value: UnsafeRawBufferPointer, binary: Bool, type: ShardKeyType) throws(KeyValueError) -> ParsedKey {
    switch type {
    case .bigint, .integer, .smallint:
        return .integer(binary ? try parseIntegerBinary(value, as: type) : try parseIntegerText(value, as: type))
    case .text:
        return .text(value)
    case .uuid:
        return .uuid(binary ? try parseUUIDBinary(value) : try parseUUIDText(value))
    }
}

/// The 64-bit hash whose remainder modulo the shard count is the key's shard (a NULL key's
/// hash is 0 for both hashers).
func keyHash(_ key: ParsedKey, type: ShardKeyType, hasher: KeyHasher) -> UInt64 {
    switch hasher {
    case .postgres:
        let columnHash: UInt64
        switch key {
        case .integer(let v):
            // int2/int4 hash the value widened to int4; int8 folds its halves. For values in the
            // int4 range both give the same hash (PostgreSQL's integer_ops opfamily).
            columnHash = type == .bigint
                ? hashInt64Extended(v, seed: hashPartitionSeed)
                : hashInt32Extended(Int32(truncatingIfNeeded: v), seed: hashPartitionSeed)
        case .text(let bytes):
            columnHash = hashBytesExtended(bytes, seed: hashPartitionSeed)
        case .uuid(let uuid):
            columnHash = withUnsafeBytes(of: uuid.bytes) { hashBytesExtended($0, seed: hashPartitionSeed) }
        }
        return partitionRowHash(columnHash: columnHash)
    case .sha1:
        return withCanonicalText(key) { sha1($0).prefix64 }
    }
}

/// The shard of a key among `shardCount` (> 0) shards.
@inline(__always)
func shard(ofHash hash: UInt64, shardCount: Int) -> Int {
    Int(hash % UInt64(shardCount))
}

/// Parses and hashes in one go: the shard of `value` read as `type`.
@inline(__always)
func shardOfValue(
    _ value: UnsafeRawBufferPointer, binary: Bool, type: ShardKeyType, hasher: KeyHasher, shardCount: Int
) throws(KeyValueError) -> Int {
    let key = try parseKey(value, binary: binary, type: type)
    return shard(ofHash: keyHash(key, type: type, hasher: hasher), shardCount: shardCount)
}

// MARK: - Canonical text (sha1)

private let hexDigits: StaticString = "0123456789abcdef"

/// Calls `body` with the key's canonical text: integers in decimal (no '+', no leading zeros),
/// uuids as lower-case 8-4-4-4-12, text as its bytes. The text lives on the stack.
func withCanonicalText<R>(_ key: ParsedKey, _ body: (UnsafeRawBufferPointer) -> R) -> R {
    switch key {
    case .text(let bytes):
        return body(bytes)
    case .integer(let v):
        var buffer: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes ≥ "-9223372036854775808"
        return withUnsafeMutableBytes(of: &buffer) { out in
            var magnitude = v.magnitude
            var start = out.count
            repeat {
                start -= 1
                out[start] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude != 0
            if v < 0 { start -= 1; out[start] = UInt8(ascii: "-") }
            return body(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(out)[start...]))
        }
    case .uuid(let uuid):
        var buffer: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)  // 40 bytes ≥ 36
        return withUnsafeMutableBytes(of: &buffer) { out in
            withUnsafeBytes(of: uuid.bytes) { bytes in
                let digits = UnsafeRawBufferPointer(start: hexDigits.utf8Start, count: 16)
                var o = 0
                for i in 0..<16 {
                    if i == 4 || i == 6 || i == 8 || i == 10 { out[o] = UInt8(ascii: "-"); o += 1 }
                    out[o] = digits[Int(bytes[i] >> 4)]
                    out[o + 1] = digits[Int(bytes[i] & 15)]
                    o += 2
                }
            }
            return body(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(out)[0..<36]))
        }
    }
}
