import NIOCore

extension ClientSession {
    /// pgproxy is shutting down: close now if idle, else after the running transaction.
    func requestShutdown() {
        shutdownRequested = true
        // A statement running on every shard finishes first (fanoutFinished closes then).
        guard fanout == nil else { return }
        if server == nil || (outstanding == 0 && server?.transactionStatus == .idle) { closeForShutdown() }
    }

    func closeForShutdown() {
        if let server, outstanding == 0, server.transactionStatus == .idle {
            self.server = nil
            routing?.detached()
            if unsynced || midMessageOnServer {
                server.close()  // its state after the client's unfinished messages is not known
            } else {
                server.release(owed: 0, unsynced: false, resetQuery: resetQuery(afterSession: true))
            }
        }
        refuse(ErrorFields(.fatal, SQLState.adminShutdown, "pgproxy is shutting down"))
    }

    /// Forwards a CancelRequest to the server running this client's statement, if any.
    /// A cross-shard statement is cancelled on every shard server running it.
    func forwardCancel() {
        guard let loop = eventLoop else { return }
        let running = fanout.map { $0.legs.compactMap(\.runningServer) } ?? server.map { [$0] } ?? []
        for server in running {
            guard let key = server.backendKey else { continue }
            CancelSender.send(processID: key.processID, secretKey: key.secretKey, to: server.address, tls: runtime.tlsContexts.withLock { $0 }, on: loop, logger: logger)
        }
    }


    /// KILL or KILL_CLIENT: sends `error` and closes; a running transaction is rolled back.
    func kill(_ error: ErrorFields) { refuse(error) }

    /// Shutdown's deadline passed: close whatever the client is doing.
    func forceClose() {
        if let fanout {
            self.fanout = nil
            fanout.cancel()
        }
        if let server {
            self.server = nil
            routing?.detached()
            server.close()
        }
        requestShutdown()
    }
}
