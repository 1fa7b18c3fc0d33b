import NIOCore

/// One router's counters, read on its own loop (where they are written): SHOW ROUTING and
/// /metrics.
struct RoutingFigures: Sendable {
    var cachedStatements: Int
    var cacheLimit: Int
    var cacheHits: UInt64
    var cacheMisses: UInt64
    var cacheEvictions: UInt64
    var routed: UInt64
    var blocked: UInt64
    var intercepted: UInt64
}

extension ProxyRuntime {
    /// Every loop's router figures, in loop order.
    func routingFigures(on loop: any EventLoop) -> EventLoopFuture<[RoutingFigures]> {
        let reads = zip(loops, routers).map { routerLoop, router in
            routerLoop.submit {
                let cache = router.cache
                return RoutingFigures(
                    cachedStatements: cache.count, cacheLimit: cache.limit, cacheHits: cache.hits, cacheMisses: cache.misses,
                    cacheEvictions: cache.evictions, routed: router.routed, blocked: router.blocked, intercepted: router.intercepted)
            }
        }
        return EventLoopFuture.whenAllSucceed(reads, on: loop)
    }
}
