import XCTest

@testable import Proxy

/// Rows and keys as PostgreSQL 15's COPY FROM reads them, whatever pieces the data comes in.
final class CopyRowSplitterTests: XCTestCase {
    private enum Got: Equatable {
        case row(String, key: String?)
        case header(String)
        case end
        case failed(String)
    }

    private func statement(_ sql: String) throws -> CopyFromStatement {
        guard case .statement(let made) = CopyFromStatement.make(sql) else { throw XCTSkip("refused: \(sql)") }
        return made
    }

    /// Feeds `bytes` in pieces of `piece` bytes (all at once when 0), cutting after each, and
    /// hands every cut to `each` with the splitter it refers to.
    private func feed(_ sql: String, _ bytes: [UInt8], key: Int, piece: Int, _ each: (CopyRowSplitter, CopyRowSplitter.Cut) -> Void) throws {
        var splitter = CopyRowSplitter(format: try statement(sql), keyIndex: key, keyName: "k")
        func drain(final: Bool) {
            while let cut = splitter.next(final: final) { each(splitter, cut) }
            splitter.compact()
        }
        var index = 0
        let step = piece > 0 ? piece : max(bytes.count, 1)
        while index < bytes.count {
            splitter.append(bytes[index..<min(index + step, bytes.count)])
            drain(final: false)
            index += step
        }
        drain(final: true)
    }

    /// Cuts text `data` fed in pieces of `piece` bytes (all at once when 0).
    private func cut(_ sql: String, _ data: String, key: Int, piece: Int = 0) throws -> [Got] {
        var got: [Got] = []
        try feed(sql, Array(data.utf8), key: key, piece: piece) { splitter, cut in
            switch cut {
            case .row(let range, let key):
                let text = String(decoding: splitter.bytes[range], as: UTF8.self)
                if case .value(let keyRange) = key {
                    got.append(.row(text, key: String(decoding: splitter.keyBytes[keyRange], as: UTF8.self)))
                } else {
                    got.append(.row(text, key: nil))
                }
            case .everyShard(let range): got.append(.header(String(decoding: splitter.bytes[range], as: UTF8.self)))
            case .end: got.append(.end)
            case .failed(let message): got.append(.failed(message))
            }
        }
        return got
    }

    func testTextRowsAndEscapedKeys() throws {
        let data = "1\tone\n2\\\ttwo\tx\n\\N\tnull\n\\x41\\102C\\\\\tk\n\\N\\t\tnot null\nlast\tno newline"
        let want: [Got] = [
            .row("1\tone\n", key: "1"),
            .row("2\\\ttwo\tx\n", key: "2\ttwo"),
            .row("\\N\tnull\n", key: nil),
            .row("\\x41\\102C\\\\\tk\n", key: "ABC\\"),
            .row("\\N\\t\tnot null\n", key: "N\t"),
            .row("last\tno newline", key: "last"),
        ]
        for piece in [0, 1, 2, 3, 7] {
            XCTAssertEqual(try cut("COPY t FROM STDIN", data, key: 0, piece: piece), want, "pieces of \(piece)")
        }
        XCTAssertEqual(try cut("COPY t FROM STDIN", "a\tb\tc\n", key: 2), [.row("a\tb\tc\n", key: "c")])
        XCTAssertEqual(try cut("COPY t FROM STDIN", "a\tb\n", key: 2), [.failed("missing data for column \"k\"")])
        // A backslash before a newline makes it data, not a line end.
        XCTAssertEqual(try cut("COPY t FROM STDIN", "1\tx\\\ny\n2\tz\n", key: 0), [.row("1\tx\\\ny\n", key: "1"), .row("2\tz\n", key: "2")])
    }

