/// The shape of a SQL statement: its text with literals, comments and spacing taken out,
/// reduced to a 64-bit fingerprint. Statements that differ only in their constants
/// (`... WHERE aid = 48213` and `... WHERE aid = 7`) have the same shape, so the routing cache
/// keyed by it hits for applications that send literals inline.
///
/// Computed by one pass over the bytes, with no allocation: cheap enough for every Query on the
/// data path. It is a lexer, not a parser: what the statement means is left to libpg_query on
/// a cache miss.
struct StatementShape: Equatable, Sendable {
    /// FNV-1a over the normalized text.
    var fingerprint: UInt64
    /// Literals (strings, numbers) in the statement, in order.
    var literalCount: Int
    /// `$n` parameters referenced.
    var parameterCount: Int
    /// A routing hint in a comment: `/* pgproxy: role=primary */` (or `route: replica`).
    var roleHint: RoleHint?
    /// `/* pgproxy: shard=1 */`; a negative value for `shard=any`.
    var shardHint: Int32?
    /// `/* pgproxy: sharding_key=42 */` (also `sharding_key='a b'`): where the value is in the text.
    var shardingKeyHint: Range<Int>?

    enum RoleHint: String, Sendable { case primary, replica }

    private static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    private static let prime: UInt64 = 0x0000_0100_0000_01b3

