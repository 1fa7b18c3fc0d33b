import NIOCore
import XCTest

@testable import Proxy

final class ShardResultMergerTests: XCTestCase {
    // MARK: Helpers

    private func field(_ name: String, _ typeOID: UInt32, table: UInt32 = 16400, column: Int16 = 1, modifier: Int32 = -1) -> FieldDescription {
        FieldDescription(name: name, tableOID: table, columnNumber: column, typeOID: typeOID, typeSize: -1, typeModifier: modifier, format: 0)
    }

    private func answer(_ fields: [FieldDescription], _ rows: [[String?]], tag: String? = nil) -> ShardAnswer {
        ShardAnswer(
            fields: fields,
            rows: rows.map { row in row.map { $0.map { ByteBuffer(string: $0) } } },
            commandTag: tag ?? "SELECT \(rows.count)")
    }

    private func plan(
        _ targets: [MergePlan.Target] = [.star], sort: [MergePlan.SortKey] = [], groupBy: [MergePlan.ColumnRef] = [],
        distinct: Bool = false, limit: Int64? = nil, offset: Int64 = 0, hidden: Int = 0
    ) -> MergePlan {
        MergePlan(targets: targets, sort: sort, groupBy: groupBy, distinct: distinct, limit: limit, offset: offset, hiddenColumns: hidden)
    }

    /// A sort key with PostgreSQL's default NULL placement unless `nullsFirst` says otherwise.
    private func key(_ column: MergePlan.ColumnRef, desc: Bool = false, nullsFirst: Bool? = nil, collateC: Bool = false) -> MergePlan.SortKey {
        MergePlan.SortKey(column: column, descending: desc, nullsFirst: nullsFirst ?? desc, bytewiseCollation: collateC)
    }

    private struct Output {
        var ids: [UInt8] = []
        var fields: [FieldDescription] = []
        var rows: [[String?]] = []
        var tag: String?
    }

    private func decode(_ buffer: ByteBuffer) -> Output {
        var buffer = buffer
        var output = Output()
        while let id = buffer.readInteger(as: UInt8.self), let length = buffer.readInteger(as: Int32.self),
            let body = buffer.readSlice(length: Int(length) - 4)
        {
            output.ids.append(id)
            switch id {
            case BackendID.rowDescription: output.fields = ShardAnswer.readRowDescription(body) ?? []
            case BackendID.dataRow:
                output.rows.append((ShardAnswer.readDataRow(body) ?? []).map { $0.map { String(buffer: $0) } })
            case BackendID.commandComplete:
                var body = body
                output.tag = body.readNullTerminatedString()
            default: XCTFail("unexpected message \(id)")
            }
        }
        XCTAssertEqual(buffer.readableBytes, 0)
        return output
    }

    private func merged(_ answers: [ShardAnswer], _ plan: MergePlan, bytewise: Bool = false,
                        file: StaticString = #filePath, line: UInt = #line) -> Output {
        var out = ByteBuffer()
        if let error = ShardResultMerger.merge(answers, plan: plan, textOrderIsBytewise: bytewise, into: &out) {
            XCTFail("unexpected error: \(error)", file: file, line: line)
        }
        return decode(out)
    }

    private func refusal(_ answers: [ShardAnswer], _ plan: MergePlan, bytewise: Bool = false,
                         file: StaticString = #filePath, line: UInt = #line) -> ErrorFields? {
        var out = ByteBuffer()
        let error = ShardResultMerger.merge(answers, plan: plan, textOrderIsBytewise: bytewise, into: &out)
        XCTAssertNotNil(error, "expected an error", file: file, line: line)
        XCTAssertEqual(out.readableBytes, 0, "nothing is written on error", file: file, line: line)
        return error
    }

    /// Rows of one column, one answer per shard.
    private func shards(_ name: String, _ typeOID: UInt32, _ values: [[String?]]) -> [ShardAnswer] {
        values.enumerated().map { shard, column in answer([field(name, typeOID, table: 16400 + UInt32(shard))], column.map { [$0] }) }
    }

    private func column(_ output: Output, _ index: Int = 0) -> [String?] { output.rows.map { $0[index] } }

    // MARK: Plain rows

    func testConcatenatesRowsInShardOrderWithFirstShardsDescription() {
        let a = answer([field("id", 23, table: 1), field("name", 25, table: 1)], [["1", "a"], ["2", nil]])
        let b = answer([field("id", 23, table: 2, column: 3), field("name", 25, table: 2, column: 4)], [["3", "c"]])
        let output = merged([a, b], plan())
        XCTAssertEqual(output.ids, [BackendID.rowDescription, BackendID.dataRow, BackendID.dataRow, BackendID.dataRow, BackendID.commandComplete])
        XCTAssertEqual(output.fields, a.fields)
        XCTAssertEqual(output.rows, [["1", "a"], ["2", nil], ["3", "c"]])
        XCTAssertEqual(output.tag, "SELECT 3")
    }

