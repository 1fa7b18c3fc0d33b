/// Secrets for users.toml, so no clear-text password needs to sit in a file (`pgproxy hash-password`).
public enum PasswordHash {
    /// A SCRAM-SHA-256 verifier in PostgreSQL's format, with a fresh 16-byte salt and PostgreSQL's
    /// default 4096 iterations: `SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>`.
    public static func scram(password: String, iterations: Int = 4096) -> String {
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return SCRAMVerifier.make(password: password, salt: salt, iterations: iterations).encoded
    }

    /// PostgreSQL's MD5 secret: "md5" and the hex MD5 of the password followed by the user name.
    public static func md5(user: String, password: String) -> String {
        MD5Password.stored(user: user, password: password)
    }
}
