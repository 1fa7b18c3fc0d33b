import NIOCore

/// RELOAD: re-reads pgproxy.toml and users.toml and applies them without dropping clients.
enum Reload: AdminCommand {
    static let words = ["RELOAD"]
    static let usage = "RELOAD"

    static func run(_ arguments: [String], in context: AdminContext) -> EventLoopFuture<AdminReply> {
        guard arguments.isEmpty else { return context.error("usage: \(usage)") }
        switch context.runtime.reload() {
        case .applied(let changes, let needRestart):
            var notices = [AdminReply.notice(changes.isEmpty ? "configuration reloaded: no changes"
                                                             : "configuration reloaded: " + changes.joined(separator: "; "))]
            for setting in needRestart {
                notices.append(AdminReply.notice("\(setting) changed but only takes effect after a restart"))
            }
            return context.reply(.done(tag: "RELOAD", notices: notices))
        case .refused(let errors):
            return context.reply(.error(ErrorFields(
                .error, SQLState.configFileError, "reload refused, the running configuration is unchanged",
                detail: errors.description)))
        }
    }
}
