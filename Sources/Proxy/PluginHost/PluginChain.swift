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
    /// Only plain values, and one reference for a block or an intercept: an outcome is made
    /// for every routed statement, and copying or dropping Strings costs on each.
    struct Outcome {
        var action: pgproxy_action
        var shard: Int32
        var role: pgproxy_role
        var backendID: Int32
        /// Set when a plugin blocked or intercepted.
        var ending: Ending?

        /// Which plugin ended the chain, and with what. (An intercept's rows are in the caller's
        /// builder.)
        final class Ending {
            let decidedBy: String
            /// A block's SQLSTATE and message, as the plugin wrote them (empty when it wrote none).
            let blockState: String
            let blockMessage: String

            init(decidedBy: String, blockState: String = "", blockMessage: String = "") {
                self.decidedBy = decidedBy
                self.blockState = blockState
                self.blockMessage = blockMessage
            }
        }

        /// Which plugin blocked or intercepted, for logs.
        var decidedBy: String? { ending?.decidedBy }
        var blockState: String { ending?.blockState ?? "" }
        var blockMessage: String { ending?.blockMessage ?? "" }
    }

    /// Runs the chain. `builder` collects an intercept's rows; it must be empty and is only
    /// kept by the caller when the outcome is an intercept (so a route allocates nothing).
    /// `decision` is the caller's scratch space, reused from route to route (zeroed once): its
    /// 256-byte message buffer is cleared only after a plugin wrote into it.
    @inline(__always)
    func route(
        _ context: UnsafePointer<pgproxy_route_context>, decision: UnsafeMutablePointer<pgproxy_route_decision>,
        builder: InterceptedResult, rowShards: UnsafeMutableBufferPointer<Int32>? = nil
    ) -> Outcome {
        if let rowShards, rowShards.count > 0 {
            rowShards.update(repeating: PGPROXY_SHARD_UNDECIDED)
            decision.pointee.row_shards = rowShards.baseAddress
            decision.pointee.row_count = rowShards.count
        } else {
            decision.pointee.row_shards = nil
            decision.pointee.row_count = 0
        }
        decision.pointee.action = PGPROXY_ACTION_CONTINUE
        decision.pointee.shard = PGPROXY_SHARD_UNDECIDED
        decision.pointee.role = PGPROXY_ROLE_UNDECIDED
        decision.pointee.backend_id = PGPROXY_BACKEND_UNDECIDED
        if decision.pointee.error_sqlstate.0 != 0 || decision.pointee.error_message.0 != 0 {
            // A plugin wrote an error last time: clear both, so that one writing no NUL still
            // ends where it stopped, as in a fresh decision.
            withUnsafeMutableBytes(of: &decision.pointee.error_sqlstate) { _ = $0.initializeMemory(as: UInt8.self, repeating: 0) }
            withUnsafeMutableBytes(of: &decision.pointee.error_message) { _ = $0.initializeMemory(as: UInt8.self, repeating: 0) }
        }
        let handle = OpaquePointer(Unmanaged.passUnretained(builder).toOpaque())
        var decidedBy: String?
        for plugin in plugins {
            plugin.vtable.pointee.route!(plugin.instance, context, decision, handle)
            let action = decision.pointee.action
            if action == PGPROXY_ACTION_BLOCK || action == PGPROXY_ACTION_INTERCEPT {
                decidedBy = plugin.name
                break
            }
        }
        var outcome = Outcome(
            action: decision.pointee.action, shard: decision.pointee.shard, role: decision.pointee.role,
            backendID: decision.pointee.backend_id)
        if let decidedBy {
            if outcome.action == PGPROXY_ACTION_BLOCK {
                // The plugin's strings end at their NUL, or at the end of their buffer.
                let state = withUnsafeBytes(of: &decision.pointee.error_sqlstate) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                let message = withUnsafeBytes(of: &decision.pointee.error_message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                outcome.ending = Outcome.Ending(decidedBy: decidedBy, blockState: state, blockMessage: message)
            } else {
                outcome.ending = Outcome.Ending(decidedBy: decidedBy)
            }
        }
        return outcome
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
