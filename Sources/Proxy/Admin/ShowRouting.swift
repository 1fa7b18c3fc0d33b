import Foundation
import NIOCore

/// SHOW ROUTING (pgproxy's own): per event loop, the statement analysis cache (entries, hits,
/// misses, evictions) and what the plugin chain decided.
enum ShowRouting: AdminCommand {
    static let words = ["SHOW", "ROUTING"]
    static let usage = "SHOW ROUTING"

    static let columns: [AdminColumn] = [
        AdminColumn("loop", .int4), AdminColumn("plugins"), AdminColumn("cached_statements", .int4), AdminColumn("cache_limit", .int4),
        AdminColumn("cache_hits", .int8), AdminColumn("cache_misses", .int8), AdminColumn("cache_evictions", .int8),
        AdminColumn("hit_percent", .numeric), AdminColumn("routed", .int8), AdminColumn("blocked", .int8), AdminColumn("intercepted", .int8),
    ]

    static func run(_ arguments: [String], in context: AdminContext) -> EventLoopFuture<AdminReply> {
        guard arguments.isEmpty else { return context.error("usage: \(usage)") }
        let plugins = context.runtime.plugins.plugins.map(\.name).joined(separator: ", ")
        return context.runtime.routingFigures(on: context.loop).map { figures in
            let rows = figures.enumerated().map { index, router -> [String?] in
                let lookups = router.cacheHits + router.cacheMisses
                let percent = lookups == 0 ? nil : String(format: "%.2f", Double(router.cacheHits) * 100 / Double(lookups))
                return [
                    String(index), plugins, String(router.cachedStatements), String(router.cacheLimit), String(router.cacheHits),
                    String(router.cacheMisses), String(router.cacheEvictions), percent, String(router.routed), String(router.blocked),
                    String(router.intercepted),
                ]
            }
            return .rows(columns: columns, rows: rows)
        }
    }
}
