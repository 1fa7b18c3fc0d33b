#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The statements of a simple Query (or a Parse) that change session state pgproxy must know of
/// in transaction pooling: SQL-level PREPARE/EXECUTE/DEALLOCATE, DISCARD, session SET/RESET, and
/// what keeps state on the server connection past the transaction (LISTEN, temp tables, WITH
/// HOLD cursors, session advisory locks). A lexer over the statements' first words (quotes,
/// comments and dollar quotes skipped), not a parser; the usual statement costs one pass over
/// its bytes and no allocation.
enum SessionCommand: Equatable {
    case prepare
    case execute
    /// DEALLOCATE name; nil for DEALLOCATE ALL.
    case deallocate(String?)
    /// DISCARD ALL.
    case discardAll
    /// SET (not LOCAL) of the setting `name`; `statement` is the whole statement, to replay.
    case set(name: String, statement: String)
    /// RESET of one setting; nil for RESET ALL.
    case reset(String?)
    /// A session-level change pgproxy does not carry: SET ROLE, SET SESSION AUTHORIZATION,
    /// SET SESSION CHARACTERISTICS, `set_config(..., false)`, a SET among other statements.
    case untracked
    /// State that outlives the transaction on the server connection; the words say what.
    case sessionState(String)

    /// The commands among the statements of `text`; empty for the usual query.
    static func scan(_ text: UnsafeRawBufferPointer) -> [SessionCommand] {
        var lexer = SQLLexer(text)
        lexer.skipBlanks()
        guard lexer.index < text.count else { return [] }
        let (several, functions) = survey(text)
        var found: [SessionCommand] = []
        if several {
            while lexer.index < text.count {
                let start = lexer.index
                if var command = command(&lexer, from: start) {
                    // Among other statements (maybe BEGIN ... ROLLBACK) a SET's fate is not known.
                    if case .set = command { command = .untracked }
                    found.append(command)
                }
                lexer.skipStatement()
                lexer.skipBlanks()
            }
        } else if let command = command(&lexer, from: lexer.index) {
            found.append(command)
        }
        if functions.advisoryLock { found.append(.sessionState("session-level advisory locks (use pg_advisory_xact_lock)")) }
        if functions.calls, find("set_config", anchor: 7, in: text), find("false", anchor: 2, in: text) { found.append(.untracked) }
        return found
    }

    /// Whether `text` holds one statement (trailing `;` and blanks allowed).
    static func isSingleStatement(_ text: UnsafeRawBufferPointer) -> Bool {
        var lexer = SQLLexer(text)
        lexer.skipBlanks()
        lexer.skipStatement()
        lexer.skipBlanks()
        while lexer.index < text.count, text[lexer.index] == UInt8(ascii: ";") {
            lexer.index += 1
            lexer.skipBlanks()
        }
        return lexer.index >= text.count
    }

    /// Whether a reset query makes the server forget its prepared statements.
    static func dropsStatements(_ sql: String?) -> Bool {
        guard var sql else { return false }
        return sql.withUTF8 { bytes in
            scan(UnsafeRawBufferPointer(bytes)).contains { $0 == .discardAll || $0 == .deallocate(nil) }
        }
    }

    private static func command(_ lexer: inout SQLLexer, from start: Int) -> SessionCommand? {
        lexer.skipBlanks()
        guard lexer.index < lexer.text.count else { return nil }
        // The first letter says which words can follow; SELECT, INSERT, UPDATE, DELETE, BEGIN,
        // COMMIT, END and ROLLBACK are turned away without a word compared in full.
        switch lexer.text[lexer.index] | 0x20 {
        case UInt8(ascii: "s"):
            return setCommand(&lexer, from: start)
        case UInt8(ascii: "p"):
            guard lexer.take("prepare") else { return nil }
            return lexer.take("transaction") ? nil : .prepare
        case UInt8(ascii: "e"):
            return lexer.take("execute") ? .execute : nil
        case UInt8(ascii: "d"):
            if lexer.take("deallocate") {
                _ = lexer.take("prepare")
                if lexer.take("all") { return .deallocate(nil) }
                return lexer.identifier().map { .deallocate($0) }
            }
            if lexer.take("discard") { return lexer.take("all") ? .discardAll : nil }
            if lexer.take("declare") {
                return lexer.contains("with", "hold", before: lexer.statementEnd()) ? .sessionState("cursors WITH HOLD") : nil
            }
            return nil
        case UInt8(ascii: "r"):
            guard lexer.take("reset") else { return nil }
            if lexer.take("all") { return .reset(nil) }
            return .reset(lexer.settingName())
        case UInt8(ascii: "l"):
            return lexer.take("listen") ? .sessionState("LISTEN") : nil
        case UInt8(ascii: "c"):
            guard lexer.take("create") else { return nil }
            _ = lexer.take("or") && lexer.take("replace")
            _ = lexer.take("global") || lexer.take("local")
            guard lexer.take("temp") || lexer.take("temporary") else { return nil }
            if lexer.take("view") || lexer.take("sequence") || lexer.take("recursive") { return .sessionState("temporary views and sequences") }
            guard lexer.take("table") else { return nil }
            return lexer.contains("commit", "drop", before: lexer.statementEnd()) ? nil : .sessionState("temporary tables without ON COMMIT DROP")
        default:
            return nil
        }
    }

