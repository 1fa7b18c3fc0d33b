import NIOCore

/// A client's transaction in a sharded database before its shard is known: pgproxy answers
/// `BEGIN` itself and sends it to a server together with the transaction's first statement,
/// which picks the shard. Without this, every transaction would start on shard 0.
enum DeferredTransaction {
    case none
    /// The client's BEGIN (its whole Query text), answered but not sent yet.
    case begun(String)
    /// A statement of the deferred transaction was refused before any reached a server: as in
    /// PostgreSQL, everything up to the end of the transaction is refused too.
    case failed
}

extension ClientSession {
    /// Answers `batch` if it belongs to a transaction no server has seen yet; false when the
    /// batch goes on to routing (and to a server, with the deferred BEGIN before it).
    func answerDeferredTransaction(_ batch: ByteBuffer, _ routing: ClientRouting, responses: Int) -> Bool {
        guard server == nil, let query = Self.singleQueryText(batch) else {
            if case .failed = routing.deferred {
                answerAborted(batch, routing, responses: responses)
                return true
            }
            return false
        }
        var text = query
        let word = text.withUTF8 { bytes -> TransactionWord? in
            var lexer = SQLLexer(UnsafeRawBufferPointer(bytes))
            return Self.transactionWord(&lexer)
        }
        switch (routing.deferred, word) {
        case (.none, .begin(let tag)?):
            routing.deferred = .begun(query)
            answer(batch, tag: tag, status: .inTransaction, responses: responses)
            return true
        case (.begun, .end(let tag)?):
            routing.deferred = .none
            answer(batch, tag: tag, status: .idle, responses: responses)
            return true
        case (.failed, .end?):
            routing.deferred = .none
            answer(batch, tag: "ROLLBACK", status: .idle, responses: responses)
            return true
        case (.failed, _):
            answerAborted(batch, routing, responses: responses)
            return true
        case (.begun, .begin?):
            let warning = ErrorFields(.warning, "25001", "there is already a transaction in progress")
            var reply = ByteBuffer()
            warning.write(into: &reply)
            reply.writeImmutableBuffer(LocalAnswer.reply(to: batch, content: .commandTag("BEGIN"), status: .inTransaction))
            finishLocalAnswer(reply, responses: responses)
            return true
        default:
            return false
        }
    }

    /// A statement of a deferred transaction was refused: the transaction is failed.
    func failDeferredTransaction(_ batch: ByteBuffer, _ error: ErrorFields, _ routing: ClientRouting, responses: Int) {
        routing.deferred = .failed
        finishLocalAnswer(LocalAnswer.reply(to: batch, content: .error(error), status: .failed), responses: responses)
    }

    private func answerAborted(_ batch: ByteBuffer, _ routing: ClientRouting, responses: Int) {
        let error = ErrorFields(.error, "25P02", "current transaction is aborted, commands ignored until end of transaction block")
        finishLocalAnswer(LocalAnswer.reply(to: batch, content: .error(error), status: .failed), responses: responses)
    }

    private func answer(_ batch: ByteBuffer, tag: String, status: TransactionStatus, responses: Int) {
        finishLocalAnswer(LocalAnswer.reply(to: batch, content: .commandTag(tag), status: status), responses: responses)
    }

    enum TransactionWord {
        case begin(tag: String)
        case end(tag: String)
    }

    /// BEGIN / START TRANSACTION (with any modes), or COMMIT / END / ROLLBACK / ABORT (with WORK
    /// or TRANSACTION), as the whole text; nil for anything else.
    static func transactionWord(_ lexer: inout SQLLexer) -> TransactionWord? {
        let word: TransactionWord
        if lexer.take("begin") {
            word = .begin(tag: "BEGIN")
            // Modes (ISOLATION LEVEL ..., READ ONLY ...) go to the server with the BEGIN.
            lexer.index = lexer.statementEnd()
        } else if lexer.take("start") {
            guard lexer.take("transaction") else { return nil }
            word = .begin(tag: "START TRANSACTION")
            lexer.index = lexer.statementEnd()
        } else if lexer.take("commit") || lexer.take("end") {
            _ = lexer.take("work") || lexer.take("transaction")
            word = .end(tag: "COMMIT")
        } else if lexer.take("rollback") || lexer.take("abort") {
            _ = lexer.take("work") || lexer.take("transaction")
            word = .end(tag: "ROLLBACK")
        } else {
            return nil
        }
        return lexer.atEnd ? word : nil
    }

    /// The text of a batch that is exactly one simple Query.
    static func singleQueryText(_ batch: ByteBuffer) -> String? {
        guard batch.getInteger(at: batch.readerIndex, as: UInt8.self) == FrontendID.query,
              let length = batch.getInteger(at: batch.readerIndex + 1, as: Int32.self),
              Int(length) + 1 == batch.readableBytes, length > 4,
              var text = batch.getString(at: batch.readerIndex + 5, length: Int(length) - 5)
        else { return nil }
        if text.last == "\0" { text.removeLast() }
        return text
    }
}
