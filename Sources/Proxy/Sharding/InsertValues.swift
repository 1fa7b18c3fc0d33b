/// The VALUES rows of an `INSERT ... VALUES (...), (...) ...` text, so that a multi-row INSERT
/// can be split: each shard runs the text with only its own rows between the same prefix
/// (`INSERT INTO t (a, b) VALUES `) and suffix (`ON CONFLICT ... RETURNING ...`).
struct InsertValues {
    var prefix: String
    /// Each row as written, parentheses included.
    var rows: [String]
    var suffix: String

    /// The text with only the rows at `indices`.
    func statement(rows indices: [Int]) -> String {
        prefix + indices.map { rows[$0] }.joined(separator: ", ") + suffix
    }

    /// Nil when the text has no top-level VALUES list (INSERT ... SELECT, DEFAULT VALUES).
    static func split(_ text: String) -> InsertValues? {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { raw -> InsertValues? in
            enum Phase { case seekingValues, expectingRow, inRow(start: Int), afterRow }
            var phase = Phase.seekingValues
            var depth = 0
            var rows: [Range<Int>] = []
            var index = 0
            scan: while index < raw.count {
                let byte = raw[index]
                // Strings, quoted names, dollar quotes and comments are skipped whole.
                switch byte {
                case UInt8(ascii: "'"):
                    let escapes = index > 0 && raw[index - 1] | 0x20 == UInt8(ascii: "e") && !(index > 1 && StatementShape.isWordByte(raw[index - 2]))
                    index = StatementShape.skipQuoted(raw, from: index + 1, quote: byte, backslashEscapes: escapes)
                    continue scan
                case UInt8(ascii: "\""):
                    index = StatementShape.skipQuoted(raw, from: index + 1, quote: byte)
                    continue scan
                case UInt8(ascii: "$") where !StatementShape.isWordByte(index > 0 ? raw[index - 1] : 0x20):
                    if let end = StatementShape.skipDollarQuoted(raw, from: index) {
                        index = end
                        continue scan
                    }
                case UInt8(ascii: "-") where index + 1 < raw.count && raw[index + 1] == UInt8(ascii: "-"):
                    while index < raw.count, raw[index] != 0x0A { index += 1 }
                    continue scan
                case UInt8(ascii: "/") where index + 1 < raw.count && raw[index + 1] == UInt8(ascii: "*"):
                    index = StatementShape.skipBlockComment(raw, from: index + 2)
                    continue scan
                default:
                    break
                }
                let blank = byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == 0x0C
                switch phase {
                case .seekingValues:
                    if byte == UInt8(ascii: "(") { depth += 1 }
                    if byte == UInt8(ascii: ")") { depth -= 1 }
                    if depth == 0, byte | 0x20 == UInt8(ascii: "v"), isWord("values", raw, at: index) {
                        phase = .expectingRow
                        index += 6
                        continue scan
                    }
                case .expectingRow:
                    guard blank || byte == UInt8(ascii: "(") else { return nil }
                    if byte == UInt8(ascii: "(") {
                        depth = 1
                        phase = .inRow(start: index)
                    }
                case .inRow(let start):
                    if byte == UInt8(ascii: "(") { depth += 1 }
                    if byte == UInt8(ascii: ")") {
                        depth -= 1
                        if depth == 0 {
                            rows.append(start..<(index + 1))
                            phase = .afterRow
                        }
                    }
                case .afterRow:
                    if byte == UInt8(ascii: ",") {
                        phase = .expectingRow
                    } else if !blank {
                        break scan  // the suffix (ON CONFLICT, RETURNING, ;) starts after the last row
                    }
                }
                index += 1
            }
            guard case .afterRow = phase, let first = rows.first, let last = rows.last else { return nil }
            func string(_ range: Range<Int>) -> String { String(decoding: raw[range], as: UTF8.self) }
            return InsertValues(prefix: string(0..<first.lowerBound), rows: rows.map(string), suffix: string(last.upperBound..<raw.count))
        }
    }

    private static func isWord(_ word: StaticString, _ raw: UnsafeRawBufferPointer, at index: Int) -> Bool {
        let count = word.utf8CodeUnitCount
        guard index + count <= raw.count, index == 0 || !StatementShape.isWordByte(raw[index - 1]) else { return false }
        for offset in 0..<count where raw[index + offset] | 0x20 != word.utf8Start[offset] { return false }
        return index + count == raw.count || !StatementShape.isWordByte(raw[index + count])
    }
}
