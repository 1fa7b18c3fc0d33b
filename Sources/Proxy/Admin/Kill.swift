import NIOCore

/// KILL db: drops every client and server connection of the database at once. The database
/// stays paused: new clients may connect, and their first transaction waits for RESUME.
enum Kill: AdminCommand {
    static let words = ["KILL"]
    static let usage = "KILL db"

    static func run(_ arguments: [String], in context: AdminContext) -> EventLoopFuture<AdminReply> {
        let name: String
        switch context.database(arguments, usage: usage) {
        case .failure(let error): return context.reply(.error(error))
        case .success(let database): name = database
        }
        let runtime = context.runtime
        // Its servers are all closed below, after their clients.
        let pools = runtime.pause(database: name, closingIdle: false)
        let error = ErrorFields(.fatal, SQLState.adminShutdown, "terminating connection due to administrator command (KILL \(name))")
        var killed = 0
        for (session, loop) in runtime.cancelRegistry.allSessions() where session.identity?.database.name == name {
            killed += 1
            loop.execute { session.kill(error) }
        }
        // Queued behind the client closes on each loop, so servers are closed after their clients.
        for pool in pools {
            for partition in pool.partitions { partition.eventLoop.execute { partition.killAll(error) } }
        }
        return context.reply(.done(tag: "KILL", notices: [AdminReply.notice("closed \(killed) client connection(s) of database \"\(name)\"; it stays paused until RESUME")]))
    }
}

/// KILL_CLIENT id: drops one client, by the id SHOW CLIENTS lists.
enum KillClient: AdminCommand {
    static let words = ["KILL_CLIENT"]
    static let usage = "KILL_CLIENT id"

    static func run(_ arguments: [String], in context: AdminContext) -> EventLoopFuture<AdminReply> {
        guard arguments.count == 1, let id = Int32(arguments[0]) else { return context.error("usage: \(usage)") }
        guard let (session, loop) = context.runtime.cancelRegistry.session(processID: id) else {
            return context.error("no client with id \(id)", SQLState.undefinedObject)
        }
        let error = ErrorFields(.fatal, SQLState.adminShutdown, "terminating connection due to administrator command (KILL_CLIENT)")
        loop.execute { session.kill(error) }
        return context.reply(.done(tag: "KILL_CLIENT"))
    }
}
