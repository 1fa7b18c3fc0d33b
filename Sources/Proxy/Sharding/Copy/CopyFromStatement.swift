import SQLAnalysis

/// A `COPY table [(columns)] FROM STDIN [options]` as PostgreSQL 15 reads it: the target, the
/// column list and the data format, defaults filled in (see `pgproxy_sql_copy_from_make`).
struct CopyFromStatement {
    enum Format { case text, csv, binary }

    /// The relation as written, dotted, as `[[sharded_tables]]` entries are matched.
    var table: String
    var schema: String?
    var relation: String
    /// Empty: every column of the table, in its order.
    var columns: [String]
    var fromStdin: Bool
    var format: Format
    var delimiter: UInt8
    var quote: UInt8
    var escape: UInt8
    var nullString: [UInt8]
    /// The first line names the columns (HEADER true or MATCH).
    var header: Bool

    enum Made {
        case statement(CopyFromStatement)
        case refused(String)
    }

    static func make(_ text: String) -> Made {
        var parsed = pgproxy_sql_copy_from()
        let status = pgproxy_sql_copy_from_make(text, &parsed)
        defer { pgproxy_sql_copy_from_free(&parsed) }
        if let refusal = parsed.refusal { return .refused(String(cString: refusal)) }
        guard status == PGPROXY_SQL_ANALYSIS_OK, let table = parsed.table, let relation = parsed.relation_name else {
            return .refused("the statement could not be analysed")
        }
        var columns: [String] = []
        for index in 0..<parsed.column_count {
            if let column = parsed.columns[index] { columns.append(String(cString: column)) }
        }
        let format: Format = parsed.format == PGPROXY_SQL_COPY_CSV ? .csv : parsed.format == PGPROXY_SQL_COPY_BINARY ? .binary : .text
        return .statement(CopyFromStatement(
            table: String(cString: table), schema: parsed.schema_name.map { String(cString: $0) }, relation: String(cString: relation),
            columns: columns, fromStdin: parsed.from_stdin != 0, format: format,
            delimiter: UInt8(truncatingIfNeeded: parsed.delimiter), quote: UInt8(truncatingIfNeeded: parsed.quote),
            escape: UInt8(truncatingIfNeeded: parsed.escape),
            nullString: parsed.null_string.map { Array(String(cString: $0).utf8) } ?? [],
            header: parsed.header != 0))
    }

    /// A query answering the names of the columns COPY reads when no column list is given: the
    /// table's columns in order, without dropped and generated ones.
    var columnProbe: String {
        func identifier(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
        let qualified = (schema.map { identifier($0) + "." } ?? "") + identifier(relation)
        let literal = "'" + qualified.replacingOccurrences(of: "'", with: "''") + "'"
        return "SELECT attname FROM pg_catalog.pg_attribute WHERE attrelid = \(literal)::regclass"
            + " AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum"
    }
}
