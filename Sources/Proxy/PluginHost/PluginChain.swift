import Logging
import PluginABI

/// The loaded `[[plugins]]`, in order. Asked on every routed statement batch; each plugin fills
/// what is still undecided, and a block or an intercept ends the chain.
final class PluginChain: @unchecked Sendable {
    let plugins: [LoadedPlugin]
    let wantsParseTree: Bool
    let wantsEvents: Bool

    static let empty = PluginChain(plugins: [])

    init(plugins: [LoadedPlugin]) {
        self.plugins = plugins
        self.wantsParseTree = plugins.contains { $0.wantsParseTree }
        self.wantsEvents = plugins.contains { $0.hasEvents }
    }

    var isEmpty: Bool { plugins.isEmpty }

    /// Loads every configured plugin; the first that fails stops pgproxy from starting.
    static func load(_ config: ProxyConfig, logger: Logger) throws -> PluginChain {
        PluginHostAPI.logger = logger
        var loaded: [LoadedPlugin] = []
        for entry in config.plugins {
            let path = LoadedPlugin.resolve(entry, pluginDir: config.general.pluginDir, configPath: config.configPath)
            do {
                loaded.append(try LoadedPlugin.load(entry, path: path, logger: logger))
            } catch {
                for plugin in loaded { plugin.finish() }
                throw error
            }
        }
        return PluginChain(plugins: loaded)
    }

    /// What the chain decided. `result` is set for an intercept.
    struct Outcome {
        var decision: pgproxy_route_decision
        var result: InterceptedResult?
        /// Which plugin blocked or intercepted, for logs.
        var decidedBy: String?
    }

    /// Runs the chain. `builder` collects an intercept's rows; it must be empty and is only
    /// kept by the caller when the outcome is an intercept (so a route allocates nothing).
    @inline(__always)
    func route(
        _ context: UnsafePointer<pgproxy_route_context>, builder: InterceptedResult, rowShards: UnsafeMutableBufferPointer<Int32>? = nil
    ) -> Outcome {
        var decision = pgproxy_route_decision()
        if let rowShards, rowShards.count > 0 {
            rowShards.update(repeating: PGPROXY_SHARD_UNDECIDED)
            decision.row_shards = rowShards.baseAddress
            decision.row_count = rowShards.count
        }
        decision.action = PGPROXY_ACTION_CONTINUE
        decision.shard = PGPROXY_SHARD_UNDECIDED
        decision.role = PGPROXY_ROLE_UNDECIDED
        decision.backend_id = PGPROXY_BACKEND_UNDECIDED
        let handle = OpaquePointer(Unmanaged.passUnretained(builder).toOpaque())
        for plugin in plugins {
            plugin.vtable.pointee.route!(plugin.instance, context, &decision, handle)
            switch decision.action {
            case PGPROXY_ACTION_BLOCK:
                return Outcome(decision: decision, result: nil, decidedBy: plugin.name)
            case PGPROXY_ACTION_INTERCEPT:
                return Outcome(decision: decision, result: builder, decidedBy: plugin.name)
            default:
                continue
            }
        }
        return Outcome(decision: decision, result: nil, decidedBy: nil)
    }

    /// Tells every plugin that wants events.
    func send(_ event: inout pgproxy_event) {
        for plugin in plugins {
            if let onEvent = plugin.vtable.pointee.on_event { onEvent(plugin.instance, &event) }
        }
    }

    func finish() {
        for plugin in plugins { plugin.finish() }
    }
}
