/// How long a client keeps the server connection it was given (`pool_mode`).
public enum PoolMode: String, Sendable, CaseIterable {
    /// The server connection belongs to the client until the client disconnects.
    case session
    /// The server connection is lent for one transaction, then goes back to the pool.
    case transaction
}

/// Which event loops carry client and server connections (`io_engine`).
public enum IOEngine: String, Sendable, CaseIterable {
    /// pgproxy's own epoll loops (the same as `epoll`).
    case auto
    /// pgproxy's own epoll loops, TLS on both sides with the system's OpenSSL.
    case epoll
    /// SwiftNIO's loops and channels (everything, TLS included).
    case nio
}
