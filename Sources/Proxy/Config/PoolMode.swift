/// How long a client keeps the server connection it was given (`pool_mode`).
public enum PoolMode: String, Sendable, CaseIterable {
    /// The server connection belongs to the client until the client disconnects.
    case session
    /// The server connection is lent for one transaction, then goes back to the pool.
    case transaction
}
