import NIOCore

/// What an admin command can reach: the runtime, the console's loop, and which session asks.
struct AdminContext {
    let runtime: ProxyRuntime
    let loop: any EventLoop
    /// The asking session's process ID (as in SHOW CLIENTS).
    let processID: Int32

    func reply(_ reply: AdminReply) -> EventLoopFuture<AdminReply> { loop.makeSucceededFuture(reply) }

    func error(_ message: String, _ sqlState: String = SQLState.syntaxError, hint: String? = nil) -> EventLoopFuture<AdminReply> {
        reply(.error(ErrorFields(.error, sqlState, message, hint: hint)))
    }

    /// The database named by `arguments[0]`, or an error reply when it is not configured.
    func database(_ arguments: [String], usage: String) -> Result<String, ErrorFields> {
        guard arguments.count == 1 else {
            return .failure(ErrorFields(.error, SQLState.syntaxError, "usage: \(usage)"))
        }
        let name = arguments[0]
        guard runtime.config.database(named: name) != nil || runtime.allPools.contains(where: { $0.key.database == name }) else {
            return .failure(ErrorFields(.error, SQLState.invalidCatalogName, "database \"\(name)\" does not exist"))
        }
        return .success(name)
    }
}

/// One command of the admin console. Each lives in a file of its own.
protocol AdminCommand {
    /// The words that name it, upper case, e.g. ["SHOW", "POOLS"].
    static var words: [String] { get }
    /// How to call it, for SHOW HELP and usage errors, e.g. "PAUSE [db]".
    static var usage: String { get }
    /// Runs it; `arguments` are the words after `words`, unquoted.
    static func run(_ arguments: [String], in context: AdminContext) -> EventLoopFuture<AdminReply>
}

/// The console's commands, and the parsing of a statement into one of them.
enum AdminCommands {
    static let all: [any AdminCommand.Type] = [
        ShowHelp.self, ShowPools.self, ShowStats.self, ShowStatsTotals.self, ShowStatsAverages.self,
        ShowServers.self, ShowClients.self, ShowDatabases.self, ShowUsers.self, ShowConfig.self,
        ShowLists.self, ShowVersion.self, ShowBackends.self, ShowShards.self, ShowRouting.self,
        Reload.self, Pause.self, Resume.self, Kill.self, KillClient.self, Reconnect.self,
        Disable.self, Enable.self, Shutdown.self,
    ]

    /// The command `statement` names and its arguments; nil when none matches.
    static func parse(_ statement: String) -> (any AdminCommand.Type, [String])? {
        let tokens = tokenize(statement)
        let upper = tokens.map { $0.uppercased() }
        // Longest match first, so "SHOW STATS_TOTALS" is not read as "SHOW STATS" with an argument.
        for command in all.sorted(by: { $0.words.count > $1.words.count }) {
            let words = command.words
            guard upper.count >= words.count, Array(upper.prefix(words.count)) == words else { continue }
            return (command, Array(tokens.dropFirst(words.count)))
        }
        return nil
    }

    /// Words separated by blanks; a word may be quoted with ' or " (quotes removed).
    static func tokenize(_ statement: String) -> [String] {
        var tokens: [String] = []
        var current = ""
        var quote: Character?
        var inToken = false
        for character in statement {
            if let open = quote {
                if character == open { quote = nil } else { current.append(character) }
            } else if character == "'" || character == "\"" {
                quote = character
                inToken = true
            } else if character.isWhitespace {
                if inToken { tokens.append(current) }
                current = ""
                inToken = false
            } else {
                current.append(character)
                inToken = true
            }
        }
        if inToken { tokens.append(current) }
        return tokens
    }

    /// The error for a statement no command matches: it names the statement and the valid commands.
    static func unknown(_ statement: String) -> AdminReply {
        let valid = all.map { $0.usage }.joined(separator: ", ")
        return .error(ErrorFields(.error, SQLState.syntaxError,
                                  "invalid command '\(statement)', use SHOW HELP;",
                                  hint: "valid commands: \(valid)"))
    }
}
