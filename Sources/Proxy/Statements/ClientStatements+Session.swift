import NIOCore

/// SQL that changes what a server connection remembers past the transaction: SQL-level
/// prepared statements, DISCARD/DEALLOCATE, session SET/RESET, and state transaction pooling
/// cannot carry (LISTEN, temp tables, WITH HOLD cursors, session advisory locks).
extension ClientStatements {
    /// A simple Query on its way to `server`: rewritten when refused or when pgproxy answers
    /// for the server (DEALLOCATE of one statement).
    func query(_ buffer: ByteBuffer, _ message: Range<Int>, _ server: ServerStatements, _ out: inout ServerOutput) {
        let commands = Self.commands(in: buffer, from: message.lowerBound + 5, before: message.upperBound - 1)
        guard !commands.isEmpty else { return }
        if let deallocated = deallocation(commands, buffer, from: message.lowerBound + 5, before: message.upperBound - 1) {
            switch deallocated {
            case .success(let name):
                forget(name)
                out.replace(message, with: Self.noOpQuery)
            case .failure(let error):
                out.replace(message, with: LocalAnswer.raisingQueries(error.fields, count: 1))
            }
            return
        }
        if let error = refusal(commands) {
            out.replace(message, with: LocalAnswer.raisingQueries(error, count: 1))
            return
        }
        applyEffects(commands, server)
    }

    /// The statement text of a Parse, read for what it does to the session. Returns the body
    /// (text, NUL, parameter types) to send instead, and the commands whose effects wait for the
    /// statement to run (a named statement's, applied at each Bind).
    func parsedText(
        _ buffer: ByteBuffer, from start: Int, before end: Int, named: Bool, _ server: ServerStatements
    ) -> (replacement: ByteBuffer?, deferred: [SessionCommand]) {
        let textEnd = Self.cString(buffer, from: start, before: end)
        if !named, isLastPlainText(buffer, from: start, before: textEnd) { return (nil, []) }
        let commands = Self.commands(in: buffer, from: start, before: textEnd)
        guard !commands.isEmpty else {
            if !named { rememberPlainText(buffer, from: start, before: textEnd) }
            return (nil, [])
        }
        if let deallocated = deallocation(commands, buffer, from: start, before: textEnd) {
            switch deallocated {
            case .success(let name):
                forget(name)
                return (Self.parseBody("DO $pgproxy$BEGIN END$pgproxy$"), [])
            case .failure(let error):
                return (Self.parseBody(LocalAnswer.raisingSQL(error.fields)), [])
            }
        }
        if let error = refusal(commands) { return (Self.parseBody(LocalAnswer.raisingSQL(error)), []) }
        if named, limit > 0 { return (nil, commands) }
        applyEffects(commands, server)
        return (nil, [])
    }

    private func isLastPlainText(_ buffer: ByteBuffer, from start: Int, before end: Int) -> Bool {
        end > start && Self.bytes(buffer, from: start, before: end, equal: lastPlainText)
    }

    private func rememberPlainText(_ buffer: ByteBuffer, from start: Int, before end: Int) {
        guard end - start <= Self.plainTextLimit else { return }
        lastPlainText.removeAll(keepingCapacity: true)
        buffer.withUnsafeReadableBytes { raw in
            lastPlainText.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[(start - buffer.readerIndex)..<(end - buffer.readerIndex)]))
        }
    }

    /// Longer texts are not remembered (nor compared).
    private static let plainTextLimit = 4096

    static func commands(in buffer: ByteBuffer, from start: Int, before end: Int) -> [SessionCommand] {
        guard end > start else { return [] }
        return buffer.withUnsafeReadableBytes { raw in
            SessionCommand.scan(UnsafeRawBufferPointer(rebasing: raw[(start - buffer.readerIndex)..<(end - buffer.readerIndex)]))
        }
    }

    private static func parseBody(_ sql: String) -> ByteBuffer {
        var body = ByteBuffer()
        body.writeCString(sql)
        body.writeInteger(Int16(0))
        return body
    }

    struct Refused: Error { var fields: ErrorFields }

    /// DEALLOCATE of one of the client's statements (pgproxy's to answer), or nil when the text
    /// is something else or names pass through (prepared_statements_limit = 0).
    private func deallocation(_ commands: [SessionCommand], _ buffer: ByteBuffer, from start: Int, before end: Int) -> Result<String, Refused>? {
        guard limit > 0, case .deallocate(let name?) = commands.first else { return nil }
        let single = buffer.withUnsafeReadableBytes { raw in
            SessionCommand.isSingleStatement(UnsafeRawBufferPointer(rebasing: raw[(start - buffer.readerIndex)..<(end - buffer.readerIndex)]))
        }
        guard commands.count == 1, single else {
            return .failure(Refused(fields: ErrorFields(
                .error, SQLState.featureNotSupported, "in transaction pooling mode, DEALLOCATE of one statement must be sent on its own")))
        }
        return .success(name)
    }

    /// The error to answer instead, for a command transaction pooling refuses.
    private func refusal(_ commands: [SessionCommand]) -> ErrorFields? {
        for command in commands {
            switch command {
            case .prepare, .execute:
                return ErrorFields(
                    .error, SQLState.featureNotSupported,
                    "SQL-level PREPARE and EXECUTE are not supported in transaction pooling mode (pool_mode = \"session\" supports them)",
                    hint: "use your driver's protocol-level prepared statements, or pool_mode = \"session\" for this database or user")
            case .sessionState(let what):
                return ErrorFields(
                    .error, SQLState.featureNotSupported,
                    "\(what) are not supported in transaction pooling mode (pool_mode = \"session\" supports them): the server connection goes to other clients after the transaction",
                    hint: "use pool_mode = \"session\" for this database or user")
            case .deallocate(_?) where limit > 0:
                return ErrorFields(.error, SQLState.featureNotSupported, "in transaction pooling mode, DEALLOCATE of one statement must be sent on its own")
            default:
                break
            }
        }
        return nil
    }

    /// Carries out what the commands mean for the client and the server connection.
    func applyEffects(_ commands: [SessionCommand], _ server: ServerStatements) {
        for command in commands {
            switch command {
            case .discardAll:
                // The server forgets its statements and settings: so do the client and pgproxy.
                forgetAll()
                server.forgetAll()
                server.expect(.reset, forward: true)
                session?.forgetTrackedSettings(nil)
                server.connection.settingsDirty = true
            case .deallocate(nil):
                forgetAll()
                server.forgetAll()
                server.expect(.reset, forward: true)
            case .set(let name, let statement):
                // Reported settings (TimeZone, DateStyle...) follow the client through ParameterStatus.
                guard !ClientParameters.isReported(name) else { continue }
                if tracksSettings {
                    server.expectSetting(name: name, statement: statement, client: self)
                } else {
                    server.connection.settingsDirty = true
                }
            case .reset(let name):
                session?.forgetTrackedSettings(name)
                server.connection.settingsDirty = true
            case .untracked:
                server.connection.settingsDirty = true
            default:
                break
            }
        }
    }
}
