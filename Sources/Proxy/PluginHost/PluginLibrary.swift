import Foundation
import Logging
import PluginABI

/// The ABI version this pgproxy speaks, as plugins encode it (major << 16 | minor).
enum PluginABIVersion {
    static let major = UInt32(PGPROXY_PLUGIN_ABI_MAJOR)
    static let minor = UInt32(PGPROXY_PLUGIN_ABI_MINOR)
    static let encoded = major << 16 | minor

    static func describe(_ version: UInt32) -> String { "\(version >> 16).\(version & 0xFFFF)" }
}

/// Why a plugin could not be loaded; the message names the plugin.
public struct PluginLoadError: Error, CustomStringConvertible {
    public let description: String
}

/// One loaded plugin: its library handle, its vtable and the instance its `init` returned.
/// Loaded once at start; `route` and `on_event` are called from every event loop.
final class LoadedPlugin: @unchecked Sendable {
    let label: String
    let name: String
    let vtable: UnsafePointer<pgproxy_plugin_vtable>
    let instance: UnsafeMutableRawPointer?
    private let handle: UnsafeMutableRawPointer
    let wantsParseTree: Bool
    let hasEvents: Bool

    private init(label: String, name: String, vtable: UnsafePointer<pgproxy_plugin_vtable>, instance: UnsafeMutableRawPointer?, handle: UnsafeMutableRawPointer) {
        self.label = label
        self.name = name
        self.vtable = vtable
        self.instance = instance
        self.handle = handle
        self.wantsParseTree = vtable.pointee.wants_parse_tree != 0
        self.hasEvents = vtable.pointee.on_event != nil
    }

    /// Opens the library, checks its ABI version before reading anything else, and runs `init`
    /// with the settings from `[[plugins]]`. A library that fails is not closed: its code has
    /// run (a Swift or Rust library registers runtime data that must outlive it), and pgproxy
    /// stops anyway.
    static func load(_ config: PluginConfig, path: String, logger: Logger) throws -> LoadedPlugin {
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "unknown error"
            throw PluginLoadError(description: "plugin \(config.label): cannot load \(path): \(reason)")
        }
        guard let symbol = dlsym(handle, PGPROXY_PLUGIN_ENTRY_SYMBOL) else {
            throw PluginLoadError(description: "plugin \(config.label): \(path) does not export \(PGPROXY_PLUGIN_ENTRY_SYMBOL)")
        }
        let entry = unsafeBitCast(symbol, to: pgproxy_plugin_entry_fn.self)
        guard let vtable = entry() else {
            throw PluginLoadError(description: "plugin \(config.label): \(PGPROXY_PLUGIN_ENTRY_SYMBOL) returned no vtable")
        }
        // The version is the first field: read it before trusting the layout of the rest.
        let version = UnsafeRawPointer(vtable).load(as: UInt32.self)
        guard version >> 16 == PluginABIVersion.major else {
            throw PluginLoadError(description: "plugin \(config.label) (\(path)) was built for plugin ABI \(PluginABIVersion.describe(version)); "
                + "this pgproxy speaks ABI \(PluginABIVersion.describe(PluginABIVersion.encoded)): rebuild the plugin against this pgproxy's pgproxy_plugin.h")
        }
        let name = vtable.pointee.name.map { String(cString: $0) } ?? config.label
        guard let initialize = vtable.pointee.`init`, vtable.pointee.route != nil else {
            throw PluginLoadError(description: "plugin \(name) (\(path)): its vtable has no init or no route function")
        }
        // Keys and values stay alive (as C strings) for the duration of init.
        let keys = config.settings.map { strdup($0.key)! }
        let values = config.settings.map { strdup($0.value)! }
        defer {
            keys.forEach { free($0) }
            values.forEach { free($0) }
        }
        var settings = zip(keys, values).map { key, value in
            pgproxy_setting(key: pgproxy_str(ptr: UnsafePointer(key), len: strlen(key)), value: pgproxy_str(ptr: UnsafePointer(value), len: strlen(value)))
        }
        var error = [CChar](repeating: 0, count: 512)
        let instance = settings.withUnsafeMutableBufferPointer { buffer in
            error.withUnsafeMutableBufferPointer { errorBuffer in
                initialize(&PluginHostAPI.table, buffer.baseAddress, buffer.count, errorBuffer.baseAddress, errorBuffer.count)
            }
        }
        guard let instance else {
            let reason = error.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw PluginLoadError(description: "plugin \(name) refused its settings: \(reason.isEmpty ? "no reason given" : reason)")
        }
        logger.info("loaded plugin \(name) from \(path) (ABI \(PluginABIVersion.describe(version)))")
        return LoadedPlugin(label: config.label, name: name, vtable: vtable, instance: instance, handle: handle)
    }

    /// Runs `fini`. The library stays mapped: code of it may still be on a stack somewhere.
    func finish() {
        vtable.pointee.fini?(instance)
    }

    /// Where a plugin's library is: `path` as given (relative to the config file's directory if
    /// it exists there), or `libpgproxy_<name>.so` in `plugin_dir` or next to the executable.
    static func resolve(_ config: PluginConfig, pluginDir: String?, configPath: String) -> String {
        if let path = config.path {
            if path.hasPrefix("/") { return path }
            let besideConfig = URL(fileURLWithPath: configPath).deletingLastPathComponent().appendingPathComponent(path).path
            return FileManager.default.fileExists(atPath: besideConfig) ? besideConfig : path
        }
        let file = "libpgproxy_\(config.name ?? "").so"
        let directory = pluginDir ?? executableDirectory()
        return URL(fileURLWithPath: directory).appendingPathComponent(file).path
    }

    private static func executableDirectory() -> String {
        let link = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: link).deletingLastPathComponent().path
    }
}
