import NIOCore

/// One router's counters, read on its own loop (where they are written): SHOW ROUTING and
/// /metrics.
struct RoutingFigures: Sendable {
    var cachedStatements = 0
    var cacheLimit = 0
    var cacheHits: UInt64 = 0
    var cacheMisses: UInt64 = 0
    var cacheEvictions: UInt64 = 0
    var routed: UInt64 = 0
    var blocked: UInt64 = 0
    var intercepted: UInt64 = 0

    /// The figures of several routers added up.
    static func total(_ routers: [RoutingFigures]) -> RoutingFigures {
        routers.reduce(into: RoutingFigures()) { sum, router in
            sum.cachedStatements += router.cachedStatements
            sum.cacheLimit += router.cacheLimit
            sum.cacheHits &+= router.cacheHits
            sum.cacheMisses &+= router.cacheMisses
            sum.cacheEvictions &+= router.cacheEvictions
            sum.routed &+= router.routed
            sum.blocked &+= router.blocked
            sum.intercepted &+= router.intercepted
        }
    }
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
