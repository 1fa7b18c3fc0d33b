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

private let abiVersion: UInt32 =
    (UInt32(PGPROXY_PLUGIN_ABI_MAJOR) << 16) | UInt32(PGPROXY_PLUGIN_ABI_MINOR)

// MARK: - Settings

struct SettingError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

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

private func string(_ s: pgproxy_str) -> String {
    String(decoding: rawBytes(s), as: UTF8.self)
}

extension String {
    fileprivate func trimmed() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}

/// Copies `message` into the host's buffer, NUL-terminated, cut at a UTF-8 boundary if too long.
private func writeError(_ message: String, to buffer: UnsafeMutablePointer<CChar>?, capacity: Int) {
    guard let buffer, capacity > 0 else { return }
    var utf8 = Array(("hash_sharder: " + message).utf8)
    if utf8.count > capacity - 1 {
        var cut = capacity - 1
        while cut > 0 && utf8[cut] & 0xC0 == 0x80 { cut -= 1 }  // don't split a character
        utf8.removeSubrange(cut...)
    }
    utf8.withUnsafeBufferPointer { bytes in
        UnsafeMutableRawPointer(buffer).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
    }
    buffer[utf8.count] = 0
}

// MARK: - C entry points

private let pluginInit: @convention(c) (
    UnsafePointer<pgproxy_host_api>?, UnsafePointer<pgproxy_setting>?, Int,
    UnsafeMutablePointer<CChar>?, Int
) -> UnsafeMutableRawPointer? = { host, settings, count, errorBuffer, errorCapacity in
    let plugin: HashSharderPlugin
    do throws(SettingError) {
        let list = UnsafeBufferPointer(start: count > 0 ? settings : nil, count: count > 0 ? count : 0)
        plugin = try makeHashSharder(settings: list)
    } catch {
        writeError(error.message, to: errorBuffer, capacity: errorCapacity)
        return nil
    }
    if let log = host?.pointee.log {
        var message = "hash_sharder: hasher \(plugin.hasher.name)"
            + (plugin.hasher == .postgres
                ? " (shard i = PARTITION BY HASH remainder i modulo the shard count)"
                : " (SHA-1 of the key's text modulo the shard count)")
        message.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                log(Int32(PGPROXY_LOG_INFO), pgproxy_str(ptr: chars.baseAddress, len: chars.count))
            }
        }
    }
    return Unmanaged.passRetained(plugin).toOpaque()
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

private let pluginFini: @convention(c) (UnsafeMutableRawPointer?) -> Void = { instance in
    guard let instance else { return }
    Unmanaged<HashSharderPlugin>.fromOpaque(instance).release()
}

private let pluginName: StaticString = "hash_sharder"

/// Allocated once, never freed: the host may keep the pointer for the life of the process.
nonisolated(unsafe) private let vtable: UnsafePointer<pgproxy_plugin_vtable> = {
    let table = UnsafeMutablePointer<pgproxy_plugin_vtable>.allocate(capacity: 1)
    table.initialize(to: pgproxy_plugin_vtable(
        abi_version: abiVersion,
        name: UnsafeRawPointer(pluginName.utf8Start).assumingMemoryBound(to: CChar.self),
        init: pluginInit,
        route: pluginRoute,
        on_event: nil,
        fini: pluginFini,
        wants_parse_tree: 0))
    return UnsafePointer(table)
}()

@_cdecl("pgproxy_plugin_entry")
public func pgproxy_plugin_entry() -> UnsafePointer<pgproxy_plugin_vtable> {
    vtable
}
