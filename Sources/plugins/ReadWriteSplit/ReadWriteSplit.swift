// The built-in `read_write_split` routing plugin: reads go to replicas, everything else to the
// primary. Built as libpgproxy_read_write_split.so and loaded by pgproxy through the C ABI in
// pgproxy_plugin.h; nothing but that header is shared with the host.
//
// Settings (`[[plugins]]` table):
//   primary_reads        true/false/on/off/1/0 (default false): reads may also go to the primary
//                        (role ANY instead of REPLICA).
//   read_only_functions  comma-separated extra function names known not to write, matched
//                        case-insensitively ("my_report", "myschema.f").
//
// Only `decision->role` is ever filled, and only while it is still undecided. Rules, in order:
//  1. role_hint PRIMARY/REPLICA (SET SERVER ROLE, or a /* pgproxy: role=... */ comment) wins.
//  2. Inside a transaction: leave undecided (the transaction stays where it is).
//  3. BEGIN: READ ONLY → the read role, unless the batch also writes (WRITE/DDL/UNKNOWN); else primary.
//  4. WRITE, DDL, UNKNOWN, TRANSACTION, UTILITY → primary.
//  5. LOCKING or COPY ... FROM → primary.
//  6. READ: any function not known read-only → primary; otherwise the read role.

import PluginABI
import PluginSupport

// MARK: - Flags and roles

// The header's flag macros are `(1u << n)`; spelled out here so the code does not depend on
// which macro forms the Clang importer brings into Swift. Values are fixed by ABI 1.x.
private let flagLocking: UInt32 = 1 << 0
private let flagBegin: UInt32 = 1 << 1
private let flagReadOnlyBegin: UInt32 = 1 << 2
private let flagCopyFrom: UInt32 = 1 << 5

// MARK: - Instance

/// One configured instance; handed to the host as an opaque `Unmanaged` pointer.
final class ReadWriteSplitPlugin {
    /// Where reads go: REPLICA, or ANY with `primary_reads`.
    let readRole: pgproxy_role
    /// Built-in read-only functions plus `read_only_functions`; immutable after init, so
    /// concurrent `route` calls only read it.
    let readOnlyFunctions: FunctionNameSet
    /// How many names `read_only_functions` added (for the init log line).
    let extraFunctionCount: Int

    init(primaryReads: Bool, extraFunctions: [String]) {
        readRole = primaryReads ? PGPROXY_ROLE_ANY : PGPROXY_ROLE_REPLICA
        extraFunctionCount = extraFunctions.count
        readOnlyFunctions = FunctionNameSet(builtInReadOnlyFunctions + extraFunctions)
    }

    deinit {
        readOnlyFunctions.deallocate()
    }

    /// The role for this statement, or UNDECIDED to leave it to the host.
    @inline(__always)
    func role(for context: UnsafePointer<pgproxy_route_context>) -> pgproxy_role {
        let hint = context.pointee.role_hint
        if hint == PGPROXY_ROLE_PRIMARY || hint == PGPROXY_ROLE_REPLICA { return hint }
        if context.pointee.in_transaction != 0 { return PGPROXY_ROLE_UNDECIDED }

        let kind = context.pointee.kind
        let flags = context.pointee.flags
        if flags & flagBegin != 0 {
            // "BEGIN READ ONLY; INSERT ..." fails on a replica; an unparsable batch might write.
            let writes = kind == PGPROXY_STMT_WRITE || kind == PGPROXY_STMT_DDL
                || kind == PGPROXY_STMT_UNKNOWN
            return flags & flagReadOnlyBegin != 0 && !writes ? readRole : PGPROXY_ROLE_PRIMARY
        }
        // WRITE, DDL, UNKNOWN (parse error), TRANSACTION (COMMIT outside a transaction), UTILITY
        // (SET, SHOW, LISTEN ...): the primary is the safe default.
        if kind != PGPROXY_STMT_READ { return PGPROXY_ROLE_PRIMARY }
        if flags & (flagLocking | flagCopyFrom) != 0 { return PGPROXY_ROLE_PRIMARY }

        let count = context.pointee.function_count
        if count != 0 {
            guard let functions = context.pointee.functions else { return PGPROXY_ROLE_PRIMARY }
            for i in 0..<count where !readOnlyFunctions.isKnownReadOnly(functions[i]) {
                return PGPROXY_ROLE_PRIMARY
            }
        }
        return readRole
    }
}

