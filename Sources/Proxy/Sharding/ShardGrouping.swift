/// The GROUP BY / aggregate half of the cross-shard merge: rows of all shards, grouped by the
/// grouping columns' values, each aggregate column combined from the shards' partial results
/// (count and sum add up, min/max compare, avg divides the summed hidden sum by the summed
/// hidden count). Values are text (simple protocol); standard library only.
struct ShardGrouping {
    /// How one output column is produced.
    enum Column {
        /// A grouping column: its value is part of the group key.
        case grouped
        /// A non-aggregate column outside GROUP BY (e.g. an expression of the grouping
        /// columns, or a constant): its value must be the same in all rows of a group.
        case carried
        case count
        case sum(NumberKind)
        case extreme(max: Bool, order: SQLValueOrder)
        /// `sumIndex`/`countIndex`: the hidden columns; `numeric`: the result is numeric
        /// (else float8); `sumKind`: the type of the hidden sum.
        case avg(numeric: Bool, sumIndex: Int, countIndex: Int, sumKind: NumberKind)
    }

    enum NumberKind {
        case int8, numeric, float4, float8

        init?(typeOID: UInt32) {
            switch typeOID {
            case SQLTypeOID.int8: self = .int8
            case SQLTypeOID.numeric: self = .numeric
            case SQLTypeOID.float4: self = .float4
            case SQLTypeOID.float8: self = .float8
            default: return nil
            }
        }
    }

    struct Input {
        var name: String
        var typeOID: UInt32
    }

    var columns: [Column]
    var names: [String]
    /// Per visible column, how values compare for equality (grouped and carried columns).
    var identities: [(([UInt8]) -> [UInt8]?)?]

    /// The grouping of a result whose visible columns are `visible` (the SELECT list, one
    /// target each) followed by `hidden` (2 per avg).
    static func make(
        targets: [MergePlan.Target], visible: [Input], hidden: [Input], groupIndices: Set<Int>, textOrderIsBytewise: Bool
    ) -> Result<ShardGrouping, SQLValueError> {
        func refuse(_ message: String) -> Result<ShardGrouping, SQLValueError> {
            .failure(SQLValueError(sqlState: SQLValueError.featureNotSupported, message: message))
        }
        guard targets.count == visible.count, !targets.contains(.star) else {
            return refuse("the SELECT list of an aggregate or GROUP BY query must name its columns (no *) to be merged across shards")
        }
        var grouping = ShardGrouping(columns: [], names: visible.map(\.name), identities: [])
        var avgCount = 0
        for (index, target) in targets.enumerated() {
            let column = visible[index]
            var identity: (([UInt8]) -> [UInt8]?)? = nil
            switch target {
            case .column, .other, .star:
                switch SQLValueIdentity.normalizer(typeOID: column.typeOID, column: column.name, purpose: "GROUP BY") {
                case .success(let normalizer): identity = normalizer
                case .failure(let error): return .failure(error)
                }
                grouping.columns.append(groupIndices.contains(index) ? .grouped : .carried)
            case .aggregate(.count, _):
                guard column.typeOID == SQLTypeOID.int8 else {
                    return refuse("count column \(column.name) has type OID \(column.typeOID), not bigint; the shards' counts cannot be added")
                }
                grouping.columns.append(.count)
            case .aggregate(.sum, _):
                guard let kind = NumberKind(typeOID: column.typeOID) else {
                    return refuse("sum column \(column.name) has type OID \(column.typeOID); pgproxy adds up only bigint, numeric, real and double precision sums across shards")
                }
                grouping.columns.append(.sum(kind))
            case .aggregate(let aggregate, _) where aggregate == .min || aggregate == .max:
                switch SQLValueOrder.make(typeOID: column.typeOID, column: column.name, bytewiseText: textOrderIsBytewise,
                                          purpose: aggregate == .max ? "max" : "min") {
                case .success(let order): grouping.columns.append(.extreme(max: aggregate == .max, order: order))
                case .failure(let error): return .failure(error)
                }
            case .aggregate:  // avg
                let sumIndex = 2 * avgCount, countIndex = 2 * avgCount + 1
                avgCount += 1
                guard countIndex < hidden.count else {
                    return .failure(SQLValueError(sqlState: SQLValueError.internalError,
                        message: "the shards did not return the hidden sum and count columns of avg column \(column.name)"))
                }
                let numeric: Bool
                switch column.typeOID {
                case SQLTypeOID.numeric: numeric = true
                case SQLTypeOID.float8: numeric = false
                default:
                    return refuse("avg column \(column.name) has type OID \(column.typeOID); pgproxy merges only numeric and double precision averages across shards")
                }
                let sum = hidden[sumIndex], count = hidden[countIndex]
                if sum.typeOID == SQLTypeOID.float4 {
                    // avg(real) sums in double precision, the shards' sum(real) in single.
                    return refuse("avg column \(column.name) of a real argument cannot be merged across shards exactly enough (the shards' sums are single precision); write avg(x::float8)")
                }
                let sumKind: NumberKind?
                switch sum.typeOID {
                case SQLTypeOID.int2, SQLTypeOID.int4, SQLTypeOID.int8: sumKind = numeric ? .numeric : nil
                case SQLTypeOID.numeric: sumKind = numeric ? .numeric : nil
                case SQLTypeOID.float8: sumKind = numeric ? nil : .float8
                default: sumKind = nil
                }
                guard let sumKind, count.typeOID == SQLTypeOID.int8 else {
                    return .failure(SQLValueError(sqlState: SQLValueError.internalError,
                        message: "the hidden sum (type OID \(sum.typeOID)) and count (type OID \(count.typeOID)) of avg column \(column.name) do not fit its type OID \(column.typeOID)"))
                }
                grouping.columns.append(.avg(numeric: numeric, sumIndex: visible.count + sumIndex, countIndex: visible.count + countIndex, sumKind: sumKind))
            }
            grouping.identities.append(identity)
        }
        guard 2 * avgCount == hidden.count else {
            return .failure(SQLValueError(sqlState: SQLValueError.internalError,
                message: "the shards returned \(hidden.count) hidden columns for \(avgCount) avg columns"))
        }
        return .success(grouping)
    }