    /// A SET of a session setting; nil for the rest that starts with an s (SELECT, SET LOCAL,
    /// SET TRANSACTION ...).
    private static func setCommand(_ lexer: inout SQLLexer, from start: Int) -> SessionCommand? {
        guard lexer.take("set") else { return nil }
        if lexer.take("local") || lexer.take("transaction") || lexer.take("constraints") { return nil }
        if lexer.take("session") {
            if lexer.take("characteristics") || lexer.take("authorization") { return .untracked }
        }
        if lexer.take("role") { return .untracked }
        guard var name = lexer.settingName() else { return nil }
        switch name {
        case "time": name = lexer.take("zone") ? "timezone" : name
        case "xml": name = lexer.take("option") ? "xmloption" : name
        case "schema": name = "search_path"
        case "names": name = "client_encoding"
        default: break
        }
        let end = lexer.statementEnd()
        let statement = String(decoding: UnsafeRawBufferPointer(rebasing: lexer.text[start..<end]), as: UTF8.self)
        return .set(name: name, statement: statement)
    }

    /// Whether the text has a `;` with more than blanks after it (maybe several statements),
    /// and whether it calls `pg_advisory_lock`, `pg_try_advisory_lock` or their `_shared` forms:
    /// locks held by the session, not the transaction. (A `;` or the name inside a string literal
    /// only costs the slower path or a needless refusal check; the lexer decides the statements.)
    /// Found with memchr, which looks at many bytes at once: the usual query has neither.
    private static func survey(_ text: UnsafeRawBufferPointer) -> (several: Bool, functions: (advisoryLock: Bool, calls: Bool)) {
        guard let base = text.baseAddress, !text.isEmpty else { return (false, (false, false)) }
        var several = false
        if let semicolon = memchr(base, Int32(UInt8(ascii: ";")), text.count) {
            var index = base.distance(to: UnsafeRawPointer(semicolon)) + 1
            while index < text.count, text[index] == 0x20 || text[index] == 0x0A || text[index] == 0x0D
                || text[index] == 0x09 || text[index] == UInt8(ascii: ";") { index += 1 }
            several = index < text.count
        }
        // Functions are only looked for in text that calls something.
        guard memchr(base, Int32(UInt8(ascii: "(")), text.count) != nil else { return (several, (false, false)) }
        let lock = hasAdvisoryLock(text, letter: UInt8(ascii: "y")) || hasAdvisoryLock(text, letter: UInt8(ascii: "Y"))
        return (several, (lock, true))
    }

    /// A call of `pg_advisory_lock`, `pg_try_advisory_lock` or their `_shared` forms, in any case,
    /// found through the `y`s of its name.
    private static func hasAdvisoryLock(_ text: UnsafeRawBufferPointer, letter: UInt8) -> Bool {
        var from = 7
        while let start = nextMatch("advisory_lock", anchor: 7, letter: letter, in: text, from: &from) {
            let prefixed = matches("pg_", in: text, endingAt: start) || matches("pg_try_", in: text, endingAt: start)
            var after = start + 13
            if matches("_shared", in: text, at: after) { after += 7 }
            while after < text.count, text[after] == 0x20 || text[after] == 0x0A || text[after] == 0x09 { after += 1 }
            if prefixed, after < text.count, text[after] == UInt8(ascii: "(") { return true }
        }
        return false
    }

    /// Whether `needle` (lower-case ASCII) is in `text` in any case; looked for with memchr by
    /// its letter at `anchor`.
    static func find(_ needle: StaticString, anchor: Int, in text: UnsafeRawBufferPointer) -> Bool {
        let letter = needle.utf8Start[anchor]
        var from = anchor
        if nextMatch(needle, anchor: anchor, letter: letter, in: text, from: &from) != nil { return true }
        from = anchor
        return nextMatch(needle, anchor: anchor, letter: letter & ~0x20, in: text, from: &from) != nil
    }

