// The `hash_sharder` routing decision. Only `decision->shard` is ever filled (or the action set
// to BLOCK), and only while the shard is undecided; role and backend are left to others.
//
// With n = shard_count > 1, in order:
//  1. shard_hint ≥ 0 (SET SHARD / a `pgproxy: shard=` comment): that shard.
//  2. sharding_key_hint (SET SHARDING KEY / `pgproxy: sharding_key=`): the shard of that value,
//     read in text form as sharding_key_type; a value PostgreSQL would refuse blocks.
//  3. key_values: each group (a condition that holds, or an INSERT's rows) gives the set of
//     shards its values hash to (NULL → shard 0); a group holding an UNKNOWN value says nothing.
//     The statement's shards are the intersection of the informative groups — one shard: that
//     shard; several: ALL; none (contradictory conditions, no row can match): the first
//     informative group's lowest shard. A value PostgreSQL would refuse blocks.
//  4. A [[sharded_tables]] table without a usable key: ALL.
//  5. An [[omnisharded_tables]] table written to (WRITE, DDL): ALL.
//  6. Otherwise undecided (the host's default applies).

import PluginABI

// The header's flag macros are `(1u << n)`; spelled out here so the code does not depend on
// which macro forms the Clang importer brings into Swift. Values are fixed by ABI 1.x.
private let flagShardedTable: UInt32 = 1 << 9
private let flagOmnishardedTable: UInt32 = 1 << 10

/// The outcome of the key values (rule 3).
enum KeyRouting {
    case undecided
    case shard(Int)
    case all
    case blocked(KeyValueError)
}

extension ShardKeyType {
    /// nil for a key type this plugin does not know (a newer host): such values are not used.
    @inline(__always)
    init?(_ type: pgproxy_key_type) {
        switch type {
        case PGPROXY_KEY_BIGINT: self = .bigint
        case PGPROXY_KEY_INTEGER: self = .integer
        case PGPROXY_KEY_SMALLINT: self = .smallint
        case PGPROXY_KEY_TEXT: self = .text
        case PGPROXY_KEY_UUID: self = .uuid
        default: return nil
        }
    }
}

@inline(__always)
func rawBytes(_ s: pgproxy_str) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(start: s.len > 0 ? UnsafeRawPointer(s.ptr) : nil, count: s.ptr == nil ? 0 : s.len)
}

final class HashSharderPlugin {
    let hasher: KeyHasher

    init(hasher: KeyHasher) {
        self.hasher = hasher
    }

    func route(
        _ context: UnsafePointer<pgproxy_route_context>, _ decision: UnsafeMutablePointer<pgproxy_route_decision>
    ) {
        let shardCount = Int(context.pointee.shard_count)
        guard shardCount > 1 else { return }

        // 1. An explicit shard (the host checks its range).
        let shardHint = context.pointee.shard_hint
        if shardHint >= 0 {
            decision.pointee.shard = shardHint
            return
        }

        // 2. An explicit sharding key.
        let keyHint = context.pointee.sharding_key_hint
        if keyHint.len > 0, keyHint.ptr != nil, let type = ShardKeyType(context.pointee.sharding_key_type) {
            do throws(KeyValueError) {
                let shard = try shardOfValue(
                    rawBytes(keyHint), binary: false, type: type, hasher: hasher, shardCount: shardCount)
                decision.pointee.shard = Int32(shard)
            } catch {
                block(decision, error)
            }
            return
        }

        // 3. Key values found in the statement.
        let valueCount = context.pointee.key_value_count
        if valueCount > 0, let values = context.pointee.key_values {
            switch routeKeyValues(UnsafeBufferPointer(start: values, count: valueCount), shardCount: shardCount) {
            case .shard(let shard):
                decision.pointee.shard = Int32(shard)
                return
            case .all:
                decision.pointee.shard = PGPROXY_SHARD_ALL
                if let rowShards = decision.pointee.row_shards, decision.pointee.row_count > 0 {
                    assignRows(UnsafeBufferPointer(start: values, count: valueCount),
                               UnsafeMutableBufferPointer(start: rowShards, count: decision.pointee.row_count), shardCount: shardCount)
                }
                return
            case .blocked(let error):
                block(decision, error)
                return
            case .undecided:
                break
            }
        }

        // 4, 5. Tables that live on every shard.
        let flags = context.pointee.flags
        if flags & flagShardedTable != 0 {
            decision.pointee.shard = PGPROXY_SHARD_ALL
            return
        }
        let kind = context.pointee.kind
        if flags & flagOmnishardedTable != 0 && (kind == PGPROXY_STMT_WRITE || kind == PGPROXY_STMT_DDL) {
            decision.pointee.shard = PGPROXY_SHARD_ALL
        }
    }

