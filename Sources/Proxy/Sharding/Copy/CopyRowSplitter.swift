/// Cuts COPY FROM data in text or CSV format into rows the way PostgreSQL 15 reads it
/// (CopyReadLineText), and reads each row's sharding key field as PostgreSQL would
/// (CopyReadAttributesText / CopyReadAttributesCSV): backslash escapes in text, quotes and
/// escapes in CSV, the NULL string compared before unescaping. Binary COPY: see
/// `CopyRowSplitter+Binary.swift`. Bytes arrive in pieces of any size; a row is cut only once
/// its line end is here (or at the end of the data).
struct CopyRowSplitter {
    enum Key: Equatable {
        /// The key's bytes, unescaped: `keyBytes[range]`.
        case value(Range<Int>)
        case null
    }

    enum Cut {
        /// A data row: `bytes[range]`, its line end included.
        case row(Range<Int>, Key)
        /// Bytes every shard's COPY expects: the header line (HEADER); binary COPY's header and
        /// trailer.
        case everyShard(Range<Int>)
        /// `\.`: the data ends here; what follows is ignored, as PostgreSQL does.
        case end
        /// The data cannot be read (PostgreSQL's message; SQLSTATE 22P04).
        case failed(String)
    }

    private enum LineEnd { case unknown, newline, carriageReturn, both }

    private let csv: Bool
    /// Binary COPY: keys are in binary form (`nextBinary`).
    let binary: Bool
    private let delimiter: UInt8
    private let quote: UInt8
    private let escape: UInt8
    private let nullString: [UInt8]
    let keyIndex: Int
    let keyName: String
    var headerPending: Bool
    private var lineEnd = LineEnd.unknown
    /// The data received and not yet dropped; rows are cut from `position` on.
    private(set) var bytes: [UInt8] = []
    var position = 0
    /// Unescaped keys of the rows cut since `compact`.
    var keyBytes: [UInt8] = []
    var ended = false

    init(format: CopyFromStatement, keyIndex: Int, keyName: String) {
        csv = format.format == .csv
        binary = format.format == .binary
        delimiter = format.delimiter
        quote = format.quote
        escape = format.escape
        nullString = format.nullString
        headerPending = format.header || binary
        self.keyIndex = keyIndex
        self.keyName = keyName
    }

    /// Bytes received and not yet cut into rows.
    var unreadCount: Int { bytes.count - position }

    mutating func append<Bytes: Sequence>(_ data: Bytes) where Bytes.Element == UInt8 {
        guard !ended else { return }
        bytes.append(contentsOf: data)
    }

    /// Drops the bytes of rows already cut (their ranges become invalid) and the keys read.
    mutating func compact() {
        if position > 0 {
            bytes.removeSubrange(0..<position)
            position = 0
        }
        keyBytes.removeAll(keepingCapacity: true)
    }

    /// The next row. `final`: no more data comes, so the rest is the last row even without a
    /// line end. Nil when no whole row is here (or nothing is left).
    mutating func next(final: Bool) -> Cut? {
        guard !ended, position < bytes.count else { return nil }
        if binary { return nextBinary(final: final) }
        let found = bytes.withUnsafeBufferPointer { findLine($0, from: position, final: final) }
        switch found {
        case nil:
            return nil
        case .failed(let message)?:
            ended = true
            return .failed(message)
        case .line(let contentEnd, let end, let marker)?:
            let start = position
            position = end
            if marker {
                ended = true
                guard contentEnd > start else { return .end }
                // The data before `\.` on its line is the last row: sent with a line end.
                bytes.replaceSubrange(contentEnd..<end, with: lineEndBytes)
                position = contentEnd + lineEndBytes.count
                return cutRow(start..<position, contentEnd: contentEnd)
            }
            if headerPending {
                headerPending = false
                return .everyShard(start..<end)
            }
            return cutRow(start..<end, contentEnd: contentEnd)
        }
    }

    private var lineEndBytes: [UInt8] {
        switch lineEnd {
        case .carriageReturn: return [0x0D]
        case .both: return [0x0D, 0x0A]
        default: return [0x0A]
        }
    }

    private mutating func cutRow(_ range: Range<Int>, contentEnd: Int) -> Cut {
        let key = bytes.withUnsafeBufferPointer { buffer -> Result<Key, CutError> in
            csv ? csvKey(buffer, range.lowerBound, contentEnd) : textKey(buffer, range.lowerBound, contentEnd)
        }
        switch key {
        case .success(let key): return .row(range, key)
        case .failure(let error):
            ended = true
            return .failed(error.message)
        }
    }

    private struct CutError: Error { var message: String }

    private enum Line {
        case line(contentEnd: Int, end: Int, marker: Bool)
        case failed(String)
    }

    // MARK: lines

