import NIOCore

/// Merges the answers of every shard to one SELECT into the one answer the client gets, as
/// `MergePlan` says: rows concatenated, or grouped with their aggregates combined; then
/// DISTINCT, ORDER BY, OFFSET and LIMIT. Refuses (with the reason) whatever it cannot merge
/// into exactly the answer one server holding all the rows would give.
enum ShardResultMerger {
    /// Writes RowDescription, the merged DataRows and CommandComplete "SELECT n" into `out` (no
    /// ReadyForQuery), or returns the error that says why the answers cannot be merged (then
    /// writes nothing).
    static func merge(_ answers: [ShardAnswer], plan: MergePlan, textOrderIsBytewise: Bool, into out: inout ByteBuffer) -> ErrorFields? {
        switch mergedAnswer(answers, plan: plan, textOrderIsBytewise: textOrderIsBytewise) {
        case .failure(let error):
            return ErrorFields(.error, error.sqlState, error.message)
        case .success(.command(let tag)):
            out.writeCommandComplete(tag)
        case .success(.rows(let fields, let rows)):
            out.writeRowDescription(fields: fields)
            for row in rows { out.writeDataRow(values: row) }
            out.writeCommandComplete("SELECT \(rows.count)")
        }
        return nil
    }

    enum Merged {
        /// A statement without a result set: only its CommandComplete tag.
        case command(String)
        case rows([FieldDescription], [[ByteBuffer?]])
    }

    static func mergedAnswer(_ answers: [ShardAnswer], plan: MergePlan, textOrderIsBytewise: Bool) -> Result<Merged, SQLValueError> {
        guard let first = answers.first else { return .failure(internalError("no shard answered the statement")) }
        if answers.allSatisfy({ $0.fields.isEmpty }) {
            guard answers.allSatisfy({ $0.rows.isEmpty }) else {
                return .failure(refusal("a result without columns cannot be merged across shards"))
            }
            if let shard = answers.firstIndex(where: { $0.commandTag != first.commandTag }) {
                return .failure(refusal("the shards completed the statement differently (\"\(first.commandTag)\" on shard 1, \"\(answers[shard].commandTag)\" on shard \(shard + 1)), so their answers cannot be merged into one"))
            }
            return .success(.command(first.commandTag))
        }
        if let error = checkMetadata(answers) { return .failure(error) }
        let fields = first.fields
        guard plan.hiddenColumns >= 0, plan.hiddenColumns <= fields.count else {
            return .failure(internalError("the merge plan expects \(plan.hiddenColumns) hidden columns but the shards returned \(fields.count) columns"))
        }
        let visibleFields = Array(fields.prefix(fields.count - plan.hiddenColumns))
        guard plan.offset >= 0, (plan.limit ?? 0) >= 0 else {
            return .failure(internalError("the merge plan has a negative LIMIT or OFFSET"))
        }
        let aggregated = plan.hasAggregates || !plan.groupBy.isEmpty
        if plan.hiddenColumns > 0 && !aggregated {
            return .failure(internalError("the merge plan has hidden columns but no aggregates"))
        }
        if aggregated || plan.distinct || !plan.sort.isEmpty, let binary = visibleFields.first(where: { $0.format != 0 }) {
            return .failure(refusal("column \(binary.name) is in binary format; pgproxy merges only text results across shards"))
        }

        // Resolve the columns the plan names.
        var sortColumns: [Int] = []
        for key in plan.sort {
            switch resolve(key.column, in: visibleFields, clause: "ORDER BY", consequence: "so the shards' rows cannot be merged in order") {
            case .success(let index): sortColumns.append(index)
            case .failure(let error): return .failure(error)
            }
        }
        var groupColumns = Set<Int>()
        for ref in plan.groupBy {
            switch resolve(ref, in: visibleFields, clause: "GROUP BY", consequence: "so the shards' groups cannot be merged") {
            case .success(let index): groupColumns.insert(index)
            case .failure(let error): return .failure(error)
            }
        }
        var orders: [SQLValueOrder] = []
        for (key, index) in zip(plan.sort, sortColumns) {
            let field = visibleFields[index]
            switch SQLValueOrder.make(typeOID: field.typeOID, column: field.name,
                                      bytewiseText: textOrderIsBytewise || key.bytewiseCollation, purpose: "ORDER BY") {
            case .success(let order): orders.append(order)
            case .failure(let error): return .failure(error)
            }
        }

        if plan.limit == 0 { return .success(.rows(visibleFields, [])) }

        // Rows of all shards, in shard order (grouped and aggregated when the plan says so).
        var rows: [[ByteBuffer?]]
        if aggregated {
            switch aggregate(answers, plan: plan, fields: fields, visibleCount: visibleFields.count,
                             groupColumns: groupColumns, textOrderIsBytewise: textOrderIsBytewise) {
            case .success(let merged): rows = merged
            case .failure(let error): return .failure(error)
            }
        } else {
            rows = []
            rows.reserveCapacity(answers.reduce(0) { $0 + $1.rows.count })
            for answer in answers { rows.append(contentsOf: answer.rows) }
        }

        if plan.distinct {
            switch distinct(rows, fields: visibleFields) {
            case .success(let unique): rows = unique
            case .failure(let error): return .failure(error)
            }
        }
        if !orders.isEmpty, rows.count > 1 {
            switch sorted(rows, keys: plan.sort, columns: sortColumns, orders: orders, fields: visibleFields) {
            case .success(let ordered): rows = ordered
            case .failure(let error): return .failure(error)
            }
        }
        let start = plan.offset >= Int64(rows.count) ? rows.count : Int(plan.offset)
        var end = rows.count
        if let limit = plan.limit, limit < Int64(rows.count - start) { end = start + Int(limit) }
        if start > 0 || end < rows.count { rows = Array(rows[start..<end]) }
        return .success(.rows(visibleFields, rows))
    }

