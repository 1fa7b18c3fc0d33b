import NIOCore

/// SHUTDOWN: stops pgproxy as SIGTERM does (running transactions finish, up to shutdown_timeout).
/// SHUTDOWN WAIT_FOR_CLIENTS: stops accepting and exits once every client has disconnected.
enum Shutdown: AdminCommand {
    static let words = ["SHUTDOWN"]
    static let usage = "SHUTDOWN [WAIT_FOR_CLIENTS]"

    static func run(_ arguments: [String], in context: AdminContext) -> EventLoopFuture<AdminReply> {
        let waitForClients: Bool
        switch arguments.map({ $0.uppercased() }) {
        case []: waitForClients = false
        case ["WAIT_FOR_CLIENTS"]: waitForClients = true
        default: return context.error("usage: \(usage)")
        }
        guard let handler = context.runtime.shutdownHandler.withLock({ $0 }) else {
            return context.error("this pgproxy cannot be shut down from the console", SQLState.featureNotSupported)
        }
        context.runtime.logger.info("SHUTDOWN\(waitForClients ? " WAIT_FOR_CLIENTS" : "") requested from the admin console")
        handler(waitForClients)
        return context.reply(.done(tag: "SHUTDOWN"))
    }
}
