import NIOCore

/// DISABLE db: refuses new client connections to the database; connected clients carry on.
enum Disable: AdminCommand {
    static let words = ["DISABLE"]
    static let usage = "DISABLE db"

    static func run(_ arguments: [String], in context: AdminContext) -> EventLoopFuture<AdminReply> {
        switch context.database(arguments, usage: usage) {
        case .failure(let error): return context.reply(.error(error))
        case .success(let name):
            context.runtime.disabledDatabases.withLock { _ = $0.insert(name) }
            return context.reply(.done(tag: "DISABLE"))
        }
    }
}

/// ENABLE db: accepts new client connections to the database again after DISABLE.
enum Enable: AdminCommand {
    static let words = ["ENABLE"]
    static let usage = "ENABLE db"

    static func run(_ arguments: [String], in context: AdminContext) -> EventLoopFuture<AdminReply> {
        switch context.database(arguments, usage: usage) {
        case .failure(let error): return context.reply(.error(error))
        case .success(let name):
            context.runtime.disabledDatabases.withLock { _ = $0.remove(name) }
            return context.reply(.done(tag: "ENABLE"))
        }
    }
}
