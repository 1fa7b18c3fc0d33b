import PluginABI

/// Fills a routing context's `key_values`: the values a statement gives for the key columns of
/// its database's `[[sharded_tables]]`, read from this statement's literals or Bind parameters.
/// Owns the scratch they live in, reused by every route of one event loop.
final class ShardKeyValues {
    private(set) var values: UnsafeMutablePointer<pgproxy_key_value>
    private var capacity = 16
    private var bytes: UnsafeMutableRawPointer
    private var byteCapacity = 1024
    private var used = 0
    /// Literal ranges of the statement being routed, by ordinal.
    private var literals: [Range<Int>] = []
    /// The statement's values that are for a key column, with their table.
    private var found: [(ColumnValue, ShardedTableConfig)] = []

    init() {
        values = .allocate(capacity: capacity)
        bytes = .allocate(byteCount: byteCapacity, alignment: 1)
        literals.reserveCapacity(16)
    }

    deinit {
        values.deallocate()
        bytes.deallocate()
    }

    /// The PGPROXY_FLAG_SHARDED_TABLE / _OMNISHARDED_TABLE bits for the tables `info` names.
    static func tableFlags(_ info: StatementInfo, _ sharding: ShardingTables) -> UInt32 {
        var flags: UInt32 = 0
        for table in info.tables.strings {
            if sharding.shardedTable(named: table) != nil { flags |= PGPROXY_FLAG_SHARDED_TABLE }
            if sharding.isOmnisharded(table) { flags |= PGPROXY_FLAG_OMNISHARDED_TABLE }
        }
        return flags
    }

    /// Fills `values` for `info` (parsed from `text`); returns how many there are.
    func fill(
        _ info: StatementInfo, text: UnsafeRawBufferPointer, params: UnsafePointer<pgproxy_param>, paramCount: Int,
        sharding: ShardingTables
    ) -> Int {
        guard !info.columnValues.isEmpty, !sharding.sharded.isEmpty else { return 0 }
        found.removeAll(keepingCapacity: true)
        for value in info.columnValues {
            if let table = keyTable(of: value, info, sharding) { found.append((value, table)) }
        }
        guard !found.isEmpty else { return 0 }
        if found.count > capacity {
            values.deallocate()
            capacity = found.count
            values = .allocate(capacity: capacity)
        }
        literals.removeAll(keepingCapacity: true)
        _ = StatementShape.scan(text) { [self] range in literals.append(range) }
        // Everything the values point at goes into `bytes`: size it first, it must not move later.
        var needed = 0
        for (value, table) in found {
            needed += table.table.utf8.count + table.column.utf8.count + 1
            if case .literal(let ordinal, _) = value.source, ordinal < literals.count { needed += literals[ordinal].count + 1 }
        }
        if needed > byteCapacity {
            bytes.deallocate()
            byteCapacity = needed
            bytes = .allocate(byteCount: byteCapacity, alignment: 1)
        }
        used = 0
        for (index, (value, table)) in found.enumerated() {
            var entry = pgproxy_key_value()
            entry.table = store(table.table)
            entry.column = store(table.column)
            entry.type = table.dataType.plugin
            entry.group = value.group
            entry.row = value.row
            entry.kind = PGPROXY_VALUE_UNKNOWN
            switch value.source {
            case .literal(let ordinal, let negative) where ordinal < literals.count:
                if let literal = decodeLiteral(UnsafeRawBufferPointer(rebasing: text[literals[ordinal]]), negative: negative) {
                    entry.kind = PGPROXY_VALUE_GIVEN
                    entry.value = literal
                }
            case .parameter(let number) where number >= 1 && number <= paramCount:
                let param = params[number - 1]
                if param.value.ptr == nil {
                    entry.kind = PGPROXY_VALUE_NULL
                } else {
                    entry.kind = PGPROXY_VALUE_GIVEN
                    entry.value = param.value
                    entry.format = param.format
                }
            case .null:
                entry.kind = PGPROXY_VALUE_NULL
            default:
                break
            }
            values[index] = entry
        }
        return found.count
    }

