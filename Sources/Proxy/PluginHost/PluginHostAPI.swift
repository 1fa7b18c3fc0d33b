import Logging
import PluginABI

/// The functions pgproxy hands its plugins: logging and the result builder for intercepts.
enum PluginHostAPI {
    /// Where plugin log lines go; set once at start.
    nonisolated(unsafe) static var logger = Logger(label: "pgproxy.plugin")

    nonisolated(unsafe) static var table = pgproxy_host_api(
        abi_version: PluginABIVersion.encoded,
        log: { level, message in
            let text = message.string
            switch level {
            case PGPROXY_LOG_DEBUG: PluginHostAPI.logger.debug("\(text)")
            case PGPROXY_LOG_INFO: PluginHostAPI.logger.info("\(text)")
            case PGPROXY_LOG_WARNING: PluginHostAPI.logger.warning("\(text)")
            default: PluginHostAPI.logger.error("\(text)")
            }
        },
        result_add_column: { builder, name in
            guard let builder else { return }
            InterceptedResult.from(builder).columns.append(name.string)
        },
        result_add_row: { builder, values, count in
            guard let builder else { return }
            var row: [String?] = []
            row.reserveCapacity(count)
            for index in 0..<count {
                let value = values![index]
                row.append(value.ptr == nil ? nil : value.string)
            }
            InterceptedResult.from(builder).rows.append(row)
        },
        result_set_tag: { builder, tag in
            guard let builder else { return }
            InterceptedResult.from(builder).tag = tag.string
        })
}

/// The result set a plugin builds when it intercepts a statement.
final class InterceptedResult {
    var columns: [String] = []
    var rows: [[String?]] = []
    var tag: String?

    static func from(_ builder: OpaquePointer) -> InterceptedResult {
        Unmanaged<InterceptedResult>.fromOpaque(UnsafeRawPointer(builder)).takeUnretainedValue()
    }

    /// The command tag to send: the plugin's, or SELECT with the row count.
    var commandTag: String { tag ?? "SELECT \(rows.count)" }
}

extension pgproxy_str {
    var string: String {
        guard let ptr, len > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: ptr, count: len), as: UTF8.self)
    }
}
