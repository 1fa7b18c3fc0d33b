import NIOCore

/// SHOW CONFIG: every [general] setting with its value, its default and whether RELOAD applies it.
enum ShowConfig: AdminCommand {
    static let words = ["SHOW", "CONFIG"]
    static let usage = "SHOW CONFIG"

    static func run(_ arguments: [String], in context: AdminContext) -> EventLoopFuture<AdminReply> {
        let config = context.runtime.config
        let current = config.general.settings
        let defaults = Dictionary(uniqueKeysWithValues: GeneralConfig().settings.map { ($0.key, $0.value) })
        var rows: [[String?]] = current.map { setting in
            [setting.key, setting.value, defaults[setting.key] ?? nil, setting.changeable ? "yes" : "no"]
        }
        rows.append(["admin_user", config.admin?.user, nil, "yes"])
        rows.append(["prometheus", config.prometheus.map { "\($0.host):\($0.port)" }, nil, "no"])
        // File paths and modes only: never a key's or a password's contents.
        rows.append(["client_tls", config.tls?.clientTLS.rawValue ?? "disable", "disable", "yes"])
        rows.append(["server_tls", config.tls?.serverTLS.rawValue ?? "disable", "disable", "yes"])
        rows.append(["tls_certificate", config.tls?.certificate, nil, "yes"])
        rows.append(["conffile", config.configPath, nil, "no"])
        rows.append(["users_file", config.usersPath, nil, "no"])
        rows.sort { ($0[0] ?? "") < ($1[0] ?? "") }
        return context.reply(.rows(
            columns: [AdminColumn("key"), AdminColumn("value"), AdminColumn("default"), AdminColumn("changeable")],
            rows: rows))
    }
}