    // MARK: - Checks

    /// Every shard must describe the same columns: count, names, types, type modifiers,
    /// formats (table OIDs and column numbers may differ), and send rows of that width.
    private static func checkMetadata(_ answers: [ShardAnswer]) -> SQLValueError? {
        let fields = answers[0].fields
        for (shard, answer) in answers.enumerated() {
            if shard > 0 {
                guard answer.fields.count == fields.count else {
                    return internalError("shard 1 returned \(fields.count) columns but shard \(shard + 1) returned \(answer.fields.count), so their answers cannot be merged")
                }
                for (column, (a, b)) in zip(fields, answer.fields).enumerated() {
                    guard a.name == b.name else {
                        return internalError("column \(column + 1) is called \(a.name) on shard 1 but \(b.name) on shard \(shard + 1), so the shards' answers cannot be merged")
                    }
                    guard a.typeOID == b.typeOID, a.typeModifier == b.typeModifier, a.format == b.format else {
                        return SQLValueError(sqlState: "42804",
                            message: "column \(a.name) has type OID \(a.typeOID) (type modifier \(a.typeModifier), format \(a.format)) on shard 1 but type OID \(b.typeOID) (type modifier \(b.typeModifier), format \(b.format)) on shard \(shard + 1), so the shards' answers cannot be merged")
                    }
                }
            }
            if let row = answer.rows.first(where: { $0.count != fields.count }) {
                return internalError("shard \(shard + 1) returned a row of \(row.count) values for \(fields.count) columns")
            }
        }
        return nil
    }

    private static func resolve(_ ref: MergePlan.ColumnRef, in fields: [FieldDescription], clause: String, consequence: String) -> Result<Int, SQLValueError> {
        switch ref {
        case .name(let name):
            guard let index = fields.firstIndex(where: { $0.name == name }) else {
                return .failure(refusal("\(clause) column \(name) is not in the result, \(consequence)"))
            }
            return .success(index)
        case .position(let position):
            guard position >= 1, position <= fields.count else {
                return .failure(SQLValueError(sqlState: "42P10", message: "\(clause) position \(position) is not in select list"))
            }
            return .success(position - 1)
        }
    }

    // MARK: - Steps

