/// What a host of a database is for (`role` in `[[databases]]`).
public enum BackendRole: String, Sendable, CaseIterable {
    /// Takes writes; at most one per database.
    case primary
    /// A streaming replica: reads only.
    case replica
    /// pgproxy asks the host (`pg_is_in_recovery()`) on every health check.
    case auto
}

/// How a read picks among the replicas that may serve it (`load_balancing`).
public enum LoadBalancing: String, Sendable, CaseIterable {
    /// Any candidate, uniformly.
    case random
    /// Each candidate in turn.
    case roundRobin = "round_robin"
    /// The candidate with the fewest clients using it.
    case leastConnections = "least_connections"
    /// Random, in proportion to `weight`.
    case weighted
}
