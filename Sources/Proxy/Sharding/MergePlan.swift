/// How the answers of several shards to one SELECT become the one answer the client gets: made
/// from the statement's parse (`pgproxy_sql_merge_plan_make`), used by `ShardResultMerger`.
struct MergePlan: Sendable, Equatable {
    enum Aggregate: Sendable, Equatable { case count, sum, min, max, avg }

    /// One entry of the SELECT list, in order.
    enum Target: Sendable, Equatable {
        /// A plain column reference: rows pass it through (compared for GROUP BY / ORDER BY).
        case column(name: String)
        /// `*` or `t.*`: any number of plain columns (only without aggregates).
        case star
        /// count/sum/min/max/avg(...). For `.avg` the shards also return two hidden columns at
        /// the end of each row (`sum(arg)` then `count(arg)`, see `hiddenColumns`).
        case aggregate(Aggregate, name: String)
        /// Any other expression (passed through like a column; not allowed with aggregates).
        case other(name: String)
    }

    /// A column of the result, by name (matched against the RowDescription) or 1-based position.
    enum ColumnRef: Sendable, Equatable {
        case name(String)
        case position(Int)
    }

    struct SortKey: Sendable, Equatable {
        var column: ColumnRef
        var descending: Bool
        /// As PostgreSQL: NULLs sort as larger than everything, so first when descending,
        /// unless NULLS FIRST/LAST says otherwise.
        var nullsFirst: Bool
        /// `COLLATE "C"` (or "POSIX", "ucs_basic"): text compares bytewise. Nil: the column's own.
        var bytewiseCollation: Bool
    }

    var targets: [Target]
    var sort: [SortKey]
    var groupBy: [ColumnRef]
    var distinct: Bool
    /// LIMIT / OFFSET of the statement, applied after the merge (the shards get LIMIT
    /// limit + offset and no OFFSET).
    var limit: Int64?
    var offset: Int64
    /// Columns the shards return beyond the client's (2 per avg), at the end of each row.
    var hiddenColumns: Int

    var hasAggregates: Bool {
        targets.contains { if case .aggregate = $0 { return true } else { return false } }
    }
}
