/// Why a password authentication exchange (SCRAM or MD5) failed.
public enum AuthError: Error, Equatable, Sendable {
    /// The peer's proof does not match the stored secret.
    case wrongPassword
    /// The peer sent something the protocol does not allow; the text says what, for logs.
    case protocolViolation(String)
    /// The server could not prove it knows the verifier, so it may be an impostor.
    case serverSignatureMismatch
    /// The peer asked for a feature pgproxy does not implement.
    case unsupported(String)
}
