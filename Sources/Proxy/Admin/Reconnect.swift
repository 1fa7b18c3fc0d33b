import NIOCore

/// RECONNECT [db]: replaces every server connection, idle ones at once and busy ones when their
/// client releases them, e.g. after the server's settings or address changed.
enum Reconnect: AdminCommand {
    static let words = ["RECONNECT"]
    static let usage = "RECONNECT [db]"

    static func run(_ arguments: [String], in context: AdminContext) -> EventLoopFuture<AdminReply> {
        var pools = context.runtime.allPools
        if !arguments.isEmpty {
            switch context.database(arguments, usage: usage) {
            case .failure(let error): return context.reply(.error(error))
            case .success(let name): pools = pools.filter { $0.key.database == name }
            }
        }
        for pool in pools { pool.reconnect() }
        return context.reply(.done(tag: "RECONNECT"))
    }
}
