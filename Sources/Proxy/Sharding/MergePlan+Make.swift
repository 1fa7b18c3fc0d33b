import SQLAnalysis

extension MergePlan {
    enum Made {
        /// The plan, and the text every shard runs instead of the client's.
        case plan(MergePlan, shardText: String)
        /// Why the answers of the shards cannot be merged into the right one.
        case refused(String)
    }

    /// The plan for `statement` (one SELECT), from a fresh parse: the text the shards run has
    /// LIMIT raised by the OFFSET and no OFFSET (both are applied after the merge), and for each
    /// avg the hidden `sum(...)` and `count(...)` it is computed from.
    static func make(_ statement: String) -> Made {
        var parsed = pgproxy_sql_merge_plan()
        let status = pgproxy_sql_merge_plan_make(statement, &parsed)
        defer { pgproxy_sql_merge_plan_free(&parsed) }
        if let refusal = parsed.refusal { return .refused(String(cString: refusal)) }
        guard status == PGPROXY_SQL_ANALYSIS_OK else { return .refused("the statement could not be analysed") }

        func text(_ pointer: UnsafeMutablePointer<CChar>?) -> String { pointer.map { String(cString: $0) } ?? "" }
        func column(_ key: pgproxy_sql_sort_key) -> ColumnRef {
            key.position > 0 ? .position(Int(key.position)) : .name(text(key.name))
        }
        let bytes = Array(statement.utf8)
        func slice(_ start: Int32, _ end: Int32) -> String? {
            guard start >= 0, end >= start, Int(end) <= bytes.count else { return nil }
            return String(decoding: bytes[Int(start)..<Int(end)], as: UTF8.self)
        }

        var plan = MergePlan(targets: [], sort: [], groupBy: [], distinct: parsed.distinct != 0,
                             limit: parsed.limit >= 0 ? parsed.limit : nil, offset: max(parsed.offset, 0), hiddenColumns: 0)
        var hidden: [String] = []
        for index in 0..<parsed.target_count {
            let target = parsed.targets[index]
            let name = text(target.name)
            switch target.kind {
            case PGPROXY_SQL_TARGET_COLUMN: plan.targets.append(.column(name: name))
            case PGPROXY_SQL_TARGET_STAR: plan.targets.append(.star)
            case PGPROXY_SQL_TARGET_COUNT: plan.targets.append(.aggregate(.count, name: name))
            case PGPROXY_SQL_TARGET_SUM: plan.targets.append(.aggregate(.sum, name: name))
            case PGPROXY_SQL_TARGET_MIN: plan.targets.append(.aggregate(.min, name: name))
            case PGPROXY_SQL_TARGET_MAX: plan.targets.append(.aggregate(.max, name: name))
            case PGPROXY_SQL_TARGET_AVG:
                guard let arguments = slice(target.arg_start, target.arg_end) else {
                    return .refused("the arguments of avg could not be read")
                }
                plan.targets.append(.aggregate(.avg, name: name))
                hidden.append("sum\(arguments), count\(arguments)")
            default: plan.targets.append(.other(name: name))
            }
        }
        for index in 0..<parsed.sort_count {
            let key = parsed.sort[index]
            plan.sort.append(SortKey(column: column(key), descending: key.descending != 0, nullsFirst: key.nulls_first != 0,
                                     bytewiseCollation: key.bytewise != 0))
        }
        for index in 0..<parsed.group_count { plan.groupBy.append(column(parsed.group_by[index])) }
        plan.hiddenColumns = 2 * hidden.count

        // Edits, applied from the end of the text so earlier positions stay right.
        var edits: [(start: Int, end: Int, text: String)] = []
        if !hidden.isEmpty {
            guard parsed.targets_end >= 0 else { return .refused("the end of the SELECT list could not be found") }
            edits.append((Int(parsed.targets_end), Int(parsed.targets_end), ", " + hidden.joined(separator: ", ")))
        }
        if let limit = plan.limit, parsed.limit_start >= 0 {
            // A shard's first limit + offset rows hold its part of the first rows overall; but
            // groups and aggregates need every row of every shard.
            let (raised, overflow) = limit.addingReportingOverflow(plan.offset)
            let whole = overflow || !plan.groupBy.isEmpty || plan.hasAggregates
            edits.append((Int(parsed.limit_start), Int(parsed.limit_end), whole ? String(Int64.max) : String(raised)))
        }
        if parsed.offset_start >= 0 {
            edits.append((Int(parsed.offset_start), Int(parsed.offset_end), "0"))
        }
        var shardBytes = bytes
        for edit in edits.sorted(by: { $0.start > $1.start }) {
            guard edit.start <= edit.end, edit.end <= shardBytes.count else { return .refused("the statement could not be rewritten for the shards") }
            shardBytes.replaceSubrange(edit.start..<edit.end, with: Array(edit.text.utf8))
        }
        return .plan(plan, shardText: String(decoding: shardBytes, as: UTF8.self))
    }
}
