/// The statements of a simple Query that change session state pgproxy must know of in
/// transaction pooling: SQL-level PREPARE/EXECUTE/DEALLOCATE, DISCARD, and session SET/RESET.
/// A lexer over the statements' first words (quotes, comments and dollar quotes skipped), not a
/// parser; a Query whose first byte rules all of them out and that holds no `;` costs one pass.
enum SessionCommand: Equatable {
    case prepare
    case execute
    /// DEALLOCATE name; nil for DEALLOCATE ALL.
    case deallocate(String?)
    /// DISCARD ALL.
    case discardAll
    /// SET (not LOCAL) of the setting `name`; `statement` is the whole statement, to replay.
    case set(name: String, statement: String)
    /// RESET name.
    case reset(String)
    /// RESET ALL.
    case resetAll

    /// The commands among the statements of `text`; empty for the usual query.
    static func scan(_ text: UnsafeRawBufferPointer) -> [SessionCommand] {
        var lexer = SQLLexer(text)
        lexer.skipBlanks()
        guard lexer.index < text.count else { return [] }
        if !isCandidate(text[lexer.index]), !text.contains(UInt8(ascii: ";")) { return [] }
        var found: [SessionCommand] = []
        while lexer.index < text.count {
            let start = lexer.index
            if let command = command(&lexer, from: start) { found.append(command) }
            lexer.skipStatement()
            lexer.skipBlanks()
        }
        return found
    }

    /// P(repare), E(xecute), D(eallocate, iscard), S(et), R(eset).
    @inline(__always)
    private static func isCandidate(_ byte: UInt8) -> Bool {
        switch byte | 0x20 {
        case UInt8(ascii: "p"), UInt8(ascii: "e"), UInt8(ascii: "d"), UInt8(ascii: "s"), UInt8(ascii: "r"): return true
        default: return false
        }
    }

    private static func command(_ lexer: inout SQLLexer, from start: Int) -> SessionCommand? {
        guard let first = lexer.word() else { return nil }
        switch first {
        case "prepare":
            // PREPARE TRANSACTION is two-phase commit, not a statement.
            return lexer.peekWord() == "transaction" ? nil : .prepare
        case "execute":
            return .execute
        case "deallocate":
            var name = lexer.identifier()
            if name == "prepare" { name = lexer.identifier() }
            guard let name else { return nil }
            return name == "all" ? .deallocate(nil) : .deallocate(name)
        case "discard":
            return lexer.word() == "all" ? .discardAll : nil
        case "reset":
            guard let name = lexer.identifier() else { return nil }
            return name == "all" ? .resetAll : .reset(name)
        case "set":
            var name = lexer.identifier()
            if name == "local" || name == "transaction" || name == "constraints" { return nil }
            if name == "session" {
                name = lexer.identifier()
                if name == "characteristics" { return nil }
                if name == "authorization" { name = "session_authorization" }
            }
            guard var name else { return nil }
            switch name {
            case "time": name = lexer.word() == "zone" ? "timezone" : name
            case "schema": name = "search_path"
            case "names": name = "client_encoding"
            default: break
            }
            let end = lexer.statementEnd()
            let statement = String(decoding: UnsafeRawBufferPointer(rebasing: lexer.text[start..<end]), as: UTF8.self)
            return .set(name: name, statement: statement)
        default:
            return nil
        }
    }
}

/// Just enough lexing of SQL to find statements and their first words.
struct SQLLexer {
    let text: UnsafeRawBufferPointer
    var index = 0

    init(_ text: UnsafeRawBufferPointer) { self.text = text }

    mutating func skipBlanks() {
        while index < text.count {
            let byte = text[index]
            if byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == 0x0C {
                index += 1
            } else if byte == UInt8(ascii: "-"), index + 1 < text.count, text[index + 1] == UInt8(ascii: "-") {
                while index < text.count, text[index] != 0x0A { index += 1 }
            } else if byte == UInt8(ascii: "/"), index + 1 < text.count, text[index + 1] == UInt8(ascii: "*") {
                skipBlockComment()
            } else {
                return
            }
        }
    }

