/// How pgproxy checks the password of a connecting client (`auth_type`).
public enum ClientAuthType: String, Sendable, CaseIterable {
    /// SCRAM-SHA-256: the password never crosses the wire; works with cleartext or stored SCRAM secrets.
    case scramSHA256 = "scram-sha-256"
    /// MD5 challenge: needs the cleartext password in users.toml.
    case md5
    /// Cleartext password over the wire; only sensible on a trusted network or behind TLS.
    case plain
    /// No password check at all: anyone who can reach the port is let in.
    case trust
}