    /// The shard of each row of a multi-row INSERT whose rows are on several shards (the host
    /// splits it); a row whose key cannot be read stays undecided.
    func assignRows(_ values: UnsafeBufferPointer<pgproxy_key_value>, _ rows: UnsafeMutableBufferPointer<Int32>, shardCount: Int) {
        for value in values {
            let row = Int(value.row)
            guard row >= 0, row < rows.count else { continue }
            switch value.kind {
            case PGPROXY_VALUE_GIVEN:
                guard let type = ShardKeyType(value.type),
                      let shard = try? shardOfValue(rawBytes(value.value), binary: value.format == 1, type: type, hasher: hasher, shardCount: shardCount)
                else { continue }
                rows[row] = Int32(shard)
            case PGPROXY_VALUE_NULL:
                rows[row] = 0
            default:
                continue
            }
        }
    }

    /// Rule 3. Groups are usually contiguous runs in ascending order (checked first: one linear
    /// pass); otherwise each group is gathered from its first appearance on (quadratic, but only
    /// for hosts that interleave groups).
    func routeKeyValues(_ values: UnsafeBufferPointer<pgproxy_key_value>, shardCount: Int) -> KeyRouting {
        var sortedRuns = true
        for i in values.indices.dropFirst() where values[i].group < values[i - 1].group {
            sortedRuns = false
            break
        }
        let hasher = self.hasher
        return withShardBitsets(shardCount: shardCount) { groupShards, statementShards in
            var haveInformativeGroup = false
            var firstGroupLowest = 0
            var start = 0
            while start < values.count {
                let group = values[start].group
                if !sortedRuns && values[..<start].contains(where: { $0.group == group }) {
                    start += 1  // gathered already, from its first appearance
                    continue
                }
                groupShards.removeAll()
                var informative = true
                var i = start
                while i < values.count {
                    let value = values[i]
                    if value.group != group {
                        if sortedRuns { break }
                        i += 1
                        continue
                    }
                    i += 1
                    switch value.kind {
                    case PGPROXY_VALUE_GIVEN:
                        // Every given value is read, even in a group that says nothing: a value
                        // PostgreSQL would refuse makes the statement fail there too.
                        guard let type = ShardKeyType(value.type) else {
                            informative = false
                            continue
                        }
                        do throws(KeyValueError) {
                            groupShards.insert(try shardOfValue(
                                rawBytes(value.value), binary: value.format == 1, type: type,
                                hasher: hasher, shardCount: shardCount))
                        } catch {
                            return .blocked(error)
                        }
                    case PGPROXY_VALUE_NULL:
                        groupShards.insert(0)  // a NULL key's row hash is 0
                    default:
                        informative = false  // UNKNOWN: any shard
                    }
                }
                if informative {
                    if haveInformativeGroup {
                        statementShards.formIntersection(groupShards)
                    } else {
                        statementShards.assign(groupShards)
                        firstGroupLowest = groupShards.lowest ?? 0
                        haveInformativeGroup = true
                    }
                }
                start = sortedRuns ? i : start + 1
            }
            guard haveInformativeGroup else { return .undecided }
            switch statementShards.cardinalityUpToTwo {
            case 0: return .shard(firstGroupLowest)  // contradictory conditions: no row matches
            case 1: return .shard(statementShards.lowest ?? firstGroupLowest)
            default: return .all
            }
        }
    }
}

/// Refuses the statement with `error`'s SQLSTATE and message (cut to fit, at a UTF-8 boundary).
/// The message is PostgreSQL's own wording, unprefixed: the client sees what the server would
/// have said about the value.
func block(_ decision: UnsafeMutablePointer<pgproxy_route_decision>, _ error: KeyValueError) {
    decision.pointee.action = PGPROXY_ACTION_BLOCK
    copyCString(error.sqlstate, into: &decision.pointee.error_sqlstate)
    copyCString(error.message, into: &decision.pointee.error_message)
}

/// Copies `text` into a fixed C char array (imported as a tuple), NUL-terminated.
func copyCString<T>(_ text: String, into field: inout T) {
    withUnsafeMutableBytes(of: &field) { buffer in
        guard buffer.count > 0 else { return }
        var utf8 = Array(text.utf8)
        if utf8.count > buffer.count - 1 {
            var cut = buffer.count - 1
            while cut > 0 && utf8[cut] & 0xC0 == 0x80 { cut -= 1 }  // don't split a character
            utf8.removeSubrange(cut...)
        }
        for (i, byte) in utf8.enumerated() { buffer[i] = byte }
        buffer[utf8.count] = 0
    }
}
