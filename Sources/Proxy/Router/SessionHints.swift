/// The routing state of one client session that pgproxy keeps for the router: hints set with
/// pgproxy's own SET commands, the running transaction's character, and the text of named
/// prepared statements (so a later Bind is routed by what it runs).
final class RoutingSession {
    /// `SET SERVER ROLE TO 'primary' | 'replica'`; nil for 'auto'.
    var roleHint: StatementShape.RoleHint?
    /// `SET SHARDING KEY TO '...'`.
    var shardingKey: [UInt8]?
    /// `SET SHARD TO 'n'`.
    var shard: Int32?
    /// The open transaction ran a write or DDL statement.
    var transactionHasWritten = false
    /// The open transaction began READ ONLY.
    var transactionReadOnly = false
    /// Named prepared statements: their text, and their analysis once known.
    var prepared: [String: PreparedStatementText] = [:]

    /// The transaction ended: its character is forgotten.
    @inline(__always)
    func transactionEnded() {
        transactionHasWritten = false
        transactionReadOnly = false
    }
}

/// A named statement's text as Parse gave it, and what routing learnt of it at its first route:
/// later Binds of the statement reuse both.
final class PreparedStatementText {
    let text: [UInt8]
    var shape: StatementShape?
    var info: StatementInfo?

    init(text: [UInt8]) { self.text = text }
}

/// pgproxy's own SET commands, answered by pgproxy and never sent to a server:
/// `SET SERVER ROLE TO 'primary' | 'replica' | 'auto'`, `SET SHARDING KEY TO '...'`,
/// `SET SHARD TO 'n'` (also with `=` for `TO`, and `RESET` of each).
enum SessionHint: Equatable {
    case serverRole(StatementShape.RoleHint?)
    case shardingKey([UInt8]?)
    case shard(Int32?)
    /// A hint command with a value pgproxy refuses; the message says why.
    case invalid(String)

    /// The hint in a simple Query's text, or nil when the text is something else. Cheap: looks at
    /// the first bytes only unless they spell SET or RESET.
    static func parse(_ text: UnsafeRawBufferPointer) -> SessionHint? {
        var lexer = SQLLexer(text)
        lexer.skipBlanks()
        // Almost every statement is turned away here, by its first three bytes (SET or RES).
        let at = lexer.index
        guard at + 3 <= text.count else { return nil }
        let isReset = text[at] | 0x20 == UInt8(ascii: "r")
        guard isReset || text[at] | 0x20 == UInt8(ascii: "s"), text[at + 1] | 0x20 == UInt8(ascii: "e"),
              text[at + 2] | 0x20 == (isReset ? UInt8(ascii: "s") : UInt8(ascii: "t")) else { return nil }
        guard isReset ? lexer.take("reset") : lexer.take("set") else { return nil }
        guard let first = lexer.word() else { return nil }
        var target: String
        switch first {
        case "server":
            guard lexer.word() == "role" else { return nil }
            target = "role"
        case "sharding":
            guard lexer.word() == "key" else { return nil }
            target = "key"
        case "shard":
            target = "shard"
        default:
            return nil
        }
        if isReset {
            guard lexer.atEnd else { return nil }
            switch target {
            case "role": return .serverRole(nil)
            case "key": return .shardingKey(nil)
            default: return .shard(nil)
            }
        }
        guard lexer.assignment(), let value = lexer.value(), lexer.atEnd else {
            return .invalid("syntax: SET SERVER ROLE TO 'primary'|'replica'|'auto', SET SHARDING KEY TO '<key>', SET SHARD TO '<n>'")
        }
        switch target {
        case "role":
            switch String(decoding: value, as: UTF8.self).lowercased() {
            case "primary": return .serverRole(.primary)
            case "replica": return .serverRole(.replica)
            case "auto", "any", "default": return .serverRole(nil)
            case let other: return .invalid("invalid server role '\(other)': expected 'primary', 'replica' or 'auto'")
            }
        case "key":
            return .shardingKey(value)
        default:
            if String(decoding: value, as: UTF8.self).lowercased() == "any" { return .shard(nil) }
            guard let number = Int32(String(decoding: value, as: UTF8.self)), number >= 0 else {
                return .invalid("invalid shard '\(String(decoding: value, as: UTF8.self))': expected a shard number or 'ANY'")
            }
            return .shard(number)
        }
    }
}

/// What the hint commands need beyond `SQLLexer`: `TO` or `=`, one value (quoted or bare), an
/// optional `;`.
extension SQLLexer {
    mutating func assignment() -> Bool {
        skipBlanks()
        if index < text.count, text[index] == UInt8(ascii: "=") {
            index += 1
            return true
        }
        return take("to")
    }

    mutating func value() -> [UInt8]? {
        skipBlanks()
        guard index < text.count else { return nil }
        if text[index] == UInt8(ascii: "'") { return quoted() }
        let start = index
        while index < text.count, text[index] != 0x20, text[index] != UInt8(ascii: ";"), text[index] != 0x0A { index += 1 }
        return index > start ? Array(text[start..<index]) : nil
    }

    var atEnd: Bool {
        mutating get {
            skipBlanks()
            if index < text.count, text[index] == UInt8(ascii: ";") { index += 1 }
            skipBlanks()
            return index >= text.count
        }
    }
}
