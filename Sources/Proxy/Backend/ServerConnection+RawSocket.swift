import NIOCore

/// A server connection on pgproxy's own event loop: the socket reports here what a SwiftNIO
/// channel reports to the handler methods.
extension ServerConnection: RawSocketOwner {
    /// Takes over a connected socket, on its loop; the login starts next (`beginLogin`).
    func start(on socket: RawSocket) -> Bool {
        raw = socket
        out.start(descriptor: socket.descriptor, channelOwes: false)
        guard socket.start(owner: self) else {
            _ = out.stop()
            raw = nil
            return false
        }
        return true
    }

    func socketRead(_ buffer: ByteBuffer) { received(buffer) }

    func socketReadComplete() { client?.flushToClient() }

    func socketWritabilityChanged(_ writable: Bool) { writabilityChanged(writable) }

    func socketClosed(_ error: (any Error)?) {
        if let error { partition.logger.debug("server \(address) connection error: \(error)") }
        raw = nil
        // A failed handshake (a certificate the check refused, say): the reason beats "closed
        // during login".
        let tlsFailure = (error as? TLSFailure).map { ServerLogin.Failure.tls($0.description) }
        connectionClosed(loginFailure: tlsFailure)
    }
}