    /// The next bare word, lower-cased; nil at anything else.
    mutating func word() -> String? {
        skipBlanks()
        let start = index
        while index < text.count, Self.isWordByte(text[index]) { index += 1 }
        guard index > start else { return nil }
        return String(decoding: UnsafeRawBufferPointer(rebasing: text[start..<index]), as: UTF8.self).lowercased()
    }

    mutating func peekWord() -> String? {
        let saved = index
        defer { index = saved }
        return word()
    }

    /// A bare word (lower-cased, as PostgreSQL folds it) or a quoted identifier (as written).
    mutating func identifier() -> String? {
        skipBlanks()
        guard index < text.count, text[index] == UInt8(ascii: "\"") else { return word() }
        var bytes: [UInt8] = []
        index += 1
        while index < text.count {
            if text[index] == UInt8(ascii: "\"") {
                if index + 1 < text.count, text[index + 1] == UInt8(ascii: "\"") {
                    bytes.append(UInt8(ascii: "\""))
                    index += 2
                    continue
                }
                index += 1
                return String(decoding: bytes, as: UTF8.self)
            }
            bytes.append(text[index])
            index += 1
        }
        return nil
    }

    /// Moves past the end of the current statement (its `;`, or the end of the text).
    mutating func skipStatement() {
        index = statementEnd()
        if index < text.count { index += 1 }
    }

    /// Index of the `;` ending the current statement, or the end of the text; comments,
    /// quoted strings and identifiers, and dollar-quoted strings are skipped.
    mutating func statementEnd() -> Int {
        let saved = index
        defer { index = saved }
        while index < text.count {
            let byte = text[index]
            switch byte {
            case UInt8(ascii: ";"):
                return index
            case UInt8(ascii: "'"), UInt8(ascii: "\""):
                index += 1
                while index < text.count, text[index] != byte { index += 1 }
                index += 1
            case UInt8(ascii: "-") where index + 1 < text.count && text[index + 1] == UInt8(ascii: "-"):
                while index < text.count, text[index] != 0x0A { index += 1 }
            case UInt8(ascii: "/") where index + 1 < text.count && text[index + 1] == UInt8(ascii: "*"):
                skipBlockComment()
            case UInt8(ascii: "$"):
                skipDollarQuote()
            default:
                index += 1
            }
        }
        return text.count
    }

    private mutating func skipBlockComment() {
        var depth = 0
        while index + 1 < text.count {
            if text[index] == UInt8(ascii: "/"), text[index + 1] == UInt8(ascii: "*") {
                depth += 1
                index += 2
            } else if text[index] == UInt8(ascii: "*"), text[index + 1] == UInt8(ascii: "/") {
                depth -= 1
                index += 2
                if depth == 0 { return }
            } else {
                index += 1
            }
        }
        index = text.count
    }

    /// `$tag$ ... $tag$` (the tag may be empty); a `$1` parameter is just passed.
    private mutating func skipDollarQuote() {
        let start = index
        var end = index + 1
        while end < text.count, Self.isWordByte(text[end]), !(text[end] >= 0x30 && text[end] <= 0x39 && end == index + 1) { end += 1 }
        guard end < text.count, text[end] == UInt8(ascii: "$") else {
            index += 1
            return
        }
        let tag = UnsafeRawBufferPointer(rebasing: text[start...end])
        index = end + 1
        while index + tag.count <= text.count {
            if text[index] == UInt8(ascii: "$"), UnsafeRawBufferPointer(rebasing: text[index..<(index + tag.count)]).elementsEqual(tag) {
                index += tag.count
                return
            }
            index += 1
        }
        index = text.count
    }

    @inline(__always)
    private static func isWordByte(_ byte: UInt8) -> Bool {
        (byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7A || byte == 0x5F || (byte >= 0x30 && byte <= 0x39) || byte >= 0x80
    }
}