    /// Scans `text` (UTF-8). `literal` is called with the byte range of each literal, in order.
    static func scan(_ text: UnsafeRawBufferPointer, literal: ((Range<Int>) -> Void)? = nil) -> StatementShape {
        var hash = offsetBasis
        var literals = 0
        var parameters = 0
        var hint: RoleHint?
        var shardHint: Int32?
        var shardingKeyHint: Range<Int>?
        // Blanks only matter between two words ("select a" is not "selecta"); around
        // punctuation they are dropped, so "aid=7" and "aid = 7" have one shape.
        var pendingSpace = false
        var lastWasWord = false
        var index = 0
        let count = text.count

        @inline(__always) func mix(_ byte: UInt8) {
            hash = (hash ^ UInt64(byte)) &* prime
        }
        @inline(__always) func token(word: Bool) {
            if pendingSpace, word, lastWasWord { mix(0x20) }
            pendingSpace = false
            lastWasWord = word
        }

        let tables = Self.tables
        while index < count {
            let byte = text[index]
            // The common bytes through one table: words, blanks, punctuation. The rest below.
            let kind = tables[Int(byte)]
            if kind == Self.wordStart {
                token(word: true)
                var folded = tables[256 + Int(byte)]
                repeat {
                    mix(folded)
                    index += 1
                    guard index < count else { break }
                    folded = tables[256 + Int(text[index])]
                } while folded != 0
                continue
            }
            if kind == Self.blank {
                pendingSpace = true
                index += 1
                continue
            }
            if kind == Self.punctuation {
                token(word: false)
                mix(byte)
                index += 1
                continue
            }
            switch byte {
            case 0x20, 0x09, 0x0A, 0x0D, 0x0C:  // blanks collapse into one space between tokens
                pendingSpace = true
                index += 1
            case UInt8(ascii: "-") where index + 1 < count && text[index + 1] == UInt8(ascii: "-"):
                while index < count, text[index] != 0x0A { index += 1 }
                pendingSpace = true
            case UInt8(ascii: "/") where index + 1 < count && text[index + 1] == UInt8(ascii: "*"):
                let start = index + 2
                index = skipBlockComment(text, from: start)
                readHints(in: text, start..<max(start, index - 2), role: &hint, shard: &shardHint, shardingKey: &shardingKeyHint)
                pendingSpace = true
            case UInt8(ascii: "'"):
                let start = index
                index = skipQuoted(text, from: index + 1, quote: UInt8(ascii: "'"))
                literals += 1
                literal?(start..<index)
                token(word: true)
                mix(UInt8(ascii: "?"))
            case UInt8(ascii: "\""):
                // A quoted identifier is part of the shape, case and all.
                let end = skipQuoted(text, from: index + 1, quote: UInt8(ascii: "\""))
                token(word: true)
                while index < end {
                    mix(text[index])
                    index += 1
                }
            case UInt8(ascii: "$"):
                if index + 1 < count, isDigit(text[index + 1]) {
                    token(word: true)
                    mix(byte)
                    index += 1
                    var number = 0
                    while index < count, isDigit(text[index]) {
                        number = number &* 10 &+ Int(text[index] - 0x30)
                        mix(text[index])
                        index += 1
                    }
                    parameters = max(parameters, number)
                } else if let end = skipDollarQuoted(text, from: index) {
                    literals += 1
                    literal?(index..<end)
                    token(word: true)
                    mix(UInt8(ascii: "?"))
                    index = end
                } else {
                    token(word: false)
                    mix(byte)
                    index += 1
                }
            case UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: ".") where index + 1 < count && isDigit(text[index + 1]):
                let start = index
                index = skipNumber(text, from: index)
                literals += 1
                literal?(start..<index)
                token(word: true)
                mix(UInt8(ascii: "?"))
            case _ where isStringPrefix(byte) && index + 1 < count && text[index + 1] == UInt8(ascii: "'")
                && !continuesWord(text, before: index):
                // E'...', X'...', B'...', N'...': a prefixed string literal (U&'...' is rare and left alone).
                let start = index
                index = skipQuoted(text, from: index + 2, quote: UInt8(ascii: "'"), backslashEscapes: byte | 0x20 == UInt8(ascii: "e"))
                literals += 1
                literal?(start..<index)
                token(word: true)
                mix(UInt8(ascii: "?"))
            default:
                token(word: isWordByte(byte))
                if isWordByte(byte) {
                    // Words: keywords and identifiers, case-folded as PostgreSQL folds them.
                    while index < count, isWordByte(text[index]) {
                        let character = text[index]
                        mix(character >= 0x41 && character <= 0x5A ? character | 0x20 : character)
                        index += 1
                    }
                } else {
                    mix(byte)
                    index += 1
                }
            }
        }
        return StatementShape(
            fingerprint: hash, literalCount: literals, parameterCount: parameters, roleHint: hint,
            shardHint: shardHint, shardingKeyHint: shardingKeyHint)
    }

    static func scan(_ text: String, literal: ((Range<Int>) -> Void)? = nil) -> StatementShape {
        var text = text
        return text.withUTF8 { scan(UnsafeRawBufferPointer($0), literal: literal) }
    }

    // MARK: lexing helpers

    private static let special: UInt8 = 0
    private static let wordStart: UInt8 = 1
    private static let blank: UInt8 = 2
    private static let punctuation: UInt8 = 3

    /// Bytes 0..<256: what a byte starting a token is (`special` ones need the full switch:
    /// quotes, comments, `$`, digits, `.`, and the letters that can prefix a string literal).
    /// Bytes 256..<512: a byte inside a word, case-folded, or 0 for one that ends the word.
    private static let tables: UnsafeMutablePointer<UInt8> = {
        let tables = UnsafeMutablePointer<UInt8>.allocate(capacity: 512)
        for value in 0..<256 {
            let byte = UInt8(value)
            let kind: UInt8
            switch byte {
            case 0x20, 0x09, 0x0A, 0x0D, 0x0C:
                kind = blank
            case UInt8(ascii: "-"), UInt8(ascii: "/"), UInt8(ascii: "'"), UInt8(ascii: "\""), UInt8(ascii: "$"), UInt8(ascii: "."),
                 UInt8(ascii: "0")...UInt8(ascii: "9"):
                kind = special
            case _ where isStringPrefix(byte):
                kind = special
            case _ where isWordByte(byte):
                kind = wordStart
            default:
                kind = punctuation
            }
            tables[value] = kind
            tables[256 + value] = isWordByte(byte) ? (byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte) : 0
        }
        return tables
    }()

    @inline(__always) private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    @inline(__always) static func isWordByte(_ byte: UInt8) -> Bool {
        (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A) || isDigit(byte) || byte == UInt8(ascii: "_") || byte >= 0x80
    }

    /// E, X, B or N in either case: letters that can open a prefixed string literal.
    @inline(__always) private static func isStringPrefix(_ byte: UInt8) -> Bool {
        let lower = byte | 0x20
        return lower == UInt8(ascii: "e") || lower == UInt8(ascii: "x") || lower == UInt8(ascii: "b") || lower == UInt8(ascii: "n")
    }

    /// Whether the byte before `index` belongs to a word (then `e'` is not a literal prefix).
    @inline(__always) private static func continuesWord(_ text: UnsafeRawBufferPointer, before index: Int) -> Bool {
        index > 0 && isWordByte(text[index - 1])
    }

    /// Index after the closing quote; a doubled quote is an escaped one.
    static func skipQuoted(_ text: UnsafeRawBufferPointer, from start: Int, quote: UInt8, backslashEscapes: Bool = false) -> Int {
        var index = start
        while index < text.count {
            let byte = text[index]
            if backslashEscapes, byte == UInt8(ascii: "\\") {
                index += 2
                continue
            }
            if byte == quote {
                if index + 1 < text.count, text[index + 1] == quote {
                    index += 2
                    continue
                }
                return index + 1
            }
            index += 1
        }
        return text.count
    }

    /// Index after `*/`, honouring nesting as PostgreSQL does.
    static func skipBlockComment(_ text: UnsafeRawBufferPointer, from start: Int) -> Int {
        var depth = 1
        var index = start
        while index < text.count {
            if text[index] == UInt8(ascii: "*"), index + 1 < text.count, text[index + 1] == UInt8(ascii: "/") {
                depth -= 1
                index += 2
                if depth == 0 { return index }
            } else if text[index] == UInt8(ascii: "/"), index + 1 < text.count, text[index + 1] == UInt8(ascii: "*") {
                depth += 1
                index += 2
            } else {
                index += 1
            }
        }
        return text.count
    }

    /// `$tag$ ... $tag$`: index after the closing tag, or nil when `$` does not open one.
    static func skipDollarQuoted(_ text: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var tagEnd = start + 1
        while tagEnd < text.count, text[tagEnd] != UInt8(ascii: "$") {
            let byte = text[tagEnd]
            guard isWordByte(byte), !(tagEnd == start + 1 && isDigit(byte)) else { return nil }
            tagEnd += 1
        }
        guard tagEnd < text.count else { return nil }
        let tagLength = tagEnd - start + 1
        var index = tagEnd + 1
        while index + tagLength <= text.count {
            if text[index] == UInt8(ascii: "$") {
                var matches = true
                for offset in 0..<tagLength where text[index + offset] != text[start + offset] {
                    matches = false
                    break
                }
                if matches { return index + tagLength }
            }
            index += 1
        }
        return text.count
    }

    /// Index after a numeric literal: digits, a fraction, an exponent.
    private static func skipNumber(_ text: UnsafeRawBufferPointer, from start: Int) -> Int {
        var index = start
        while index < text.count, isDigit(text[index]) || text[index] == UInt8(ascii: ".") || text[index] == UInt8(ascii: "_") { index += 1 }
        if index < text.count, text[index] | 0x20 == UInt8(ascii: "e") {
            var next = index + 1
            if next < text.count, text[next] == UInt8(ascii: "+") || text[next] == UInt8(ascii: "-") { next += 1 }
            if next < text.count, isDigit(text[next]) {
                index = next
                while index < text.count, isDigit(text[index]) { index += 1 }
            }
        }
        return index
    }

    /// `pgproxy: role=primary, shard=1, sharding_key=42` (any of them, separated by commas or
    /// blanks) or `route: replica` inside a comment's text. The first comment that sets a hint wins.
    private static func readHints(
        in text: UnsafeRawBufferPointer, _ range: Range<Int>,
        role: inout RoleHint?, shard: inout Int32?, shardingKey: inout Range<Int>?
    ) {
        guard range.count >= 6, range.count <= 256 else { return }
        var lexer = SQLLexer(UnsafeRawBufferPointer(rebasing: text[range]))
        lexer.skipBlanks()
        if lexer.take("route") {
            lexer.skipBlanks()
            guard lexer.skip(UInt8(ascii: ":")), role == nil else { return }
            role = lexer.word().flatMap(RoleHint.init(rawValue:))
            return
        }
        guard lexer.take("pgproxy") else { return }
        lexer.skipBlanks()
        guard lexer.skip(UInt8(ascii: ":")) else { return }
        while true {
            lexer.skipBlanks()
            _ = lexer.skip(UInt8(ascii: ","))
            guard let name = lexer.word() else { return }
            lexer.skipBlanks()
            guard lexer.skip(UInt8(ascii: "=")) else { return }
            lexer.skipBlanks()
            let valueStart = lexer.index
            guard let value = lexer.hintValue() else { return }
            switch name {
            case "role", "route":
                if role == nil { role = RoleHint(rawValue: String(decoding: value, as: UTF8.self).lowercased()) }
            case "shard":
                let spelled = String(decoding: value, as: UTF8.self)
                if shard == nil { shard = spelled.lowercased() == "any" ? -1 : Int32(spelled).flatMap { $0 >= 0 ? $0 : nil } }
            case "sharding_key":
                if shardingKey == nil {
                    // The value as written; a quoted one without its quotes (no '' inside).
                    var start = range.lowerBound + valueStart
                    var end = range.lowerBound + lexer.index
                    if text[start] == UInt8(ascii: "'") {
                        start += 1
                        end -= 1
                    }
                    shardingKey = start..<max(start, end)
                }
            default:
                return
            }
        }
    }
}

extension SQLLexer {
    /// Consumes `byte` if it is next.
    mutating func skip(_ byte: UInt8) -> Bool {
        guard index < text.count, text[index] == byte else { return false }
        index += 1
        return true
    }

    /// A comment hint's value: quoted, or up to a blank or a comma.
    mutating func hintValue() -> [UInt8]? {
        guard index < text.count else { return nil }
        if text[index] == UInt8(ascii: "'") { return quoted() }
        let start = index
        while index < text.count, text[index] != 0x20, text[index] != UInt8(ascii: ","), text[index] != 0x0A, text[index] != 0x09 { index += 1 }
        return index > start ? Array(text[start..<index]) : nil
    }
}
