import NIOCore

/// What a client is told at the end of its login (its settings and the ParameterStatus messages),
/// kept per distinct set of startup settings: nearly every client of a pool sends the same ones,
/// and building the reply (a dictionary merge, a sort, the settings' signature) was the largest
/// part of pgproxy's own work in a login. One per pool partition, so on one event loop and without locks; filled
/// only from the pool's learned server parameters, which never change once learned.
struct LoginReplies {
    struct Reply {
        let parameters: ClientParameters
        /// ParameterStatus for each setting, sorted by name.
        let status: ByteBuffer
    }

    private struct Entry {
        let startup: [(String, String)]
        let reply: Reply
    }

    /// Distinct startup settings kept; beyond them, the oldest is replaced.
    static let limit = 8
    private var entries: [Entry] = []
    private var nextVictim = 0

    /// The reply for a client that sent `startup`, built once per distinct `startup`.
    mutating func reply(startup: [(String, String)], serverDefaults: [String: String]) -> Reply {
        for entry in entries where Self.same(entry.startup, startup) { return entry.reply }
        let reply = Self.build(startup: startup, serverDefaults: serverDefaults)
        let entry = Entry(startup: startup, reply: reply)
        if entries.count < Self.limit {
            entries.append(entry)
        } else {
            entries[nextVictim] = entry
            nextVictim = (nextVictim + 1) % Self.limit
        }
        return reply
    }

    /// The reply built without the cache (a pool whose server parameters are not learned yet).
    static func build(startup: [(String, String)], serverDefaults: [String: String]) -> Reply {
        var parameters = ClientParameters(startup: startup, serverDefaults: serverDefaults)
        _ = parameters.signature  // computed once here, carried by every copy
        var status = ByteBuffer()
        for (name, value) in parameters.parameterStatus(serverDefaults: serverDefaults) {
            status.writeParameterStatus(name, value)
        }
        return Reply(parameters: parameters, status: status)
    }

    private static func same(_ a: [(String, String)], _ b: [(String, String)]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    }
}
