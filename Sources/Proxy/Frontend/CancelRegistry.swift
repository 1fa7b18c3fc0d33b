import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Maps the BackendKeyData pgproxy gave each client to that client, so a CancelRequest arriving
/// on a new connection reaches the server running that client's statement, and no other.
final class CancelRegistry: Sendable {
    /// Strong on purpose: a weak reference would give every session a side table and slow down
    /// each retain on the data path. Sessions unregister when they leave.
    private struct Entry {
        var secretKey: Int32
        var session: ClientSession
        var loop: any EventLoop
    }

    private let entries = Mutex<[Int32: Entry]>([:])

    /// Gives `session` a process ID unique among live clients and a random secret.
    func register(_ session: ClientSession, loop: any EventLoop) -> (Int32, Int32) {
        var generator = SystemRandomNumberGenerator()
        let secret = Int32.random(in: .min ... .max, using: &generator)
        return entries.withLock { entries in
            var pid: Int32
            repeat { pid = Int32.random(in: 1 ... .max, using: &generator) } while entries[pid] != nil
            entries[pid] = Entry(secretKey: secret, session: session, loop: loop)
            return (pid, secret)
        }
    }

    func unregister(processID: Int32) {
        _ = entries.withLock { $0.removeValue(forKey: processID) }
    }

    func cancel(processID: Int32, secretKey: Int32) {
        let target: (ClientSession, any EventLoop)? = entries.withLock { entries in
            guard let entry = entries[processID], entry.secretKey == secretKey else { return nil }
            return (entry.session, entry.loop)
        }
        guard let (session, loop) = target else { return }
        loop.execute { session.forwardCancel() }
    }

    /// The session with this process ID (KILL_CLIENT).
    func session(processID: Int32) -> (ClientSession, any EventLoop)? {
        entries.withLock { entries in entries[processID].map { ($0.session, $0.loop) } }
    }

    /// Every live session with its loop (used to drain clients at shutdown).
    func allSessions() -> [(ClientSession, any EventLoop)] {
        entries.withLock { $0.values.map { ($0.session, $0.loop) } }
    }

    var count: Int { entries.withLock { $0.count } }
}

/// Sends one CancelRequest to a server on a connection of its own, as PostgreSQL expects.
enum CancelSender {
    static func send(processID: Int32, secretKey: Int32, to address: BackendAddress, on loop: any EventLoop, logger: Logger) {
        ClientBootstrap(group: loop)
            .connectTimeout(.seconds(5))
            .connect(host: address.host, port: address.port)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    var buffer = channel.allocator.buffer(capacity: 16)
                    buffer.writeCancelRequest(processID: processID, secretKey: secretKey)
                    channel.writeAndFlush(buffer).whenComplete { _ in channel.close(promise: nil) }
                case .failure(let error):
                    logger.warning("could not send a cancel request to \(address): \(error)")
                }
            }
    }
}
