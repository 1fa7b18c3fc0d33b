/// A user's secret as configured for pgproxy, in any of the forms PostgreSQL keeps in `pg_authid.rolpassword`.
public enum StoredSecret: Equatable, Sendable {
    case plain(String)
    case md5(String)
    case scram(SCRAMVerifier)

    /// Classifies `text` the way PostgreSQL's `get_password_type()` does.
    ///
    /// Like PostgreSQL, a value that looks like a SCRAM verifier or MD5 hash but is malformed
    /// is taken as a plain password rather than rejected, so a typo in a pasted verifier
    /// shows up as "wrong password" at login, not at configuration load.
    public init(parsing text: String) {
        if text.hasPrefix(SCRAMVerifier.prefix), let verifier = SCRAMVerifier(parsing: text) {
            self = .scram(verifier)
        } else if Self.looksLikeMD5(text) {
            self = .md5(text)
        } else {
            self = .plain(text)
        }
    }

    /// The secret as written in users.toml or pg_authid.
    var text: String {
        switch self {
        case .plain(let text), .md5(let text): return text
        case .scram(let verifier): return verifier.encoded
        }
    }

    /// Whether the secret is the cleartext password, which is the only form that can answer any challenge.
    public var isPlain: Bool {
        if case .plain = self { return true }
        return false
    }

    // PostgreSQL only emits lowercase hex, and its own check rejects uppercase, so we do too.
    private static func looksLikeMD5(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 35, bytes.starts(with: Array("md5".utf8)) else { return false }
        return bytes.dropFirst(3).allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
    }
}
