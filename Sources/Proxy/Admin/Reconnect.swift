import NIOCore

/// RECONNECT [db]: replaces every server connection, idle ones at once and busy ones when their
/// client releases them, e.g. after the server's settings or address changed.
enum Reconnect: AdminCommand {
    static let words = ["RECONNECT"]
    static let usage = "RECONNECT [db]"

    static func run(_ arguments: [String], in context: AdminContext) -> EventLoopFuture<AdminReply> {
        switch optionalDatabase(arguments, usage: usage, in: context) {
        case .failure(let error): return context.reply(.error(error))
        case .success(let database):
            for pool in context.runtime.allPools where database == nil || pool.key.database == database { pool.reconnect() }
            return context.reply(.done(tag: "RECONNECT"))
        }
    }
}
