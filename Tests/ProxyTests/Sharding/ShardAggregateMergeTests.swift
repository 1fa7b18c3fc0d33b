import NIOCore
import XCTest

@testable import Proxy

/// Aggregates and GROUP BY in `ShardResultMerger`, and the number printing they rely on. The
/// expected texts are PostgreSQL 15's (psql) for the same values on one server.
final class ShardAggregateMergeTests: XCTestCase {
    private func field(_ name: String, _ typeOID: UInt32) -> FieldDescription {
        FieldDescription(name: name, tableOID: 0, columnNumber: 0, typeOID: typeOID, typeSize: -1, typeModifier: -1, format: 0)
    }

    private func answer(_ fields: [FieldDescription], _ rows: [[String?]]) -> ShardAnswer {
        ShardAnswer(fields: fields, rows: rows.map { $0.map { $0.map { ByteBuffer(string: $0) } } }, commandTag: "SELECT \(rows.count)")
    }

    private func plan(_ targets: [MergePlan.Target], sort: [MergePlan.SortKey] = [], groupBy: [MergePlan.ColumnRef] = [],
                      limit: Int64? = nil, offset: Int64 = 0, hidden: Int = 0) -> MergePlan {
        MergePlan(targets: targets, sort: sort, groupBy: groupBy, distinct: false, limit: limit, offset: offset, hiddenColumns: hidden)
    }

    private struct Result {
        var names: [String]
        var rows: [[String?]]
        var tag: String?
    }

    private func merge(_ answers: [ShardAnswer], _ plan: MergePlan, bytewise: Bool = false,
                       file: StaticString = #filePath, line: UInt = #line) -> (Result?, ErrorFields?) {
        var out = ByteBuffer()
        if let error = ShardResultMerger.merge(answers, plan: plan, textOrderIsBytewise: bytewise, into: &out) {
            XCTAssertEqual(out.readableBytes, 0, file: file, line: line)
            return (nil, error)
        }
        var result = Result(names: [], rows: [], tag: nil)
        while let id = out.readInteger(as: UInt8.self), let length = out.readInteger(as: Int32.self),
            var body = out.readSlice(length: Int(length) - 4)
        {
            switch id {
            case BackendID.rowDescription: result.names = (ShardAnswer.readRowDescription(body) ?? []).map(\.name)
            case BackendID.dataRow: result.rows.append((ShardAnswer.readDataRow(body) ?? []).map { $0.map { String(buffer: $0) } })
            case BackendID.commandComplete: result.tag = body.readNullTerminatedString()
            default: XCTFail("unexpected message \(id)", file: file, line: line)
            }
        }
        return (result, nil)
    }

    private func rows(_ answers: [ShardAnswer], _ plan: MergePlan, bytewise: Bool = false,
                      file: StaticString = #filePath, line: UInt = #line) -> [[String?]] {
        let (result, error) = merge(answers, plan, bytewise: bytewise, file: file, line: line)
        if let error { XCTFail("unexpected error: \(error)", file: file, line: line) }
        return result?.rows ?? []
    }

    // MARK: count, sum, min, max

    func testCountAndSumsWithoutGroupBy() {
        let fields = [field("count", 20), field("si", 20), field("sn", 1700), field("sf", 701), field("sr", 700), field("none", 1700)]
        let targets: [MergePlan.Target] = [.aggregate(.count, name: "count"), .aggregate(.sum, name: "si"), .aggregate(.sum, name: "sn"),
                                           .aggregate(.sum, name: "sf"), .aggregate(.sum, name: "sr"), .aggregate(.sum, name: "none")]
        let answers = [
            answer(fields, [["3", "10", "1.5", "0.1", "1.5", nil]]),
            answer(fields, [["0", nil, "2.25", "0.2", "2.25", nil]]),
            answer(fields, [["2", "-4", "-0.125", nil, nil, nil]]),
        ]
        let (result, error) = merge(answers, plan(targets))
        XCTAssertNil(error)
        XCTAssertEqual(result?.names, ["count", "si", "sn", "sf", "sr", "none"])
        XCTAssertEqual(result?.rows, [["5", "6", "3.625", "0.30000000000000004", "3.75", nil]])
        XCTAssertEqual(result?.tag, "SELECT 1")
    }

    func testBigintSumOverflowIsAnError() {
        let answers = [answer([field("sum", 20)], [["9223372036854775807"]]), answer([field("sum", 20)], [["1"]])]
        let (_, error) = merge(answers, plan([.aggregate(.sum, name: "sum")]))
        XCTAssertEqual(error?.sqlState, "22003")
        XCTAssertEqual(error?.message, "bigint out of range")
    }

    func testNumericSumKeepsTheLargestScale() {
        let answers = [answer([field("sum", 1700)], [["99999999999999999999.5"]]), answer([field("sum", 1700)], [["0.500"]])]
        XCTAssertEqual(rows(answers, plan([.aggregate(.sum, name: "sum")])), [["100000000000000000000.000"]])
    }

