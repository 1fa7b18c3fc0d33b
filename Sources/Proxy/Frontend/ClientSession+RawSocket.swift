import NIOCore

/// A client on pgproxy's own event loop: the socket reports here what a SwiftNIO channel
/// reports to the handler methods.
extension ClientSession: RawSocketOwner {
    /// Takes over an accepted connection, on `socket`'s loop.
    func start(on socket: RawSocket, from address: SocketAddress?) {
        raw = socket
        login.tlsAvailable = runtime.tlsContexts.withLock { $0?.ownLoopClientSide != nil }
        // Written straight to the socket from the first byte: there is no channel to go through.
        out.start(descriptor: socket.descriptor, channelOwes: false)
        guard socket.start(owner: self) else {
            _ = out.stop()
            raw = nil
            return
        }
        connected(from: address, on: socket.loop)
    }

    /// Answers an SSLRequest with 'S' and puts TLS (OpenSSL) on the socket: the client's
    /// handshake comes next, and every later byte is encrypted.
    func startTLS(on socket: RawSocket, contexts: TLSContexts) {
        guard let context = contexts.ownLoopClientSide else { return refuse(Self.tlsGone) }
        var answer = ByteBuffer()
        answer.writeInteger(UInt8(ascii: "S"))
        writeToClient(answer)
        // What follows goes through OpenSSL, so no longer straight to the socket.
        _ = out.stop()
        guard socket.startTLS(context) else {
            logger.debug("could not start TLS on a client connection")
            phase = .closed
            return socket.close()
        }
        login.tls = ClientLogin.TLSState(channelBinding: contexts.channelBinding)
    }

    /// The client's certificate and protocol, once its handshake is done (the startup packet
    /// came through it).
    func recordTLSPeer(of socket: RawSocket) {
        guard let peer = socket.tlsPeer else { return }
        login.tls?.clientCertificate = peer.verified
        login.tls?.clientCommonName = peer.verified ? peer.commonName : nil
        login.tls?.version = peer.version
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
