import Foundation
import PluginABI
import SQLAnalysis

/// What routing needs to know about one statement shape, from libpg_query's parse: the kind,
/// the flags, and the command tags, tables and functions, held as C arrays so a plugin context
/// can point at them without copying. Made on a cache miss, immutable after.
final class StatementInfo {
    let kind: pgproxy_statement_kind
    let flags: UInt32
    let statementCount: Int
    let commands: CStringList
    let tables: CStringList
    let functions: CStringList
    /// libpg_query's message when the statement did not parse.
    let parseError: String?
    /// The shape's fingerprint (the routing cache's key), and details to tell a fingerprint
    /// collision from a hit.
    let fingerprint: UInt64
    let literalCount: Int
    let parameterCount: Int
    /// Values the statement gives for columns where they pick its rows (for sharding keys).
    let columnValues: [ColumnValue]
    /// Cache bookkeeping: the router's tick when last used.
    var lastUse: UInt64 = 0

    /// Parses `text` (UTF-8, without a trailing NUL).
    init(text: UnsafeRawBufferPointer, shape: StatementShape) {
        var analysis = pgproxy_sql_analysis()
        let query = String(decoding: text, as: UTF8.self)
        _ = pgproxy_sql_analyze(query, &analysis)
        defer { pgproxy_sql_analysis_free(&analysis) }
        kind = pgproxy_statement_kind(rawValue: UInt32(bitPattern: analysis.kind))
        flags = analysis.flags
        statementCount = Int(analysis.statement_count)
        commands = CStringList(analysis.commands, count: analysis.command_count)
        tables = CStringList(analysis.tables, count: analysis.table_count)
        functions = CStringList(analysis.functions, count: analysis.function_count)
        parseError = analysis.error.map { String(cString: $0) }
        fingerprint = shape.fingerprint
        literalCount = shape.literalCount
        parameterCount = shape.parameterCount
        columnValues = ColumnValue.read(analysis.values, count: analysis.value_count, text: text)
    }

    var isWrite: Bool { kind == PGPROXY_STMT_WRITE || kind == PGPROXY_STMT_DDL }

    /// Runs `body` with libpg_query's protobuf parse tree of `text` (empty when it does not
    /// parse), for plugins that asked for it. Parsed afresh each time: the tree holds the
    /// statement's literals, which the shape cache does not key on.
    static func withParseTree<R>(of text: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        var analysis = pgproxy_sql_analysis()
        _ = pgproxy_sql_analyze_with_tree(String(decoding: text, as: UTF8.self), &analysis)
        defer { pgproxy_sql_analysis_free(&analysis) }
        return body(UnsafeRawBufferPointer(start: analysis.parse_tree, count: analysis.parse_tree == nil ? 0 : analysis.parse_tree_len))
    }

    func has(_ flag: UInt32) -> Bool { flags & flag != 0 }
}

extension pgproxy_route_context {
    /// The statement's kind, command tags, tables and functions from `info` (the arrays are
    /// `info`'s: valid while it lives). Flags are the caller's: it adds its own.
    @inline(__always)
    mutating func describe(_ info: StatementInfo) {
        kind = info.kind
        commands = UnsafePointer(info.commands.items)
        command_count = info.commands.count
        tables = UnsafePointer(info.tables.items)
        table_count = info.tables.count
        functions = UnsafePointer(info.functions.items)
        function_count = info.functions.count
    }
}

/// A value a statement gives for a column (see `pgproxy_sql_column_value`), with its literal
/// named by its place among the statement's literals, so statements of one shape share it.
struct ColumnValue {
    enum Source: Equatable {
        /// The statement's `ordinal`-th literal (0-based, as `StatementShape.scan` counts them).
        case literal(ordinal: Int, negative: Bool)
        /// Bind parameter `$n` (1-based).
        case parameter(Int)
        case null
        case unknown
    }

    /// As written, or nil when the column could belong to several relations.
    var table: String?
    var column: String
    var group: Int32
    var row: Int32
    var source: Source

    static func read(_ values: UnsafeMutablePointer<pgproxy_sql_column_value>?, count: Int, text: UnsafeRawBufferPointer) -> [ColumnValue] {
        guard let values, count > 0 else { return [] }
        // Literal ordinals by where each literal starts.
        var ordinals: [Int: Int] = [:]
        _ = StatementShape.scan(text) { range in ordinals[range.lowerBound] = ordinals.count }
        var made: [ColumnValue] = []
        made.reserveCapacity(count)
        for index in 0..<count {
            let value = values[index]
            guard let column = value.column else { continue }
            let source: Source
            switch value.kind {
            case PGPROXY_SQL_VALUE_LITERAL:
                if let ordinal = ordinals[Int(value.location)] {
                    source = .literal(ordinal: ordinal, negative: value.negative != 0)
                } else {
                    source = .unknown  // not a literal the shape scan knows: never guess
                }
            case PGPROXY_SQL_VALUE_PARAM: source = .parameter(Int(value.param))
            case PGPROXY_SQL_VALUE_NULL: source = .null
            default: source = .unknown
            }
            made.append(ColumnValue(
                table: value.table.map { String(cString: $0) }, column: String(cString: column),
                group: value.group, row: value.row, source: source))
        }
        return made
    }
}

/// An owned array of `pgproxy_str`, each pointing into one owned block of bytes.
final class CStringList {
    let items: UnsafeMutablePointer<pgproxy_str>?
    let count: Int
    private let storage: UnsafeMutableRawPointer?
    /// The same strings, for Swift callers (SHOW and tests).
    let strings: [String]

    init(_ source: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, count: Int) {
        var strings: [String] = []
        if let source {
            for index in 0..<count { if let item = source[index] { strings.append(String(cString: item)) } }
        }
        self.strings = strings
        self.count = strings.count
        let total = strings.reduce(0) { $0 + $1.utf8.count }
        guard !strings.isEmpty else {
            items = nil
            storage = nil
            return
        }
        let block = UnsafeMutableRawPointer.allocate(byteCount: max(total, 1), alignment: 1)
        let array = UnsafeMutablePointer<pgproxy_str>.allocate(capacity: strings.count)
        var offset = 0
        for (index, string) in strings.enumerated() {
            let bytes = Array(string.utf8)
            bytes.withUnsafeBytes { block.advanced(by: offset).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
            array[index] = pgproxy_str(ptr: UnsafePointer(block.advanced(by: offset).assumingMemoryBound(to: CChar.self)), len: bytes.count)
            offset += bytes.count
        }
        items = array
        storage = block
    }

    deinit {
        items?.deallocate()
        storage?.deallocate()
    }
}
