import NIOCore

/// A client on pgproxy's own event loop: the socket reports here what a SwiftNIO channel
/// reports to the handler methods.
extension ClientSession: RawSocketOwner {
    /// Takes over an accepted connection, on `socket`'s loop.
    func start(on socket: RawSocket, from address: SocketAddress?) {
        raw = socket
        // No TLS here (`login.tlsAvailable` stays false): it takes a SwiftNIO channel.
        // Written straight to the socket from the first byte: there is no channel to go through.
        out.start(descriptor: socket.descriptor, channelOwes: false)
        guard socket.start(owner: self) else {
            _ = out.stop()
            raw = nil
            return
        }
        connected(from: address, on: socket.loop)
    }

    func socketRead(_ buffer: ByteBuffer) { received(buffer) }

    func socketReadComplete() { readComplete() }

    func socketWritabilityChanged(_ writable: Bool) { writabilityChanged(writable) }

    func socketClosed(_ error: (any Error)?) {
        if let error { logger.debug("client connection error: \(error)") }
        _ = out.stop()
        leave()
        raw = nil
    }
}