    /// The sharded table whose key column `value` is for, if it is one.
    private func keyTable(of value: ColumnValue, _ info: StatementInfo, _ sharding: ShardingTables) -> ShardedTableConfig? {
        if let written = value.table {
            guard let table = sharding.shardedTable(named: written), table.column == value.column else { return nil }
            return table
        }
        // An unqualified column among several relations: only when exactly one is a sharded
        // table with that key column.
        var match: ShardedTableConfig?
        for written in info.tables.strings {
            guard let table = sharding.shardedTable(named: written), table.column == value.column else { continue }
            if let match, match != table { return nil }
            match = table
        }
        return match
    }

    private func store(_ string: String) -> pgproxy_str {
        var string = string
        return string.withUTF8 { store(UnsafeRawBufferPointer($0)) }
    }

    private func store(_ source: UnsafeRawBufferPointer, prefix: UInt8? = nil) -> pgproxy_str {
        let start = bytes.advanced(by: used)
        if let prefix {
            start.storeBytes(of: prefix, as: UInt8.self)
            used += 1
        }
        if source.count > 0 { bytes.advanced(by: used).copyMemory(from: source.baseAddress!, byteCount: source.count) }
        used += source.count
        return pgproxy_str(ptr: UnsafePointer(start.assumingMemoryBound(to: CChar.self)), len: source.count + (prefix == nil ? 0 : 1))
    }

    /// The value of a literal as written in SQL: a number (with its minus sign), '...' (also
    /// E'...', N'...', U&'...' is not a literal here), or $tag$...$tag$. Nil for bit strings.
    private func decodeLiteral(_ literal: UnsafeRawBufferPointer, negative: Bool) -> pgproxy_str? {
        guard let first = literal.first else { return nil }
        switch first {
        case UInt8(ascii: "'"):
            return unquote(literal, from: 1, backslashes: false)
        case UInt8(ascii: "$"):
            guard let tagEnd = literal.dropFirst().firstIndex(of: UInt8(ascii: "$")) else { return nil }
            let tag = tagEnd + 1
            guard literal.count >= 2 * tag else { return nil }
            return store(UnsafeRawBufferPointer(rebasing: literal[tag..<(literal.count - tag)]))
        case _ where first | 0x20 == UInt8(ascii: "e"):
            return unquote(literal, from: 2, backslashes: true)
        case _ where first | 0x20 == UInt8(ascii: "n"):
            return unquote(literal, from: 2, backslashes: false)
        case _ where first | 0x20 == UInt8(ascii: "x") || first | 0x20 == UInt8(ascii: "b"):
            return nil
        default:
            return store(literal, prefix: negative ? UInt8(ascii: "-") : nil)
        }
    }

    /// The contents of a quoted literal from `start` (after the opening quote) to before the
    /// closing one: '' is one quote, and with `backslashes` the common escapes are read.
    private func unquote(_ literal: UnsafeRawBufferPointer, from start: Int, backslashes: Bool) -> pgproxy_str? {
        guard literal.count >= start + 1 else { return nil }
        let begin = bytes.advanced(by: used)
        var index = start
        let end = literal.count - 1  // the closing quote
        var length = 0
        while index < end {
            var byte = literal[index]
            if byte == UInt8(ascii: "'"), index + 1 < end, literal[index + 1] == UInt8(ascii: "'") {
                index += 1
            } else if backslashes, byte == UInt8(ascii: "\\"), index + 1 < end {
                index += 1
                switch literal[index] {
                case UInt8(ascii: "n"): byte = 0x0A
                case UInt8(ascii: "t"): byte = 0x09
                case UInt8(ascii: "r"): byte = 0x0D
                case UInt8(ascii: "b"): byte = 0x08
                case UInt8(ascii: "f"): byte = 0x0C
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "x"), UInt8(ascii: "u"), UInt8(ascii: "U"):
                    return nil  // octal, hex and Unicode escapes: not decoded, so no guess either
                default: byte = literal[index]
                }
            }
            begin.advanced(by: length).storeBytes(of: byte, as: UInt8.self)
            length += 1
            index += 1
        }
        used += length
        return pgproxy_str(ptr: UnsafePointer(begin.assumingMemoryBound(to: CChar.self)), len: length)
    }
}
