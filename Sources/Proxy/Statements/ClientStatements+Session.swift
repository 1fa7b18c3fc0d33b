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
        if case .deallocate(let name?) = commands.first {
            let single = buffer.withUnsafeReadableBytes { raw in
                SessionCommand.isSingleStatement(UnsafeRawBufferPointer(
                    rebasing: raw[(message.lowerBound + 5 - buffer.readerIndex)..<(message.upperBound - 1 - buffer.readerIndex)]))
            }
            guard commands.count == 1, single else {
                let error = ErrorFields(.error, SQLState.featureNotSupported, "in transaction pooling mode, DEALLOCATE of one statement must be sent on its own")
                out.replace(message, with: LocalAnswer.raisingQueries(error, count: 1))
                return
            }
            forget(name)
            out.replace(message, with: Self.noOpQuery)
            return
        }
        if let error = apply(commands, server) {
            out.replace(message, with: LocalAnswer.raisingQueries(error, count: 1))
        }
    }

    /// The text of a Parse on its way to `server`: the body to send instead (raising the
    /// error) when refused, else nil.
    func parsedText(_ buffer: ByteBuffer, from start: Int, before end: Int, _ server: ServerStatements) -> ByteBuffer? {
        let textEnd = Self.cString(buffer, from: start, before: end)
        let commands = Self.commands(in: buffer, from: start, before: textEnd)
        guard !commands.isEmpty, let error = apply(commands, server) else { return nil }
        var key = ByteBuffer()
        key.writeCString(LocalAnswer.raisingSQL(error))
        key.writeInteger(Int16(0))
        return key
    }

    private static func commands(in buffer: ByteBuffer, from start: Int, before end: Int) -> [SessionCommand] {
        guard end > start else { return [] }
        return buffer.withUnsafeReadableBytes { raw in
            SessionCommand.scan(UnsafeRawBufferPointer(rebasing: raw[(start - buffer.readerIndex)..<(end - buffer.readerIndex)]))
        }
    }

    /// Carries out what the commands mean for the client and the server connection; returns
    /// the error to answer instead for a command transaction pooling refuses.
    private func apply(_ commands: [SessionCommand], _ server: ServerStatements) -> ErrorFields? {
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
            case .deallocate(_?):
                return ErrorFields(.error, SQLState.featureNotSupported, "in transaction pooling mode, DEALLOCATE of one statement must be sent on its own")
            default:
                break
            }
        }
        for command in commands {
            switch command {
            case .discardAll:
                // The server forgets its statements and settings: so do the client and pgproxy.
                forgetAll()
                server.forgetAll()
                server.expect(.reset, forward: true)
                session?.forgetTrackedSettings()
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
            case .reset:
                session?.forgetTrackedSettings()
                server.connection.settingsDirty = true
            default:
                break
            }
        }
        return nil
    }
}
