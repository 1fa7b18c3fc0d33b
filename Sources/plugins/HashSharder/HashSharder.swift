// The built-in `hash_sharder` routing plugin: sends a statement to the shard its sharding key
// hashes to. Built as libpgproxy_hash_sharder.so and loaded by pgproxy through the C ABI in
// pgproxy_plugin.h; nothing but that header is shared with the host.
//
// Settings (`[[plugins]]` config):
//   hasher   "postgres" (default): bit-exact with PostgreSQL's PARTITION BY HASH on the key
//            column, so shard i holds the rows of partition `FOR VALUES WITH (MODULUS n,
//            REMAINDER i)` — data can be split with plain SQL and checked with
//            satisfies_hash_partition().
//            "sha1": SHA-1 of the key's canonical text (integers in decimal, uuids lower-case
//            8-4-4-4-12, text as is), the first 8 digest bytes big-endian, modulo n.
//
// The decision rules are in Routing.swift; hashing in Lookup3.swift / SHA1.swift / KeyHashing.swift.

import PluginABI
import PluginSupport

// MARK: - Settings

/// Parses the `[[plugins]]` settings; throws a message for the host on anything unexpected.
func makeHashSharder(settings: UnsafeBufferPointer<pgproxy_setting>) throws(SettingError) -> HashSharderPlugin {
    var hasher: KeyHasher?
    for setting in settings {
        let key = string(setting.key)
        let value = string(setting.value)
        switch key {
        case "hasher":
            guard hasher == nil else { throw SettingError("hasher is set twice") }
            switch value.trimmed().lowercased() {
            case "postgres": hasher = .postgres
            case "sha1": hasher = .sha1
            default: throw SettingError("hasher must be \"postgres\" or \"sha1\", not '\(value)'")
            }
        default:
            throw SettingError("unknown setting '\(key)' (known: hasher)")
        }
    }
    return HashSharderPlugin(hasher: hasher ?? .postgres)
}

// MARK: - C entry points

private let pluginInit: @convention(c) (
    UnsafePointer<pgproxy_host_api>?, UnsafePointer<pgproxy_setting>?, Int,
    UnsafeMutablePointer<CChar>?, Int
) -> UnsafeMutableRawPointer? = { host, settings, count, errorBuffer, errorCapacity in
    initializePlugin(
        name: "hash_sharder", host: host, settings: settings, count: count, errorBuffer: errorBuffer, errorCapacity: errorCapacity,
        make: makeHashSharder
    ) { plugin in
        "hasher \(plugin.hasher.name)"
            + (plugin.hasher == .postgres
                ? " (shard i = PARTITION BY HASH remainder i modulo the shard count)"
                : " (SHA-1 of the key's text modulo the shard count)")
    }
}

private let pluginRoute: @convention(c) (
    UnsafeMutableRawPointer?, UnsafePointer<pgproxy_route_context>?,
    UnsafeMutablePointer<pgproxy_route_decision>?, OpaquePointer?
) -> Void = { instance, context, decision, _ in
    guard let instance, let context, let decision,
          decision.pointee.shard == PGPROXY_SHARD_UNDECIDED  // an earlier plugin decided
    else { return }
    // Borrow the instance without retain/release: route runs on several threads at once, and
    // atomic refcount traffic on one shared object would bounce its cache line between cores.
    Unmanaged<HashSharderPlugin>.fromOpaque(instance)
        ._withUnsafeGuaranteedRef { $0.route(context, decision) }
}

/// Built once: the host may keep the pointer for the life of the process.
nonisolated(unsafe) private let vtable = makeVTable(name: "hash_sharder", initialize: pluginInit, route: pluginRoute)

@_cdecl("pgproxy_plugin_entry")
public func pgproxy_plugin_entry() -> UnsafePointer<pgproxy_plugin_vtable> {
    vtable
}