    func testMinAndMax() {
        let fields = [field("lo", 23), field("hi", 1700), field("first", 25)]
        let targets: [MergePlan.Target] = [.aggregate(.min, name: "lo"), .aggregate(.max, name: "hi"), .aggregate(.min, name: "first")]
        let answers = [answer(fields, [["5", "9.5", "b"]]), answer(fields, [[nil, nil, nil]]), answer(fields, [["-2", "10.25", "B"]])]
        XCTAssertEqual(rows(answers, plan(targets), bytewise: true), [["-2", "10.25", "B"]])
        let (_, error) = merge(answers, plan(targets), bytewise: false)
        XCTAssertEqual(error?.sqlState, "0A000")
    }

    func testAggregateWithoutGroupByNeedsOneRowPerShard() {
        let answers = [answer([field("count", 20)], [["1"]]), answer([field("count", 20)], [])]
        XCTAssertEqual(merge(answers, plan([.aggregate(.count, name: "count")])).1?.sqlState, "0A000")
    }

    // MARK: avg

    /// Each shard: the visible avg, then the hidden sum and count.
    private func avgAnswers(_ typeOID: UInt32, sumType: UInt32, _ parts: [(avg: String?, sum: String?, count: String)]) -> [ShardAnswer] {
        let fields = [field("avg", typeOID), field("sum", sumType), field("count", 20)]
        return parts.map { answer(fields, [[$0.avg, $0.sum, $0.count]]) }
    }

    func testNumericAvgDividesAsPostgreSQL() {
        let avg = plan([.aggregate(.avg, name: "avg")], hidden: 2)
        // avg(int) of 1 and 2.
        XCTAssertEqual(rows(avgAnswers(1700, sumType: 20, [("1.00000000000000000000", "1", "1"), ("2.0000000000000000", "2", "1")]), avg),
                       [["1.5000000000000000"]])
        // avg(int) of 10000000 and 20000001.
        XCTAssertEqual(rows(avgAnswers(1700, sumType: 20, [("10000000.000000000000", "10000000", "1"), ("20000001.000000000000", "20000001", "1")]), avg),
                       [["15000000.500000000000"]])
        // avg(numeric(10,3)) of 1.000, 2.001 and 0.500; the third shard has no rows.
        XCTAssertEqual(rows(avgAnswers(1700, sumType: 1700, [("1.50050000000000000000", "3.001", "2"), ("0.50000000000000000000", "0.500", "1"), (nil, nil, "0")]), avg),
                       [["1.16700000000000000000"]])
        // avg(bigint) of 1, 2, 2: the hidden sum is numeric.
        XCTAssertEqual(rows(avgAnswers(1700, sumType: 1700, [("1.5000000000000000", "3", "2"), ("2.0000000000000000", "2", "1")]), avg),
                       [["1.6666666666666667"]])
        XCTAssertEqual(rows(avgAnswers(1700, sumType: 1700, [(nil, nil, "0"), (nil, nil, "0")]), avg), [[nil]])
    }

    func testFloatAvg() {
        let avg = plan([.aggregate(.avg, name: "avg")], hidden: 2)
        XCTAssertEqual(rows(avgAnswers(701, sumType: 701, [("1.5", "3", "2"), ("4", "4", "1")]), avg), [["2.3333333333333335"]])
        // avg(real): the shards' single-precision sums are not good enough.
        XCTAssertEqual(merge(avgAnswers(701, sumType: 700, [("1.5", "3", "2")]), avg).1?.sqlState, "0A000")
    }

    // MARK: GROUP BY

    func testGroupByWithOrderByAnAggregate() {
        let fields = [field("k", 25), field("count", 20), field("total", 1700), field("avg", 1700), field("avg_sum", 1700), field("avg_count", 20)]
        let targets: [MergePlan.Target] = [.column(name: "k"), .aggregate(.count, name: "count"), .aggregate(.sum, name: "total"), .aggregate(.avg, name: "avg")]
        let a = answer(fields, [["x", "2", "3.5", "1.75000000000000000000", "3.5", "2"], ["y", "1", "1", "1.00000000000000000000", "1", "1"]])
        let b = answer(fields, [["z", "5", "10", "2.0000000000000000", "10", "5"], ["x", "2", "0.5", "0.25000000000000000000", "0.5", "2"]])
        let sorted = plan(targets, sort: [MergePlan.SortKey(column: .position(2), descending: true, nullsFirst: true, bytewiseCollation: false)],
                          groupBy: [.name("k")], hidden: 2)
        let (result, error) = merge([a, b], sorted)
        XCTAssertNil(error)
        XCTAssertEqual(result?.names, ["k", "count", "total", "avg"])
        XCTAssertEqual(result?.rows, [["z", "5", "10", "2.0000000000000000"], ["x", "4", "4.0", "1.00000000000000000000"], ["y", "1", "1", "1.00000000000000000000"]])
        // Without ORDER BY: groups in the order first seen.
        XCTAssertEqual(rows([a, b], plan(targets, groupBy: [.position(1)], hidden: 2)).map { $0[0] }, ["x", "y", "z"])
        // LIMIT: applied after grouping (here no shard reached LIMIT 2 + OFFSET 1).
        XCTAssertEqual(rows([a, b], plan(targets, sort: sorted.sort, groupBy: [.name("k")], limit: 2, offset: 1, hidden: 2)).map { $0[0] }, ["x", "y"])
    }

