import NIOCore

/// PAUSE [db]: waits for running transactions to finish and closes every server connection;
/// clients stay connected and their next transaction waits until RESUME.
enum Pause: AdminCommand {
    static let words = ["PAUSE"]
    static let usage = "PAUSE [db]"

    static func run(_ arguments: [String], in context: AdminContext) -> EventLoopFuture<AdminReply> {
        let pools: [Pool]
        if arguments.isEmpty {
            pools = context.runtime.allPools
        } else {
            switch context.database(arguments, usage: usage) {
            case .failure(let error): return context.reply(.error(error))
            case .success(let name): pools = context.runtime.allPools.filter { $0.key.database == name }
            }
        }
        for pool in pools { pool.pause() }
        _ = context.runtime.pausedDatabases.withLock { paused in
            if arguments.isEmpty { paused.insert("*") } else { paused.insert(arguments[0]) }
        }
        // Done when no server connection of these pools is left.
        let promise = context.loop.makePromise(of: AdminReply.self)
        func check() {
            if pools.allSatisfy({ $0.openConnectionCount == 0 }) {
                promise.succeed(.done(tag: "PAUSE"))
            } else if !pools.allSatisfy({ $0.paused.load(ordering: .relaxed) }) {
                promise.succeed(.error(ErrorFields(.error, SQLState.objectNotInPrerequisiteState, "PAUSE interrupted by RESUME")))
            } else {
                context.loop.scheduleTask(in: .milliseconds(20)) { check() }
            }
        }
        check()
        return promise.futureResult
    }
}

/// RESUME [db]: ends PAUSE or KILL; waiting clients get servers again.
enum Resume: AdminCommand {
    static let words = ["RESUME"]
    static let usage = "RESUME [db]"

    static func run(_ arguments: [String], in context: AdminContext) -> EventLoopFuture<AdminReply> {
        let pools: [Pool]
        if arguments.isEmpty {
            pools = context.runtime.allPools
            context.runtime.pausedDatabases.withLock { $0.removeAll() }
        } else {
            switch context.database(arguments, usage: usage) {
            case .failure(let error): return context.reply(.error(error))
            case .success(let name):
                pools = context.runtime.allPools.filter { $0.key.database == name }
                _ = context.runtime.pausedDatabases.withLock { $0.remove(name) }
            }
        }
        for pool in pools { pool.resume() }
        return context.reply(.done(tag: "RESUME"))
    }
}