    private static func aggregate(
        _ answers: [ShardAnswer], plan: MergePlan, fields: [FieldDescription], visibleCount: Int, groupColumns: Set<Int>, textOrderIsBytewise: Bool
    ) -> Result<[[ByteBuffer?]], SQLValueError> {
        if plan.groupBy.isEmpty {
            // One row per shard; none means HAVING filtered it there, which cannot be merged.
            if let shard = answers.firstIndex(where: { $0.rows.count != 1 }) {
                return .failure(refusal("shard \(shard + 1) returned \(answers[shard].rows.count) rows for an aggregate without GROUP BY (expected 1), so the shards' aggregates cannot be combined"))
            }
        }
        // With GROUP BY the shards run without LIMIT (see MergePlan.make): their groups are whole.
        let inputs = fields.map { ShardGrouping.Input(name: $0.name, typeOID: $0.typeOID) }
        let grouping: ShardGrouping
        switch ShardGrouping.make(targets: plan.targets, visible: Array(inputs.prefix(visibleCount)), hidden: Array(inputs.dropFirst(visibleCount)),
                                  groupIndices: groupColumns, textOrderIsBytewise: textOrderIsBytewise) {
        case .success(let made): grouping = made
        case .failure(let error): return .failure(error)
        }
        var rows: [[[UInt8]?]] = []
        for answer in answers {
            for row in answer.rows { rows.append(row.map { $0.map { Array($0.readableBytesView) } }) }
        }
        return grouping.merge(rows).map { merged in
            merged.map { row in row.map { $0.map { ByteBuffer(bytes: $0) } } }
        }
    }

    /// Keeps the first of rows whose values are all equal (NULL equal to NULL), by each
    /// column type's equality.
    private static func distinct(_ rows: [[ByteBuffer?]], fields: [FieldDescription]) -> Result<[[ByteBuffer?]], SQLValueError> {
        var normalizers: [([UInt8]) -> [UInt8]?] = []
        for field in fields {
            switch SQLValueIdentity.normalizer(typeOID: field.typeOID, column: field.name, purpose: "DISTINCT") {
            case .success(let normalizer): normalizers.append(normalizer)
            case .failure(let error): return .failure(error)
            }
        }
        var seen = Set<[UInt8]>()
        var unique: [[ByteBuffer?]] = []
        for row in rows {
            var key: [UInt8] = []
            for (index, value) in row.prefix(fields.count).enumerated() {
                guard let value else { key.append(0); continue }
                let bytes = Array(value.readableBytesView)
                guard let identity = normalizers[index](bytes) else {
                    return .failure(refusal("cannot read the value \"\(String(decoding: bytes.prefix(64), as: UTF8.self))\" of column \(fields[index].name) returned by a shard"))
                }
                key.append(1)
                withUnsafeBytes(of: UInt32(identity.count).bigEndian) { key.append(contentsOf: $0) }
                key.append(contentsOf: identity)
            }
            if seen.insert(key).inserted { unique.append(row) }
        }
        return .success(unique)
    }

    /// A stable sort by the sort keys (ties keep shard order).
    private static func sorted(
        _ rows: [[ByteBuffer?]], keys: [MergePlan.SortKey], columns: [Int], orders: [SQLValueOrder], fields: [FieldDescription]
    ) -> Result<[[ByteBuffer?]], SQLValueError> {
        var rowKeys: [[SQLOrderKey]] = []
        rowKeys.reserveCapacity(rows.count)
        for row in rows {
            var keysOfRow: [SQLOrderKey] = []
            keysOfRow.reserveCapacity(columns.count)
            for (column, order) in zip(columns, orders) {
                switch order.key(row[column].map { Array($0.readableBytesView) }, column: fields[column].name) {
                case .success(let key): keysOfRow.append(key)
                case .failure(let error): return .failure(error)
                }
            }
            rowKeys.append(keysOfRow)
        }
        let order = rows.indices.sorted { a, b in
            for (position, key) in keys.enumerated() {
                let x = rowKeys[a][position], y = rowKeys[b][position]
                let result: Int
                switch (x, y) {
                case (.null, .null): result = 0
                case (.null, _): result = key.nullsFirst ? -1 : 1
                case (_, .null): result = key.nullsFirst ? 1 : -1
                default: result = key.descending ? -SQLValueOrder.compare(x, y) : SQLValueOrder.compare(x, y)
                }
                if result != 0 { return result < 0 }
            }
            return a < b
        }
        return .success(order.map { rows[$0] })
    }

    private static func refusal(_ message: String) -> SQLValueError {
        SQLValueError(sqlState: SQLValueError.featureNotSupported, message: message)
    }

    private static func internalError(_ message: String) -> SQLValueError {
        SQLValueError(sqlState: SQLValueError.internalError, message: message)
    }
}
