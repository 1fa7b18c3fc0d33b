import NIOCore

/// PAUSE [db]: waits for running transactions to finish and closes every server connection;
/// clients stay connected and their next transaction waits until RESUME.
enum Pause: AdminCommand {
    static let words = ["PAUSE"]
    static let usage = "PAUSE [db]"

    static func run(_ arguments: [String], in context: AdminContext) -> EventLoopFuture<AdminReply> {
        let database: String?
        switch optionalDatabase(arguments, usage: usage, in: context) {
        case .failure(let error): return context.reply(.error(error))
        case .success(let name): database = name
        }
        let pools = context.runtime.pause(database: database)
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
        switch optionalDatabase(arguments, usage: usage, in: context) {
        case .failure(let error): return context.reply(.error(error))
        case .success(let database):
            context.runtime.resume(database: database)
            return context.reply(.done(tag: "RESUME"))
        }
    }
}

/// The database of `PAUSE [db]`-style commands: nil for none, or an error for an unknown one.
func optionalDatabase(_ arguments: [String], usage: String, in context: AdminContext) -> Result<String?, ErrorFields> {
    guard !arguments.isEmpty else { return .success(nil) }
    return context.database(arguments, usage: usage).map { Optional($0) }
}