    func testLineEndsFollowTheFirstLine() throws {
        for piece in [0, 1] {
            XCTAssertEqual(try cut("COPY t FROM STDIN", "1\r\n2\r\n", key: 0, piece: piece), [.row("1\r\n", key: "1"), .row("2\r\n", key: "2")])
            XCTAssertEqual(try cut("COPY t FROM STDIN", "1\r2\r", key: 0, piece: piece), [.row("1\r", key: "1"), .row("2\r", key: "2")])
        }
        XCTAssertEqual(try cut("COPY t FROM STDIN", "1\n2\r\n", key: 0), [.row("1\n", key: "1"), .failed("literal carriage return found in data")])
        XCTAssertEqual(try cut("COPY t FROM STDIN", "1\r\n2\n", key: 0), [.row("1\r\n", key: "1"), .failed("literal newline found in data")])
    }

    func testEndOfDataMarker() throws {
        XCTAssertEqual(try cut("COPY t FROM STDIN", "1\n\\.\n2\n", key: 0), [.row("1\n", key: "1"), .end])
        XCTAssertEqual(try cut("COPY t FROM STDIN", "1\n2\\.\n3\n", key: 0), [.row("1\n", key: "1"), .row("2\n", key: "2")])
        XCTAssertEqual(try cut("COPY t FROM STDIN", "1\n\\.x\n", key: 0), [.row("1\n", key: "1"), .failed("end-of-copy marker corrupt")])
        XCTAssertEqual(try cut("COPY t FROM STDIN (FORMAT csv)", "1\n\\.\n2\n", key: 0), [.row("1\n", key: "1"), .end])
        // In CSV a backslash is data, and `\.` only ends the data alone at the start of a line.
        XCTAssertEqual(try cut("COPY t FROM STDIN (FORMAT csv)", "a\\.,1\n", key: 1), [.row("a\\.,1\n", key: "1")])
    }

    func testCSVQuotesEscapesAndNull() throws {
        let data = "\"a,b\",1\n\"line\nbreak\",\"2\"\"x\"\n,\n\"\",\"\"\nx,\"3\"z\n"
        let want: [Got] = [
            .row("\"a,b\",1\n", key: "1"),
            .row("\"line\nbreak\",\"2\"\"x\"\n", key: "2\"x"),
            .row(",\n", key: nil),
            .row("\"\",\"\"\n", key: ""),
            .row("x,\"3\"z\n", key: "3z"),
        ]
        for piece in [0, 1, 4] {
            XCTAssertEqual(try cut("COPY t FROM STDIN WITH (FORMAT csv)", data, key: 1, piece: piece), want, "pieces of \(piece)")
        }
        // Another escape than the quote, a delimiter, HEADER, a NULL string.
        let other = "h1;h2\r\n'a;''b';'x\\'y'\r\nNIL;'NIL'\r\n"
        XCTAssertEqual(try cut("COPY t FROM STDIN WITH (FORMAT csv, DELIMITER ';', QUOTE '''', ESCAPE '\\', HEADER, NULL 'NIL')", other, key: 1),
                       [.header("h1;h2\r\n"), .row("'a;''b';'x\\'y'\r\n", key: "x'y"), .row("NIL;'NIL'\r\n", key: "NIL")])
        XCTAssertEqual(try cut("COPY t FROM STDIN CSV", "\"open,1\n", key: 1), [.failed("unterminated CSV quoted field")])
    }

