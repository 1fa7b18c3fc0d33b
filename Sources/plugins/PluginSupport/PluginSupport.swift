// What the built-in Swift plugins share: reading their settings and answering the host through
// the C ABI. Linked statically into each plugin library; nothing here is seen by pgproxy itself.

import PluginABI

/// A setting a plugin refuses; the message reaches pgproxy's log, prefixed with the plugin's name.
public struct SettingError: Error {
    public let message: String
    public init(_ message: String) { self.message = message }
}

/// A `pgproxy_str` as a Swift string.
public func string(_ s: pgproxy_str) -> String {
    guard let ptr = s.ptr, s.len > 0 else { return "" }
    return String(decoding: UnsafeRawBufferPointer(start: ptr, count: s.len), as: UTF8.self)
}

extension String {
    /// Without leading and trailing whitespace.
    public func trimmed() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}

/// Copies `"<plugin>: <message>"` into the host's error buffer, NUL-terminated, cut at a UTF-8
/// boundary if too long.
public func writeError(_ message: String, plugin: String, to buffer: UnsafeMutablePointer<CChar>?, capacity: Int) {
    guard let buffer, capacity > 0 else { return }
    var utf8 = Array((plugin + ": " + message).utf8)
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

/// Writes `message` to pgproxy's log at `level` (PGPROXY_LOG_*), if the host offers a log.
public func log(_ host: UnsafePointer<pgproxy_host_api>?, level: Int32, _ message: String) {
    guard let log = host?.pointee.log else { return }
    var message = message
    message.withUTF8 { bytes in
        bytes.withMemoryRebound(to: CChar.self) { chars in
            log(level, pgproxy_str(ptr: chars.baseAddress, len: chars.count))
        }
    }
}

/// `fini` for a plugin whose instance is a retained Swift object (`Unmanaged.passRetained`).
public let releaseInstance: @convention(c) (UnsafeMutableRawPointer?) -> Void = { instance in
    guard let instance else { return }
    Unmanaged<AnyObject>.fromOpaque(instance).release()
}

/// A vtable for this ABI version, allocated once and never freed: the host may keep the pointer
/// for the life of the process.
/// The body of a built-in plugin's `init`: makes the instance from its settings, reports a
/// refused setting in the host's error buffer, logs what the instance does, and returns it
/// retained (released by `fini`).
public func initializePlugin<Plugin: AnyObject>(
    name: String, host: UnsafePointer<pgproxy_host_api>?, settings: UnsafePointer<pgproxy_setting>?, count: Int,
    errorBuffer: UnsafeMutablePointer<CChar>?, errorCapacity: Int,
    make: (UnsafeBufferPointer<pgproxy_setting>) throws(SettingError) -> Plugin, describe: (Plugin) -> String
) -> UnsafeMutableRawPointer? {
    let plugin: Plugin
    do throws(SettingError) {
        plugin = try make(UnsafeBufferPointer(start: count > 0 ? settings : nil, count: max(count, 0)))
    } catch {
        writeError(error.message, plugin: name, to: errorBuffer, capacity: errorCapacity)
        return nil
    }
    log(host, level: Int32(PGPROXY_LOG_INFO), name + ": " + describe(plugin))
    return Unmanaged.passRetained(plugin).toOpaque()
}

public func makeVTable(
    name: StaticString,
    initialize: @escaping @convention(c) (UnsafePointer<pgproxy_host_api>?, UnsafePointer<pgproxy_setting>?, Int, UnsafeMutablePointer<CChar>?, Int) -> UnsafeMutableRawPointer?,
    route: @escaping @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<pgproxy_route_context>?, UnsafeMutablePointer<pgproxy_route_decision>?, OpaquePointer?) -> Void
) -> UnsafePointer<pgproxy_plugin_vtable> {
    let table = UnsafeMutablePointer<pgproxy_plugin_vtable>.allocate(capacity: 1)
    table.initialize(to: pgproxy_plugin_vtable(
        abi_version: (UInt32(PGPROXY_PLUGIN_ABI_MAJOR) << 16) | UInt32(PGPROXY_PLUGIN_ABI_MINOR),
        name: UnsafeRawPointer(name.utf8Start).assumingMemoryBound(to: CChar.self),
        init: initialize,
        route: route,
        on_event: nil,
        fini: releaseInstance,
        wants_parse_tree: 0))
    return UnsafePointer(table)
}
