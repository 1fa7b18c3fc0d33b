import NIOCore

/// One distinct named statement (query text and parameter types) as servers know it: under one
/// internal name on every server connection of an event loop, whatever clients call it.
final class PreparedStatement {
    /// The name on servers.
    let name: String
    /// The Parse body after the name: query text, NUL, parameter count and types.
    let key: ByteBuffer
    /// Parse of this statement under `name`, ready to send.
    let parseMessage: ByteBuffer
    /// Close of this statement under `name`, ready to send.
    let closeMessage: ByteBuffer
    /// What running the statement does to the session (a SET...), applied at each Bind.
    var sessionCommands: [SessionCommand] = []
    /// Clients' names and server connections that refer to this statement.
    fileprivate(set) var references = 0

    fileprivate init(name: String, key: ByteBuffer) {
        self.name = name
        self.key = key
        var parse = ByteBuffer()
        parse.writeParse(name: name, key: key)
        parseMessage = parse
        var close = ByteBuffer()
        close.writeMessage(id: FrontendID.close) { body in
            body.writeInteger(UInt8(ascii: "S"))
            body.writeCString(name)
        }
        closeMessage = close
    }
}

/// The named statements of one event loop's clients, by content. Clients that prepare the same
/// query share one entry and one internal name, so a server connection prepares it once for all
/// of them. Entries live while a client's name or a server connection refers to them. Used on
/// its loop only.
final class StatementRegistry {
    private var byKey: [ByteBuffer: PreparedStatement] = [:]
    private var byName: [String: PreparedStatement] = [:]
    private var nextNumber = 1
    /// `prepared_statements_limit` as of the start: server connections outlive a reload, and
    /// clients that rename statements must not share them with clients that do not.
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Prefix of the names pgproxy makes up; a client's name with it is never used on servers.
    static let namePrefix = "pgproxy_"
    /// A statement name no server connection ever has: what a client's Close is sent as.
    static let absentName = "pgproxy_absent"

    /// The entry for a Parse body's `key`, made if new, with one more reference. The client's
    /// own name is kept when free: then its Bind and Describe pass to servers unchanged.
    func intern(key: ByteBuffer, clientName: String) -> PreparedStatement {
        let statement: PreparedStatement
        if let known = byKey[key] {
            statement = known
        } else {
            var name = clientName
            // PostgreSQL keeps 63 bytes of a name: longer ones could meet on a server.
            if name.hasPrefix(Self.namePrefix) || name.utf8.count > 63 || byName[name] != nil {
                repeat {
                    name = Self.namePrefix + String(nextNumber)
                    nextNumber += 1
                } while byName[name] != nil
            }
            let own = key.ownCopy()
            statement = PreparedStatement(name: name, key: own)
            byKey[own] = statement
            byName[name] = statement
        }
        statement.references += 1
        return statement
    }

    func retain(_ statement: PreparedStatement) { statement.references += 1 }

    /// Drops one reference; the last one forgets the entry (and frees its name).
    func release(_ statement: PreparedStatement) {
        statement.references -= 1
        guard statement.references <= 0 else { return }
        if byKey[statement.key] === statement { byKey[statement.key] = nil }
        if byName[statement.name] === statement { byName[statement.name] = nil }
    }

    /// Whether some server connection may have a statement called `name`.
    func isServerName(_ name: String) -> Bool { byName[name] != nil }
}

extension ByteBuffer {
    /// Parse of statement `name`; `key` is the body after the name (text, NUL, parameter types).
    mutating func writeParse(name: String, key: ByteBuffer) {
        reserveCapacity(writerIndex + key.readableBytes + name.utf8.count + 6)
        writeMessage(id: FrontendID.parse) { body in
            body.writeCString(name)
            body.writeImmutableBuffer(key)
        }
    }
}