    private mutating func findLine(_ b: UnsafeBufferPointer<UInt8>, from start: Int, final: Bool) -> Line? {
        let count = b.count
        var inQuote = false
        var lastWasEscape = false
        // An escape that is the quote itself needs no special care here: the quote toggles.
        let escape: Int = self.escape == quote ? -1 : Int(self.escape)
        var index = start
        while index < count {
            let byte = b[index]
            if csv {
                if inQuote && Int(byte) == escape { lastWasEscape.toggle() }
                if byte == quote && !lastWasEscape { inQuote.toggle() }
                if Int(byte) != escape { lastWasEscape = false }
            }
            if byte == 0x0D && !inQuote {
                let hasNext = index + 1 < count
                if !hasNext && !final && lineEnd != .carriageReturn { return nil }
                let nextIsNewline = hasNext && b[index + 1] == 0x0A
                switch lineEnd {
                case .unknown:
                    lineEnd = nextIsNewline ? .both : .carriageReturn
                    return .line(contentEnd: index, end: index + (nextIsNewline ? 2 : 1), marker: false)
                case .carriageReturn:
                    return .line(contentEnd: index, end: index + 1, marker: false)
                case .both:
                    guard nextIsNewline else {
                        return .failed(csv ? "unquoted carriage return found in data" : "literal carriage return found in data")
                    }
                    return .line(contentEnd: index, end: index + 2, marker: false)
                case .newline:
                    return .failed(csv ? "unquoted carriage return found in data" : "literal carriage return found in data")
                }
            }
            if byte == 0x0A && !inQuote {
                switch lineEnd {
                case .unknown, .newline:
                    lineEnd = .newline
                    return .line(contentEnd: index, end: index + 1, marker: false)
                default:
                    return .failed(csv ? "unquoted newline found in data" : "literal newline found in data")
                }
            }
            if byte == 0x5C && (!csv || index == start) {  // backslash
                guard index + 1 < count else {
                    if final { break }
                    return nil
                }
                if b[index + 1] == 0x2E {  // `\.`
                    guard index + 2 < count else {
                        if final { return .line(contentEnd: index, end: count, marker: true) }
                        return nil
                    }
                    let after = b[index + 2]
                    if after == 0x0A || after == 0x0D {
                        var end = index + 3
                        if after == 0x0D, end < count, b[end] == 0x0A { end += 1 }
                        return .line(contentEnd: index, end: end, marker: true)
                    }
                    if !csv { return .failed("end-of-copy marker corrupt") }
                } else if !csv {
                    index += 2  // the escaped byte is data, a line end or a delimiter included
                    continue
                }
            }
            index += 1
        }
        guard final else { return nil }
        if csv && inQuote { return .failed("unterminated CSV quoted field") }
        return .line(contentEnd: count, end: count, marker: false)
    }

    // MARK: the key field

    /// Text format: fields end at unescaped delimiters; the raw field is compared with the NULL
    /// string, then its escapes are read.
    private mutating func textKey(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Result<Key, CutError> {
        var fieldStart = start
        var field = 0
        while true {
            var index = fieldStart
            while index < end, b[index] != delimiter {
                index += b[index] == 0x5C ? 2 : 1
            }
            index = min(index, end)
            if field == keyIndex {
                return .success(decodeText(b, fieldStart, index))
            }
            guard index < end else { return .failure(CutError(message: "missing data for column \"\(keyName)\"")) }
            field += 1
            fieldStart = index + 1
        }
    }

    private mutating func decodeText(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Key {
        if end - start == nullString.count, nullString.indices.allSatisfy({ b[start + $0] == nullString[$0] }) { return .null }
        let first = keyBytes.count
        var index = start
        while index < end {
            var byte = b[index]
            index += 1
            if byte == 0x5C, index < end {
                let escaped = b[index]
                index += 1
                switch escaped {
                case 0x30...0x37:  // octal, up to three digits
                    var value = Int(escaped - 0x30)
                    for _ in 0..<2 where index < end && (0x30...0x37).contains(b[index]) {
                        value = value * 8 + Int(b[index] - 0x30)
                        index += 1
                    }
                    byte = UInt8(truncatingIfNeeded: value)
                case 0x78 where index < end && Self.hexValue(b[index]) != nil:  // \x, one or two hex digits
                    var value = Int(Self.hexValue(b[index])!)
                    index += 1
                    if index < end, let low = Self.hexValue(b[index]) {
                        value = value * 16 + Int(low)
                        index += 1
                    }
                    byte = UInt8(truncatingIfNeeded: value)
                case 0x62: byte = 0x08  // \b
                case 0x66: byte = 0x0C  // \f
                case 0x6E: byte = 0x0A  // \n
                case 0x72: byte = 0x0D  // \r
                case 0x74: byte = 0x09  // \t
                case 0x76: byte = 0x0B  // \v
                default: byte = escaped
                }
            }
            keyBytes.append(byte)
        }
        return .value(first..<keyBytes.count)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x41 + 10
        case 0x61...0x66: return byte - 0x61 + 10
        default: return nil
        }
    }

    /// CSV: fields end at delimiters outside quotes; inside quotes the escape byte before a quote
    /// or an escape makes it data. A field is NULL when it is unquoted and equals the NULL string.
    private mutating func csvKey(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Result<Key, CutError> {
        var index = start
        var field = 0
        while true {
            let fieldStart = index
            let first = keyBytes.count
            let keep = field == keyIndex
            var sawQuote = false
            var fieldEnd = end
            scan: while index < end {
                let byte = b[index]
                index += 1
                if byte == delimiter {
                    fieldEnd = index - 1
                    break scan
                }
                if byte == quote {
                    sawQuote = true
                    while true {
                        guard index < end else { return .failure(CutError(message: "unterminated CSV quoted field")) }
                        let quoted = b[index]
                        index += 1
                        if quoted == escape, index < end, b[index] == escape || b[index] == quote {
                            if keep { keyBytes.append(b[index]) }
                            index += 1
                            continue
                        }
                        if quoted == quote { break }
                        if keep { keyBytes.append(quoted) }
                    }
                    continue
                }
                if keep { keyBytes.append(byte) }
            }
            if keep {
                let raw = fieldEnd - fieldStart
                if !sawQuote, raw == nullString.count, nullString.indices.allSatisfy({ b[fieldStart + $0] == nullString[$0] }) {
                    keyBytes.removeSubrange(first...)
                    return .success(.null)
                }
                return .success(.value(first..<keyBytes.count))
            }
            guard fieldEnd < end else { return .failure(CutError(message: "missing data for column \"\(keyName)\"")) }
            field += 1
        }
    }
}