    func testGroupByNullsFormOneGroup() {
        let fields = [field("k", 23), field("count", 20)]
        let targets: [MergePlan.Target] = [.column(name: "k"), .aggregate(.count, name: "count")]
        let answers = [answer(fields, [[nil, "2"], ["1", "1"]]), answer(fields, [["1", "4"], [nil, "3"]])]
        XCTAssertEqual(rows(answers, plan(targets, groupBy: [.name("k")])), [[nil, "5"], ["1", "5"]])
    }

    func testGroupByLimitAppliesToTheMergedGroups() {
        // The shards run without LIMIT under GROUP BY (MergePlan.make): groups are whole, and
        // the LIMIT cuts the merged, ordered groups.
        let fields = [field("k", 23), field("count", 20)]
        let targets: [MergePlan.Target] = [.column(name: "k"), .aggregate(.count, name: "count")]
        let answers = [answer(fields, [["1", "1"], ["2", "1"]]), answer(fields, [["2", "4"], ["3", "1"]])]
        let sort = [MergePlan.SortKey(column: .position(2), descending: true, nullsFirst: true, bytewiseCollation: false)]
        XCTAssertEqual(rows(answers, plan(targets, sort: sort, groupBy: [.name("k")], limit: 1)), [["2", "5"]])
    }

    func testUngroupedColumnMustAgreeWithinAGroup() {
        let fields = [field("k", 23), field("label", 25), field("count", 20)]
        let targets: [MergePlan.Target] = [.column(name: "k"), .column(name: "label"), .aggregate(.count, name: "count")]
        let same = [answer(fields, [["1", "one", "1"]]), answer(fields, [["1", "one", "2"]])]
        XCTAssertEqual(rows(same, plan(targets, groupBy: [.name("k")])), [["1", "one", "3"]])
        let different = [answer(fields, [["1", "one", "1"]]), answer(fields, [["1", "uno", "2"]])]
        XCTAssertEqual(merge(different, plan(targets, groupBy: [.name("k")])).1?.sqlState, "0A000")
    }

    // MARK: Number texts

    func testFloatTextsAsPostgreSQLPrintsThem() {
        let doubles: [(Double, String)] = [
            (1.5, "1.5"), (3, "3"), (1e20, "1e+20"), (1e-5, "1e-05"), (-0.0, "-0"), (.infinity, "Infinity"), (-.infinity, "-Infinity"),
            (.nan, "NaN"), (1e14, "100000000000000"), (1e15, "1e+15"), (0.0001, "0.0001"), (123456789012345.6, "123456789012345.6"),
            (9007199254740992, "9.007199254740992e+15"), (.leastNonzeroMagnitude, "5e-324"), (1.7976931348623157e308, "1.7976931348623157e+308"),
            (0.1 + 0.2, "0.30000000000000004"), (1e23, "9.999999999999999e+22"), (-2.5, "-2.5"),
        ]
        for (value, text) in doubles { XCTAssertEqual(PGFloatText.text(value), text) }
        let floats: [(Float, String)] = [
            (1234567, "1.234567e+06"), (123456, "123456"), (0.1, "0.1"), (.leastNonzeroMagnitude, "1e-45"), (16777216, "1.6777216e+07"),
            // Swift prints 9.600024e+08; PostgreSQL excludes the rounding interval's bounds.
            (960002432, "9.6000243e+08"), (108692016, "1.08692016e+08"),
        ]
        for (value, text) in floats { XCTAssertEqual(PGFloatText.text(value), text) }
    }

    func testNumericDivisionScaleAndRounding() {
        let cases: [(String, Int64, String)] = [
            ("1", 3, "0.33333333333333333333"), ("2", 3, "0.66666666666666666667"), ("-2", 3, "-0.66666666666666666667"),
            ("0", 5, "0.00000000000000000000"), ("1", 9999, "0.00010001000100010001"), ("1", 10000, "0.000100000000000000000000"),
            ("1", 10001, "0.000099990000999900009999"), ("10000", 9999, "1.0001000100010001"), ("99999999", 1, "99999999.000000000000"),
            ("10000000", 3, "3333333.333333333333"), ("NaN", 3, "NaN"), ("-Infinity", 2, "-Infinity"),
        ]
        for (sum, count, text) in cases {
            XCTAssertEqual(PGNumeric(text: Array(sum.utf8))?.divided(byCount: count).text, text, "\(sum) / \(count)")
        }
    }
}
