import NIOCore

/// The 18 columns SHOW CLIENTS and SHOW SERVERS share, PgBouncer's, plus pgproxy's `id`.
enum ConnectionColumns {
    static let all: [AdminColumn] = [
        AdminColumn("type"), AdminColumn("user"), AdminColumn("database"), AdminColumn("state"),
        AdminColumn("addr"), AdminColumn("port", .int4), AdminColumn("local_addr"), AdminColumn("local_port", .int4),
        AdminColumn("connect_time"), AdminColumn("request_time"),
        AdminColumn("wait", .int4), AdminColumn("wait_us", .int4), AdminColumn("close_needed", .int4),
        AdminColumn("ptr"), AdminColumn("link"), AdminColumn("remote_pid", .int4), AdminColumn("tls"),
        AdminColumn("application_name"), AdminColumn("id", .int8),
    ]
}

/// SHOW CLIENTS: every logged-in client; `id` is what KILL_CLIENT takes.
enum ShowClients: AdminCommand {
    static let words = ["SHOW", "CLIENTS"]
    static let usage = "SHOW CLIENTS"

    static func run(_ arguments: [String], in context: AdminContext) -> EventLoopFuture<AdminReply> {
        context.runtime.clientRows(on: context.loop).map { clients in
            let rows: [[String?]] = clients.map { client in
                let (addr, port) = AdminFormat.address(client.remoteAddress)
                let (localAddr, localPort) = AdminFormat.address(client.localAddress)
                let (wait, waitMicros) = AdminFormat.wait(since: client.waitingSince)
                return [
                    "C", client.user, client.database, client.state, addr, port, localAddr, localPort,
                    AdminFormat.timestamp(client.connectedAt), AdminFormat.timestamp(client.requestAt ?? client.connectedAt),
                    wait, waitMicros, "0",
                    AdminFormat.pointer(client.pointer), client.serverPointer.map(AdminFormat.pointer) ?? "", "0", client.tls,
                    client.applicationName, String(client.processID),
                ]
            }
            return .rows(columns: ConnectionColumns.all, rows: rows)
        }
    }
}

/// SHOW SERVERS: every server connection of every pool.
enum ShowServers: AdminCommand {
    static let words = ["SHOW", "SERVERS"]
    static let usage = "SHOW SERVERS"

    static func run(_ arguments: [String], in context: AdminContext) -> EventLoopFuture<AdminReply> {
        context.runtime.serverRows(on: context.loop).map { servers in
            let rows: [[String?]] = servers.map { key, server in
                let (localAddr, localPort) = AdminFormat.address(server.localAddress)
                return [
                    "S", key.user, key.database, server.state, server.address.host, String(server.address.port),
                    localAddr, localPort,
                    AdminFormat.timestamp(server.connectedAt), AdminFormat.timestamp(server.lastUsedAt),
                    "0", "0", server.closeNeeded ? "1" : "0",
                    AdminFormat.pointer(server.pointer), server.clientPointer.map(AdminFormat.pointer) ?? "",
                    server.remoteProcessID.map { String($0) } ?? "0", "", server.applicationName, String(server.id),
                ]
            }
            return .rows(columns: ConnectionColumns.all, rows: rows)
        }
    }
}