    /// Binary COPY data: header, tuples of (bigint key, text), trailer.
    static func binaryCopy(_ rows: [(Int64?, String)], extensionBytes: Int = 0) -> [UInt8] {
        var data: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00, 0, 0, 0, 0]
        func int32(_ value: Int32) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }
        data += int32(Int32(extensionBytes)) + Array(repeating: 7, count: extensionBytes)
        for (key, name) in rows {
            data += [0, 2]
            if let key { data += int32(8) + withUnsafeBytes(of: key.bigEndian) { Array($0) } } else { data += int32(-1) }
            data += int32(Int32(name.utf8.count)) + Array(name.utf8)
        }
        return data + [0xFF, 0xFF]
    }

    func testBinaryTuplesAndTheirKeys() throws {
        let data = Self.binaryCopy([(1, "one"), (nil, "null"), (-2, "")], extensionBytes: 3)
        for piece in [0, 1, 5] {
            var cuts: [String] = []
            try feed("COPY t FROM STDIN (FORMAT binary)", data, key: 0, piece: piece) { splitter, cut in
                switch cut {
                case .everyShard(let range): cuts.append("every \(range.count)")
                case .row(let range, .value(let key)): cuts.append("row \(range.count) key \(Array(splitter.keyBytes[key]))")
                case .row(let range, .null): cuts.append("row \(range.count) null")
                case .end: cuts.append("end")
                case .failed(let message): cuts.append("failed \(message)")
                }
            }
            XCTAssertEqual(cuts, ["every 22", "row 21 key [0, 0, 0, 0, 0, 0, 0, 1]", "row 14 null",
                                  "row 18 key [255, 255, 255, 255, 255, 255, 255, 254]", "every 2"], "pieces of \(piece)")
        }
        var truncated = CopyRowSplitter(format: try statement("COPY t FROM STDIN (FORMAT binary)"), keyIndex: 0, keyName: "id")
        truncated.append(Self.binaryCopy([(1, "one")]).dropLast(5))
        _ = truncated.next(final: false)  // the header
        guard case .failed(let message)? = truncated.next(final: true) else { return XCTFail("a cut tuple is no row") }
        XCTAssertEqual(message, "unexpected EOF in COPY data")
        var wrong = CopyRowSplitter(format: try statement("COPY t FROM STDIN (FORMAT binary)"), keyIndex: 0, keyName: "id")
        wrong.append(Array("PGCOPY\nxxxxxxxxxxxxxxxxxxx".utf8))
        guard case .failed(let signature)? = wrong.next(final: false) else { return XCTFail("not binary COPY data") }
        XCTAssertEqual(signature, "COPY file signature not recognized")
    }

    func testStatementOptions() throws {
        let text = try statement("COPY public.\"Users\" (id, \"Name\") FROM STDIN")
        XCTAssertEqual(text.table, "public.Users")
        XCTAssertEqual(text.columns, ["id", "Name"])
        XCTAssertEqual(text.format, .text)
        XCTAssertEqual(text.delimiter, 0x09)
        XCTAssertEqual(text.nullString, Array("\\N".utf8))
        XCTAssertTrue(text.fromStdin)
        XCTAssertEqual(text.columnProbe.contains("'\"public\".\"Users\"'::regclass"), true, text.columnProbe)
        let csv = try statement("COPY users FROM STDIN WITH CSV HEADER DELIMITER '|'")
        XCTAssertEqual(csv.format, .csv)
        XCTAssertEqual(csv.delimiter, UInt8(ascii: "|"))
        XCTAssertEqual(csv.quote, UInt8(ascii: "\""))
        XCTAssertEqual(csv.escape, UInt8(ascii: "\""))
        XCTAssertEqual(csv.nullString, [])
        XCTAssertTrue(csv.header)
        XCTAssertFalse(try statement("COPY users FROM '/tmp/x'").fromStdin)
        XCTAssertEqual(try statement("COPY users FROM STDIN (FORMAT binary)").format, .binary)
        for (sql, words) in [
            ("COPY users FROM STDIN (FORMAT xml)", "not recognized"),
            ("COPY users FROM STDIN (DELIMITER '||')", "single one-byte"),
            ("COPY users FROM STDIN (FORMAT csv, FORCE_NULL (id))", "FORCE_NULL"),
            ("COPY users FROM STDIN (ENCODING 'LATIN1')", "UTF-8"),
            ("COPY users TO STDOUT", "COPY TO"),
            ("SELECT 1", "not COPY"),
            ("COPY users FROM STDIN; SELECT 1", "only statement"),
        ] {
            guard case .refused(let reason) = CopyFromStatement.make(sql) else {
                XCTFail("not refused: \(sql)")
                continue
            }
            XCTAssertTrue(reason.contains(words), "\(sql): \(reason)")
        }
    }
}