// MARK: - Settings

/// Parses the `[[plugins]]` settings; throws a message for the host on anything unexpected.
func makeReadWriteSplit(settings: UnsafeBufferPointer<pgproxy_setting>) throws(SettingError) -> ReadWriteSplitPlugin {
    var primaryReads: Bool?
    var extra: [String]?
    for setting in settings {
        let key = string(setting.key)
        let value = string(setting.value)
        switch key {
        case "primary_reads":
            guard primaryReads == nil else { throw SettingError("primary_reads is set twice") }
            switch value.trimmed().lowercased() {
            case "true", "on", "1": primaryReads = true
            case "false", "off", "0": primaryReads = false
            default:
                throw SettingError("primary_reads must be true, false, on, off, 1 or 0, not '\(value)'")
            }
        case "read_only_functions":
            guard extra == nil else { throw SettingError("read_only_functions is set twice") }
            extra = try parseFunctionList(value)
        default:
            throw SettingError("unknown setting '\(key)' (known: primary_reads, read_only_functions)")
        }
    }
    return ReadWriteSplitPlugin(primaryReads: primaryReads ?? false, extraFunctions: extra ?? [])
}

/// "f, myschema.g ,H" → ["f", "myschema.g", "h"]; empty items are skipped.
func parseFunctionList(_ value: String) throws(SettingError) -> [String] {
    var names: [String] = []
    for item in value.split(separator: ",", omittingEmptySubsequences: false) {
        let name = String(item).trimmed().lowercased()
        if name.isEmpty { continue }
        let bad = name.unicodeScalars.contains { c in
            c == "(" || c == ")" || c == "\"" || c == "'" || c == ";" || c.properties.isWhitespace
                || c.value < 0x20
        }
        if bad || name.hasPrefix(".") || name.hasSuffix(".") || name.contains("..") {
            throw SettingError(
                "read_only_functions: '\(String(item).trimmed())' is not a function name "
                    + "(expected names such as now, myschema.report, without arguments or quotes)")
        }
        names.append(name)
    }
    return names
}

// MARK: - C entry points

private let pluginInit: @convention(c) (
    UnsafePointer<pgproxy_host_api>?, UnsafePointer<pgproxy_setting>?, Int,
    UnsafeMutablePointer<CChar>?, Int
) -> UnsafeMutableRawPointer? = { host, settings, count, errorBuffer, errorCapacity in
    initializePlugin(
        name: "read_write_split", host: host, settings: settings, count: count, errorBuffer: errorBuffer, errorCapacity: errorCapacity,
        make: makeReadWriteSplit
    ) { plugin in
        "reads go to " + (plugin.readRole == PGPROXY_ROLE_ANY ? "replicas or the primary" : "replicas")
            + "; \(plugin.extraFunctionCount) extra read-only function(s)"
    }
}

private let pluginRoute: @convention(c) (
    UnsafeMutableRawPointer?, UnsafePointer<pgproxy_route_context>?,
    UnsafeMutablePointer<pgproxy_route_decision>?, OpaquePointer?
) -> Void = { instance, context, decision, _ in
    guard let instance, let context, let decision,
          decision.pointee.role == PGPROXY_ROLE_UNDECIDED  // an earlier plugin decided
    else { return }
    // Borrow the instance without retain/release: route runs on several threads at once, and
    // atomic refcount traffic on one shared object would bounce its cache line between cores.
    let role = Unmanaged<ReadWriteSplitPlugin>.fromOpaque(instance)
        ._withUnsafeGuaranteedRef { $0.role(for: context) }
    if role != PGPROXY_ROLE_UNDECIDED { decision.pointee.role = role }
}

/// Built once: the host may keep the pointer for the life of the process.
nonisolated(unsafe) private let vtable = makeVTable(name: "read_write_split", initialize: pluginInit, route: pluginRoute)

@_cdecl("pgproxy_plugin_entry")
public func pgproxy_plugin_entry() -> UnsafePointer<pgproxy_plugin_vtable> {
    vtable
}