    /// The start of the next `needle` whose letter at `anchor` is `letter`, searching from `from`.
    private static func nextMatch(
        _ needle: StaticString, anchor: Int, letter: UInt8, in text: UnsafeRawBufferPointer, from: inout Int
    ) -> Int? {
        guard let base = text.baseAddress else { return nil }
        while from < text.count, let found = memchr(base + from, Int32(letter), text.count - from) {
            let at = base.distance(to: UnsafeRawPointer(found))
            from = at + 1
            let start = at - anchor
            if start >= 0, matches(needle, in: text, at: start) { return start }
        }
        return nil
    }

    private static func matches(_ needle: StaticString, in text: UnsafeRawBufferPointer, at start: Int) -> Bool {
        let count = needle.utf8CodeUnitCount
        guard start >= 0, start + count <= text.count else { return false }
        let letters = needle.utf8Start
        for offset in 0..<count where text[start + offset] | 0x20 != letters[offset] | 0x20 { return false }
        return true
    }

    private static func matches(_ needle: StaticString, in text: UnsafeRawBufferPointer, endingAt end: Int) -> Bool {
        matches(needle, in: text, at: end - needle.utf8CodeUnitCount)
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

    /// Consumes the next word if it is `expected` (lower-case ASCII), in any case; no allocation.
    mutating func take(_ expected: StaticString) -> Bool {
        skipBlanks()
        let count = expected.utf8CodeUnitCount
        guard text.count - index >= count else { return false }
        let letters = expected.utf8Start
        for offset in 0..<count where text[index + offset] | 0x20 != letters[offset] { return false }
        if index + count < text.count, Self.isWordByte(text[index + count]) { return false }
        index += count
        return true
    }

    /// Whether the words `first` and `second` follow each other before `end`.
    func contains(_ first: StaticString, _ second: StaticString, before end: Int) -> Bool {
        var probe = self
        while probe.index < end {
            if probe.take(first) {
                if probe.take(second) { return true }
                continue
            }
            probe.skipBlanks()
            if probe.index < end, Self.isWordByte(probe.text[probe.index]) {
                while probe.index < end, Self.isWordByte(probe.text[probe.index]) { probe.index += 1 }
            } else {
                probe.index += 1
            }
        }
        return false
    }

    /// The next bare word, lower-cased; nil at anything else.
    mutating func word() -> String? {
        skipBlanks()
        let start = index
        while index < text.count, Self.isWordByte(text[index]) { index += 1 }
        guard index > start else { return nil }
        return String(decoding: UnsafeRawBufferPointer(rebasing: text[start..<index]), as: UTF8.self).lowercased()
    }

    /// A setting's name: identifiers joined by dots (`app.tenant_id`).
    mutating func settingName() -> String? {
        guard var name = identifier() else { return nil }
        while index < text.count, text[index] == UInt8(ascii: ".") {
            index += 1
            guard let part = identifier() else { return nil }
            name += "." + part
        }
        return name
    }

    /// A bare word (lower-cased, as PostgreSQL folds it) or a quoted identifier (as written).
    mutating func identifier() -> String? {
        skipBlanks()
        guard index < text.count, text[index] == UInt8(ascii: "\"") else { return word() }
        return quoted().map { String(decoding: $0, as: UTF8.self) }
    }

    /// The quoted text at `index` (a string literal or a quoted identifier, by its opening
    /// quote), with doubled quotes made single; nil when it does not end.
    mutating func quoted() -> [UInt8]? {
        let quote = text[index]
        var bytes: [UInt8] = []
        index += 1
        while index < text.count {
            if text[index] == quote {
                if index + 1 < text.count, text[index + 1] == quote {
                    bytes.append(quote)
                    index += 2
                    continue
                }
                index += 1
                return bytes
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
            case UInt8(ascii: "'") where index > 0 && text[index - 1] | 0x20 == UInt8(ascii: "e")
                && (index < 2 || !Self.isWordByte(text[index - 2])):
                // E'...': backslash escapes.
                index += 1
                while index < text.count, text[index] != byte {
                    if text[index] == UInt8(ascii: "\\") { index += 1 }
                    index += 1
                }
                index += 1
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
    static func isWordByte(_ byte: UInt8) -> Bool {
        (byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7A || byte == 0x5F || (byte >= 0x30 && byte <= 0x39) || byte >= 0x80
    }
}
