/// The merge plans of recent cross-shard statements, by their text: a plan holds the values of
/// the statement's LIMIT and OFFSET, so statements of one shape with other literals get their
/// own. Saves the parse (tens of µs) when the same statement runs again. One per event loop, as
/// the router that owns it; when full it starts over.
final class MergePlanCache {
    private var plans: [String: MergePlan.Made] = [:]
    private let limit: Int
    /// Longer statements are planned afresh each time rather than kept.
    private let longestKept = 8192

    init(limit: Int = 256) {
        self.limit = limit
    }

    func plan(for statement: String) -> MergePlan.Made {
        if let made = plans[statement] { return made }
        let made = MergePlan.make(statement)
        guard statement.utf8.count <= longestKept else { return made }
        if plans.count >= limit { plans.removeAll(keepingCapacity: true) }
        plans[statement] = made
        return made
    }
}
