import NIOCore

/// SHOW HELP: the commands, as a NOTICE (what PgBouncer does) and as rows.
enum ShowHelp: AdminCommand {
    static let words = ["SHOW", "HELP"]
    static let usage = "SHOW HELP"

    static func run(_ arguments: [String], in context: AdminContext) -> EventLoopFuture<AdminReply> {
        let list = AdminCommands.all.map { $0.usage }
        let detail = "\n" + list.map { "\t\($0)" }.joined(separator: "\n")
        return context.reply(.done(tag: "SHOW", notices: [AdminReply.notice("Console usage", detail: detail)]))
    }
}

/// SHOW VERSION: pgproxy's version string.
enum ShowVersion: AdminCommand {
    static let words = ["SHOW", "VERSION"]
    static let usage = "SHOW VERSION"

    static func run(_ arguments: [String], in context: AdminContext) -> EventLoopFuture<AdminReply> {
        context.reply(.rows(columns: [AdminColumn("version")], rows: [["pgproxy \(ProxyVersion.string)"]]))
    }
}