    func testEmptyShardsStillDescribeTheResult() {
        let output = merged(shards("id", 23, [[], []]), plan())
        XCTAssertEqual(output.ids, [BackendID.rowDescription, BackendID.commandComplete])
        XCTAssertEqual(output.tag, "SELECT 0")
    }

    func testCommandWithoutRowDescription() {
        let output = merged([answer([], [], tag: "SET"), answer([], [], tag: "SET")], plan())
        XCTAssertEqual(output.ids, [BackendID.commandComplete])
        XCTAssertEqual(output.tag, "SET")
        let error = refusal([answer([], [], tag: "UPDATE 1"), answer([], [], tag: "UPDATE 2")], plan())
        XCTAssertEqual(error?.sqlState, "0A000")
    }

    func testDistinctRemovesDuplicatesAcrossShardsByTypeEquality() {
        let a = answer([field("a", 23), field("n", 1700)], [["1", "1.0"], ["2", nil], ["1", "1.0"]])
        let b = answer([field("a", 23), field("n", 1700)], [["1", "1.00"], ["2", nil], ["3", "2"]])
        let output = merged([a, b], plan(distinct: true))
        XCTAssertEqual(output.rows, [["1", "1.0"], ["2", nil], ["3", "2"]])
        XCTAssertEqual(output.tag, "SELECT 3")
    }

    func testDistinctTreatsMinusZeroAsZeroAndRefusesInterval() {
        XCTAssertEqual(column(merged(shards("f", 701, [["0", "1.5"], ["-0", "1.5"]]), plan(distinct: true))), ["0", "1.5"])
        XCTAssertEqual(refusal(shards("i", 1186, [["1 day"], ["24:00:00"]]), plan(distinct: true))?.sqlState, "0A000")
    }

    // MARK: ORDER BY

    func testOrderByIntegersWithNullPlacement() {
        let answers = shards("n", 23, [["5", nil, "-3"], ["10", "2"]])
        XCTAssertEqual(column(merged(answers, plan(sort: [key(.name("n"))]))), ["-3", "2", "5", "10", nil])
        XCTAssertEqual(column(merged(answers, plan(sort: [key(.name("n"), desc: true)]))), [nil, "10", "5", "2", "-3"])
        XCTAssertEqual(column(merged(answers, plan(sort: [key(.position(1), nullsFirst: true)]))), [nil, "-3", "2", "5", "10"])
        XCTAssertEqual(column(merged(answers, plan(sort: [key(.position(1), desc: true, nullsFirst: false)]))), ["10", "5", "2", "-3", nil])
        let big = shards("n", 20, [["9223372036854775807", "-9223372036854775808"], ["100"]])
        XCTAssertEqual(column(merged(big, plan(sort: [key(.name("n"))]))), ["-9223372036854775808", "100", "9223372036854775807"])
    }

    func testOrderByFloatsPutsNaNAboveInfinity() {
        let answers = shards("f", 701, [["NaN", "1.5", "-Infinity"], ["Infinity", "1e-05", "-2", "1e+20"]])
        XCTAssertEqual(column(merged(answers, plan(sort: [key(.name("f"))]))), ["-Infinity", "-2", "1e-05", "1.5", "1e+20", "Infinity", "NaN"])
        XCTAssertEqual(column(merged(answers, plan(sort: [key(.name("f"), desc: true)]))), ["NaN", "Infinity", "1e+20", "1.5", "1e-05", "-2", "-Infinity"])
    }

    func testOrderByNumeric() {
        let answers = shards("n", 1700, [["10.5", "NaN", "-1.25", "Infinity"], ["9.999", "0.000", "-Infinity", "100"]])
        XCTAssertEqual(column(merged(answers, plan(sort: [key(.name("n"))]))),
                       ["-Infinity", "-1.25", "0.000", "9.999", "10.5", "100", "Infinity", "NaN"])
    }

    func testOrderByBool() {
        XCTAssertEqual(column(merged(shards("b", 16, [["t", "f"], [nil, "f"]]), plan(sort: [key(.name("b"))]))), ["f", "f", "t", nil])
    }

    func testOrderByTextNeedsBytewiseOrder() {
        let answers = shards("s", 25, [["b", "a"], ["B", "ä", "ab"]])
        let expected: [String?] = ["B", "a", "ab", "b", "ä"]
        XCTAssertEqual(column(merged(answers, plan(sort: [key(.name("s"))]), bytewise: true)), expected)
        XCTAssertEqual(column(merged(answers, plan(sort: [key(.name("s"), collateC: true)]))), expected)
        let error = refusal(answers, plan(sort: [key(.name("s"))]))
        XCTAssertEqual(error?.sqlState, "0A000")
        XCTAssertEqual(error?.message, "ORDER BY on text column s cannot be merged across shards under the database's collation; add COLLATE \"C\"")
    }