    // MARK: - Merging

    private enum Accumulator {
        case value(seen: Bool, [UInt8]?, identity: [UInt8]?)
        case integer(Int64?)
        case numeric(PGNumeric?)
        case float4(Float?)
        case float8(Double?)
        case extreme([UInt8]?, SQLOrderKey?)
        case avgNumeric(PGNumeric, Int64)
        case avgFloat(Double, Int64)
    }

    /// The merged rows (visible columns only), one per group in first-seen order.
    func merge(_ rows: [[[UInt8]?]]) -> Result<[[[UInt8]?]], SQLValueError> {
        var groupOf: [[UInt8]: Int] = [:]
        var groups: [[Accumulator]] = []
        for row in rows {
            var key: [UInt8] = []
            for (index, column) in columns.enumerated() {
                guard case .grouped = column else { continue }
                guard let value = row[index] else { key.append(0); continue }
                guard let identity = identities[index]?(value) else { return .failure(unreadable(value, column: index)) }
                key.append(1)
                withUnsafeBytes(of: UInt32(identity.count).bigEndian) { key.append(contentsOf: $0) }
                key.append(contentsOf: identity)
            }
            let group: Int
            if let existing = groupOf[key] {
                group = existing
            } else {
                group = groups.count
                groupOf[key] = group
                groups.append(columns.map(Self.start))
            }
            for index in columns.indices {
                if let error = accumulate(&groups[group][index], columns[index], row, index) { return .failure(error) }
            }
        }
        var merged: [[[UInt8]?]] = []
        merged.reserveCapacity(groups.count)
        for group in groups {
            var out: [[UInt8]?] = []
            out.reserveCapacity(columns.count)
            for accumulator in group {
                switch Self.finish(accumulator) {
                case .success(let value): out.append(value)
                case .failure(let error): return .failure(error)
                }
            }
            merged.append(out)
        }
        return .success(merged)
    }

    private static func start(_ column: Column) -> Accumulator {
        switch column {
        case .grouped, .carried: return .value(seen: false, nil, identity: nil)
        case .count: return .integer(0)
        case .sum(.int8): return .integer(nil)
        case .sum(.numeric): return .numeric(nil)
        case .sum(.float4): return .float4(nil)
        case .sum(.float8): return .float8(nil)
        case .extreme: return .extreme(nil, nil)
        case .avg(numeric: true, _, _, _): return .avgNumeric(.zero, 0)
        case .avg(numeric: false, _, _, _): return .avgFloat(0, 0)
        }
    }

