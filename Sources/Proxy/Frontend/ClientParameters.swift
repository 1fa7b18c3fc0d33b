import Synchronization

/// The settings a client asked for (startup packet, `options`, and later `SET`s the server
/// reported), and how to bring a pooled server connection in line with them before use.
struct ClientParameters {
    /// Settings PostgreSQL reports with ParameterStatus that a client may change; pgproxy follows
    /// them for every client, as PgBouncer does.
    static let reported: [String] = [
        "client_encoding", "DateStyle", "TimeZone", "IntervalStyle", "standard_conforming_strings",
        "application_name", "default_transaction_read_only",
    ]
    private static let canonical: [String: String] = Dictionary(
        uniqueKeysWithValues: reported.map { ($0.lowercased(), $0) })

    /// Name → value the client expects its server connection to have.
    private(set) var values: [String: String] = [:] {
        didSet {
            cachedSignature = nil
            version &+= 1
        }
    }
    private var cachedSignature: Int?
    /// Changes whenever `values` does: lets callers cache what they read from it.
    private(set) var version = 0

    init() {}

    /// Equal for clients whose settings are equal: a server connection last brought in line with a
    /// set of settings needs no work for any client with the same signature (checked per transaction).
    var signature: Int {
        mutating get {
            if let cachedSignature { return cachedSignature }
            let made = ParameterSetInterner.shared.signature(of: values)
            cachedSignature = made
            return made
        }
    }

    static func canonicalName(_ name: String) -> String { canonical[name.lowercased()] ?? name.lowercased() }
    static func isReported(_ name: String) -> Bool { canonical[name.lowercased()] != nil }

    /// The client's view at login: the server's defaults for reported settings, overridden by
    /// what the client sent.
    init(startup: [(String, String)], serverDefaults: [String: String]) {
        for name in Self.reported { if let value = serverDefaults[name] { values[name] = value } }
        for (name, value) in startup where value.first != Self.replayMark { values[Self.canonicalName(name)] = value }
    }

    /// A value the client asked for (a value starting with the replay mark is not taken: it
    /// would be run as a statement).
    mutating func set(_ name: String, _ value: String) {
        guard value.first != Self.replayMark else { return }
        values[Self.canonicalName(name)] = value
    }

    /// Marks a value that is a whole SET statement to replay (a tracked session SET), not a
    /// value to quote.
    private static let replayMark: Character = "\u{1}"

    /// Records a session SET (`track_session_settings`) to replay; returns the value stored.
    @discardableResult
    mutating func setReplayed(_ name: String, statement: String) -> String {
        let value = String(Self.replayMark) + statement
        values[Self.canonicalName(name)] = value
        return value
    }

    /// Drops the tracked session SET of `name`, or every one (after RESET or DISCARD ALL).
    mutating func removeReplayed(_ name: String?) {
        if let name {
            let key = Self.canonicalName(name)
            if values[key]?.first == Self.replayMark { values[key] = nil }
            return
        }
        let replayed = values.filter { $0.value.first == Self.replayMark }.map(\.key)
        for name in replayed { values[name] = nil }
    }

    /// What the client is told at login: every server parameter, with its own settings applied.
    func parameterStatus(serverDefaults: [String: String]) -> [(String, String)] {
        var merged = serverDefaults
        for (name, value) in values where Self.isReported(name) { merged[name] = value }
        return merged.sorted { $0.key < $1.key }
    }

    /// The statements that make `server` match this client, or nil when it already does.
    /// Reported settings are compared with what the server reported; others with what pgproxy set.
    func synchronization(reported serverValues: [String: String], set serverSet: [String: String]) -> String? {
        var statements: [String] = []
        for (name, value) in values {
            let current = Self.isReported(name) ? serverValues[name] : serverSet[name]
            if current != value, let statement = Self.setStatement(name, value) { statements.append(statement) }
        }
        for name in serverSet.keys where values[name] == nil && Self.isIdentifier(name) {
            statements.append("RESET \(name)")
        }
        // A replayed statement may end in a -- comment: each goes on its own line.
        return statements.isEmpty ? nil : statements.sorted().joined(separator: "\n;\n")
    }

    static func setStatement(_ name: String, _ value: String) -> String? {
        if value.first == replayMark { return String(value.dropFirst()) }
        guard isIdentifier(name) else { return nil }
        return "SET \(name) TO '\(value.replacingOccurrences(of: "'", with: "''"))'"
    }

    private static func isIdentifier(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { byte in
            (byte >= 97 && byte <= 122) || (byte >= 65 && byte <= 90) || (byte >= 48 && byte <= 57) || byte == 95 || byte == 46
        }
    }

    /// Splits the startup `options` value (`-c name=value --name=value`, backslash escapes spaces).
    static func parseOptions(_ options: String) -> [(String, String)] {
        var words: [String] = []
        var current = ""
        var escaped = false
        for character in options {
            if escaped {
                current.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == " " {
                if !current.isEmpty { words.append(current) }
                current = ""
            } else {
                current.append(character)
            }
        }
        if !current.isEmpty { words.append(current) }
        var result: [(String, String)] = []
        var index = 0
        while index < words.count {
            var word = words[index]
            if word == "-c", index + 1 < words.count {
                index += 1
                word = words[index]
            } else if word.hasPrefix("--") {
                word.removeFirst(2)
            } else if word.hasPrefix("-c") {
                word.removeFirst(2)
            } else {
                index += 1
                continue
            }
            if let equals = word.firstIndex(of: "=") {
                let name = word[..<equals].replacingOccurrences(of: "-", with: "_")
                result.append((name, String(word[word.index(after: equals)...])))
            }
            index += 1
        }
        return result
    }
}

/// Gives each distinct set of settings a number, so comparing a client's settings with a server
/// connection's is an integer comparison. Consulted only when a client's settings change.
final class ParameterSetInterner: Sendable {
    static let shared = ParameterSetInterner()
    private struct Table {
        var numbers: [[String: String]: Int] = [:]
        var next = 1
    }
    private let table = Mutex(Table())

    func signature(of values: [String: String]) -> Int {
        table.withLock { table in
            if let known = table.numbers[values] { return known }
            // Bounded: forgetting old sets only costs a full comparison later; numbers never repeat.
            if table.numbers.count >= 10_000 { table.numbers.removeAll() }
            let number = table.next
            table.next += 1
            table.numbers[values] = number
            return number
        }
    }
}