    func testOrderByBpcharIgnoresTrailingSpaces() {
        let answers = shards("c", 1042, [["a  ", "ab "], ["a\t ", "b  "]])
        XCTAssertEqual(column(merged(answers, plan(sort: [key(.name("c"))]), bytewise: true)), ["a  ", "a\t ", "ab ", "b  "])
    }

    func testOrderByDatesAndTimestamps() {
        let dates = shards("d", 1082, [["2024-01-02", "infinity", "0001-01-01 BC"], ["-infinity", "20000-01-01", "0002-12-31 BC", "9999-12-31"]])
        XCTAssertEqual(column(merged(dates, plan(sort: [key(.name("d"))]))),
                       ["-infinity", "0002-12-31 BC", "0001-01-01 BC", "2024-01-02", "9999-12-31", "20000-01-01", "infinity"])
        let stamps = shards("t", 1114, [["2024-01-01 00:00:00.5", "2024-01-01 00:00:00"], ["2024-01-01 00:00:00.25", "0044-03-15 12:00:00 BC"]])
        XCTAssertEqual(column(merged(stamps, plan(sort: [key(.name("t"))]))),
                       ["0044-03-15 12:00:00 BC", "2024-01-01 00:00:00", "2024-01-01 00:00:00.25", "2024-01-01 00:00:00.5"])
        // The same instants in different offsets (the end of summer time), ordered as instants.
        let zoned = shards("t", 1184, [["2024-10-27 02:30:00+02", "2024-10-27 02:15:00+01"], ["2024-10-27 01:00:00+00", "2024-10-27 02:59:59.5+02"]])
        XCTAssertEqual(column(merged(zoned, plan(sort: [key(.name("t"))]))),
                       ["2024-10-27 02:30:00+02", "2024-10-27 02:59:59.5+02", "2024-10-27 01:00:00+00", "2024-10-27 02:15:00+01"])
    }

    func testOrderByRefusesValuesItCannotOrder() {
        XCTAssertEqual(refusal(shards("i", 1186, [["1 day"], ["2 days"]]), plan(sort: [key(.name("i"))]))?.sqlState, "0A000")
        // Not DateStyle ISO.
        XCTAssertEqual(refusal(shards("d", 1082, [["12/17/1997"], ["01/02/1998"]]), plan(sort: [key(.name("d"))]))?.sqlState, "0A000")
    }

    func testOrderByColumnThatIsNotInTheResult() {
        let error = refusal(shards("a", 23, [["1"], ["2"]]), plan(sort: [key(.name("x"))]))
        XCTAssertEqual(error?.message, "ORDER BY column x is not in the result, so the shards' rows cannot be merged in order")
        XCTAssertNotNil(refusal(shards("a", 23, [["1"], ["2"]]), plan(sort: [key(.position(2))])))
    }

    func testOrderByIsStableAcrossSeveralKeys() {
        let fields = [field("k", 23), field("v", 25)]
        let a = answer(fields, [["2", "a1"], ["1", "a2"], ["2", "a3"]])
        let b = answer(fields, [["1", "b1"], ["2", "b2"]])
        XCTAssertEqual(column(merged([a, b], plan(sort: [key(.name("k"))])), 1), ["a2", "b1", "a1", "a3", "b2"])
        XCTAssertEqual(column(merged([a, b], plan(sort: [key(.name("k"), desc: true), key(.position(2), desc: true)]), bytewise: true), 1),
                       ["b2", "a3", "a1", "b1", "a2"])
    }

    func testOffsetThenLimit() {
        let answers = shards("n", 23, [["1", "3", "5"], ["2", "4", "6"]])
        XCTAssertEqual(column(merged(answers, plan(sort: [key(.name("n"))], limit: 3, offset: 2))), ["3", "4", "5"])
        XCTAssertEqual(merged(answers, plan(sort: [key(.name("n"))], limit: 3, offset: 2)).tag, "SELECT 3")
        XCTAssertEqual(column(merged(answers, plan(sort: [key(.name("n"))], offset: 4))), ["5", "6"])
        XCTAssertEqual(column(merged(answers, plan(limit: 0))), [])
        XCTAssertEqual(column(merged(answers, plan(offset: 10))), [])
    }

    // MARK: Metadata

    func testMismatchedColumnTypesAreRefused() {
        let a = answer([field("id", 23)], [["1"]])
        let b = answer([field("id", 20)], [["2"]])
        let error = refusal([a, b], plan())
        XCTAssertEqual(error?.sqlState, "42804")
        XCTAssertTrue(error?.message.contains("id") ?? false)
        XCTAssertTrue(error?.message.contains("23") ?? false && error?.message.contains("20") ?? false)
        XCTAssertNotNil(refusal([a, answer([field("id", 23, modifier: 8)], [["2"]])], plan()))
        XCTAssertNotNil(refusal([a, answer([field("id", 23), field("x", 23)], [["2", "3"]])], plan()))
        XCTAssertNotNil(refusal([a, answer([field("other", 23)], [["2"]])], plan()))
    }
}
