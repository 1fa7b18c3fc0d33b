import NIOCore

/// Answers a client's batch without a server: what PostgreSQL would send for it, with the
/// statement's result replaced by pgproxy's (an error, a plugin's rows, or SET).
enum LocalAnswer {
    enum Content {
        case error(ErrorFields)
        case rows(InterceptedResult)
        case commandTag(String)
    }

    /// The reply to every message of `batch` that expects one. An error ends each extended
    /// segment as the server would (the rest up to Sync is skipped); each Query gets its own.
    static func reply(to batch: ByteBuffer, content: Content, status: TransactionStatus) -> ByteBuffer {
        var out = ByteBuffer()
        var index = batch.readerIndex
        var skipping = false
        while let id = batch.getInteger(at: index, as: UInt8.self),
              let length = batch.getInteger(at: index + 1, as: Int32.self), length >= 4 {
            let bodyStart = index + 5
            let body = batch.getSlice(at: bodyStart, length: Int(length) - 4) ?? ByteBuffer()
            index += 1 + Int(length)
            switch id {
            case FrontendID.query:
                write(content, describe: true, into: &out)
                out.writeReadyForQuery(status)
            case FrontendID.functionCall:
                if case .error(let error) = content { error.write(into: &out) } else {
                    ErrorFields(.error, SQLState.featureNotSupported, "function calls cannot be answered by a plugin").write(into: &out)
                }
                out.writeReadyForQuery(status)
            case FrontendID.sync:
                skipping = false
                out.writeReadyForQuery(status)
            case _ where skipping:
                continue
            case FrontendID.parse:
                if case .error(let error) = content {
                    error.write(into: &out)
                    skipping = true
                } else {
                    out.writeMessage(id: UInt8(ascii: "1")) { _ in }
                }
            case FrontendID.bind:
                out.writeMessage(id: UInt8(ascii: "2")) { _ in }
            case FrontendID.describe:
                if body.getInteger(at: body.readerIndex, as: UInt8.self) == UInt8(ascii: "S") {
                    out.writeMessage(id: UInt8(ascii: "t")) { $0.writeInteger(Int16(0)) }
                }
                if case .rows(let result) = content {
                    out.writeTextRowDescription(result.columns)
                } else {
                    out.writeMessage(id: UInt8(ascii: "n")) { _ in }
                }
            case FrontendID.execute:
                if case .error(let error) = content {
                    error.write(into: &out)
                    skipping = true
                } else {
                    write(content, describe: false, into: &out)
                }
            case FrontendID.close:
                out.writeMessage(id: UInt8(ascii: "3")) { _ in }
            default:
                continue
            }
        }
        return out
    }

    private static func write(_ content: Content, describe: Bool, into out: inout ByteBuffer) {
        switch content {
        case .error(let error):
            error.write(into: &out)
        case .rows(let result):
            if describe { out.writeTextRowDescription(result.columns) }
            for row in result.rows { out.writeDataRow(row) }
            out.writeCommandComplete(result.commandTag)
        case .commandTag(let tag):
            out.writeCommandComplete(tag)
        }
    }

    /// For a block inside a transaction: one Query per answer the batch owes, each raising the
    /// plugin's error on the server, so the server's transaction is aborted as the client is told.
    static func raisingQueries(_ error: ErrorFields, count: Int) -> ByteBuffer {
        let sql = raisingSQL(error)
        var out = ByteBuffer()
        for _ in 0..<max(count, 1) { out.writeQuery(sql) }
        return out
    }

    /// A statement that fails with `error` (its SQLSTATE, message and hint) when run.
    static func raisingSQL(_ error: ErrorFields) -> String {
        func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }
        var options = "ERRCODE = \(quoted(error.sqlState)), MESSAGE = \(quoted(error.message))"
        if let hint = error.hint { options += ", HINT = \(quoted(hint))" }
        return "DO $pgproxy$BEGIN RAISE EXCEPTION USING \(options); END$pgproxy$"
    }
}
