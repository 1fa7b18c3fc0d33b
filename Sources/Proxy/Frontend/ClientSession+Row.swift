import NIOCore

extension ClientSession {
    /// This client as SHOW CLIENTS lists it; nil before it logged in.
    func row() -> ClientRow? {
        guard let identity, phase != .closed else { return nil }
        // PgBouncer's states: "active" whether or not a server is linked (see link).
        let state = waiting ? "waiting" : "active"
        return ClientRow(
            processID: processID, user: identity.user.name, database: identity.database.name, state: state,
            remoteAddress: login.clientAddress, localAddress: raw?.localAddress ?? context?.channel.localAddress,
            connectedAt: connectedAt,
            requestAt: lastRequestAt,
            waitingSince: waiting ? waitingSince : nil,
            applicationName: parameters.values["application_name"] ?? "",
            pointer: objectAddress(self), serverPointer: server.map(objectAddress), tls: login.tls?.version ?? "")
    }

    private var lastRequestAt: NIODeadline? {
        lastRequest == 0 ? nil : NIODeadline.uptimeNanoseconds(lastRequest)
    }
}