    private func unreadable(_ value: [UInt8], column: Int) -> SQLValueError {
        SQLValueError(sqlState: SQLValueError.internalError,
            message: "cannot read the value \"\(String(decoding: value.prefix(64), as: UTF8.self))\" of column \(column < names.count ? names[column] : "#\(column + 1)") returned by a shard")
    }

    private static let bigintOutOfRange = SQLValueError(sqlState: "22003", message: "bigint out of range")
    private static let floatOverflow = SQLValueError(sqlState: "22003", message: "value out of range: overflow")

    private func accumulate(_ accumulator: inout Accumulator, _ column: Column, _ row: [[UInt8]?], _ index: Int) -> SQLValueError? {
        let value = row[index]
        switch (accumulator, column) {
        case (.value(let seen, _, let firstIdentity), _):
            var identity: [UInt8]? = nil
            if let value {
                guard let normalized = identities[index]?(value) else { return unreadable(value, column: index) }
                identity = normalized
            }
            if !seen {
                accumulator = .value(seen: true, value, identity: identity)
            } else if case .carried = column, identity != firstIdentity {
                return SQLValueError(sqlState: SQLValueError.featureNotSupported,
                    message: "column \(names[index]) is neither grouped nor aggregated and differs between the shards' rows of one group, so they cannot be merged")
            }
        case (.integer(let total), _):
            guard let value else { return nil }
            guard let number = SQLValueOrder.parseInteger(value) else { return unreadable(value, column: index) }
            guard let total else { accumulator = .integer(number); return nil }
            let (sum, overflow) = total.addingReportingOverflow(number)
            if overflow { return Self.bigintOutOfRange }
            accumulator = .integer(sum)
        case (.numeric(let total), _):
            guard let value else { return nil }
            guard let number = PGNumeric(text: value) else { return unreadable(value, column: index) }
            accumulator = .numeric(total.map { $0 + number } ?? number)
        case (.float4(let total), _):
            guard let value else { return nil }
            guard let number = PGFloatText.parseFloat(value) else { return unreadable(value, column: index) }
            guard let total else { accumulator = .float4(number); return nil }
            let sum = total + number
            if sum.isInfinite && !total.isInfinite && !number.isInfinite { return Self.floatOverflow }
            accumulator = .float4(sum)
        case (.float8(let total), _):
            guard let value else { return nil }
            guard let number = PGFloatText.parseDouble(value) else { return unreadable(value, column: index) }
            guard let total else { accumulator = .float8(number); return nil }
            let sum = total + number
            if sum.isInfinite && !total.isInfinite && !number.isInfinite { return Self.floatOverflow }
            accumulator = .float8(sum)
        case (.extreme(_, let bestKey), .extreme(let isMax, let order)):
            guard value != nil else { return nil }
            switch order.key(value, column: names[index]) {
            case .failure(let error): return error
            case .success(let key):
                if let bestKey {
                    let order = SQLValueOrder.compare(key, bestKey)
                    guard isMax ? order > 0 : order < 0 else { return nil }
                }
                accumulator = .extreme(value, key)
            }
        case (.avgNumeric(let sum, let count), .avg(_, let sumIndex, let countIndex, _)):
            guard let countText = row[countIndex], let rowCount = SQLValueOrder.parseInteger(countText) else {
                return unreadable(row[countIndex] ?? [], column: countIndex)
            }
            guard rowCount != 0 else { return nil }
            guard let sumText = row[sumIndex], let rowSum = PGNumeric(text: sumText) else { return unreadable(row[sumIndex] ?? [], column: sumIndex) }
            let (total, overflow) = count.addingReportingOverflow(rowCount)
            if overflow { return Self.bigintOutOfRange }
            accumulator = .avgNumeric(sum + rowSum, total)
        case (.avgFloat(let sum, let count), .avg(_, let sumIndex, let countIndex, _)):
            guard let countText = row[countIndex], let rowCount = SQLValueOrder.parseInteger(countText) else {
                return unreadable(row[countIndex] ?? [], column: countIndex)
            }
            guard rowCount != 0 else { return nil }
            guard let sumText = row[sumIndex] else { return unreadable([], column: sumIndex) }
            guard let rowSum = PGFloatText.parseDouble(sumText) else { return unreadable(sumText, column: sumIndex) }
            let total = sum + rowSum
            if total.isInfinite && !sum.isInfinite && !rowSum.isInfinite { return Self.floatOverflow }
            let (totalCount, overflow) = count.addingReportingOverflow(rowCount)
            if overflow { return Self.bigintOutOfRange }
            accumulator = .avgFloat(total, totalCount)
        default:
            return SQLValueError(sqlState: SQLValueError.internalError, message: "internal error merging column \(names[index])")
        }
        return nil
    }

    private static func finish(_ accumulator: Accumulator) -> Result<[UInt8]?, SQLValueError> {
        func text(_ string: String) -> [UInt8]? { Array(string.utf8) }
        switch accumulator {
        case .value(_, let value, _): return .success(value)
        case .integer(let total): return .success(total.map { text(String($0)) } ?? nil)
        case .numeric(let total): return .success(total.map { text($0.text) } ?? nil)
        case .float4(let total): return .success(total.map { text(PGFloatText.text($0)) } ?? nil)
        case .float8(let total): return .success(total.map { text(PGFloatText.text($0)) } ?? nil)
        case .extreme(let value, _): return .success(value)
        case .avgNumeric(let sum, let count):
            return .success(count == 0 ? nil : text(sum.divided(byCount: count).text))
        case .avgFloat(let sum, let count):
            return .success(count == 0 ? nil : text(PGFloatText.text(sum / Double(count))))
        }
    }
}
