import Foundation
import NIOCore

/// The admin console of one client: reads its simple-query messages, runs each statement as an
/// admin command, and answers with result sets, as psql and PgBouncer's tooling expect.
/// Statements run one after another; a command that waits (PAUSE) holds back the next.
final class AdminConsole {
    private let context: AdminContext
    private let send: (ByteBuffer) -> Void
    private let close: () -> Void
    private var framer = MessageFramer(maximumLength: 1 << 20)
    private var inbox = CircularBuffer<(id: UInt8, body: ByteBuffer)>()
    private var running = false
    /// An extended-protocol message was refused; skip the rest up to Sync.
    private var skippingToSync = false
    private var closed = false

    /// `send` writes and flushes to the client; `close` ends the connection.
    init(context: AdminContext, send: @escaping (ByteBuffer) -> Void, close: @escaping () -> Void) {
        self.context = context
        self.send = send
        self.close = close
    }

    func receive(_ buffer: ByteBuffer) {
        framer.append(buffer)
        do {
            while let message = try framer.next() { inbox.append(message) }
        } catch {
            var reply = ByteBuffer()
            ErrorFields(.fatal, SQLState.protocolViolation, "invalid message: \(error)").write(into: &reply)
            send(reply)
            stop()
            return
        }
        processInbox()
    }

    /// The client left: commands still running finish without anyone to answer.
    func stop() {
        closed = true
        inbox.removeAll()
        close()
    }

    private func processInbox() {
        while !running, !closed, let (id, body) = inbox.popFirst() {
            switch id {
            case FrontendID.query:
                var body = body
                let text = body.readNullTerminatedString() ?? ""
                running = true
                run(statements: Self.split(text)) { [self] in
                    running = false
                    processInbox()
                }
            case FrontendID.terminate:
                stop()
            case FrontendID.sync:
                skippingToSync = false
                var reply = ByteBuffer()
                reply.writeReadyForQuery(.idle)
                send(reply)
            case FrontendID.flush:
                break
            default:
                guard !skippingToSync else { continue }
                skippingToSync = true
                var reply = ByteBuffer()
                ErrorFields(.error, SQLState.featureNotSupported,
                            "the admin console speaks the simple query protocol only",
                            hint: "use psql, or your driver's simple-query mode").write(into: &reply)
                send(reply)
            }
        }
    }

    /// Runs `statements` in order, sending each answer as it is ready, then ReadyForQuery.
    private func run(statements: [String], then done: @escaping () -> Void) {
        guard !statements.isEmpty else {
            var reply = ByteBuffer()
            reply.writeMessage(id: BackendID.emptyQuery) { _ in }
            reply.writeReadyForQuery(.idle)
            send(reply)
            done()
            return
        }
        var remaining = statements[...]
        func next() {
            guard !closed else { return }
            guard let statement = remaining.popFirst() else {
                var reply = ByteBuffer()
                reply.writeReadyForQuery(.idle)
                send(reply)
                done()
                return
            }
            execute(statement).whenComplete { [self] result in
                var reply = ByteBuffer()
                switch result {
                case .success(let answer):
                    answer.write(into: &reply)
                    send(reply)
                    if case .error = answer {
                        remaining.removeAll()  // like PostgreSQL: the rest of the message is skipped
                    }
                case .failure(let error):
                    ErrorFields(.error, SQLState.internalError, "admin command failed: \(error)").write(into: &reply)
                    send(reply)
                    remaining.removeAll()
                }
                next()
            }
        }
        next()
    }

    private func execute(_ statement: String) -> EventLoopFuture<AdminReply> {
        guard let (command, arguments) = AdminCommands.parse(statement) else {
            return context.reply(AdminCommands.unknown(statement))
        }
        context.runtime.logger.debug("admin: \(statement)")
        return command.run(arguments, in: context).hop(to: context.loop)
    }

    /// Statements of one Query message: split at semicolons outside quotes, blanks dropped.
    static func split(_ text: String) -> [String] {
        var statements: [String] = []
        var current = ""
        var quote: Character?
        for character in text {
            if let open = quote {
                if character == open { quote = nil }
                current.append(character)
            } else if character == ";" {
                statements.append(current)
                current = ""
            } else {
                if character == "'" || character == "\"" { quote = character }
                current.append(character)
            }
        }
        statements.append(current)
        return statements.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
    }
}
