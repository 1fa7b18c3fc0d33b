import NIOCore

/// Writes to the client: through its channel, or straight to its socket (`DirectWrites`) once a
/// plain connection has proved long-lived, or from the start on a `RawSocket` (through the
/// socket's queue once it is TLS: OpenSSL encrypts them).
extension ClientSession {
    @inline(__always)
    func writeFromServer(_ buffer: ByteBuffer) {
        partition?.counters.bytesSent &+= UInt64(buffer.readableBytes)
        writeLater(buffer)
    }

    /// Written now and flushed with the next write that flushes.
    @inline(__always)
    func writeLater(_ buffer: ByteBuffer) {
        if out.isOn {
            out.append(buffer)
        } else if let raw {
            raw.append(buffer)
        } else {
            context?.write(wrapOutboundOut(buffer), promise: nil)
        }
    }

    /// The client is connected, through a channel or a raw socket.
    var isConnected: Bool { context != nil || raw != nil }

    /// Closes the client's connection (its channel or socket).
    func closeConnection() {
        context?.close(promise: nil)
        raw?.close()
    }

    func writeToClient(_ buffer: ByteBuffer) {
        if out.isOn {
            out.append(buffer)
            flushToClient()
        } else if let raw {
            raw.append(buffer)
            raw.flushAppended()
        } else {
            context?.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        }
    }

    @inline(__always)
    func flushToClient() {
        guard out.isOn else {
            if let raw { raw.flushAppended() } else { context?.flush() }
            return
        }
        if let left = out.flush() { handOff(left) }
    }

    func startDirectWrites() {
        guard let context, let descriptor = SocketDescriptor.of(context.channel) else { return }
        // What the channel holds (written or not yet flushed) goes first: an empty write that
        // flushes it reports when it is all out.
        out.start(descriptor: descriptor, channelOwes: true)
        handOff([context.channel.allocator.buffer(capacity: 0)])
    }

    /// What the socket did not take goes through the channel, and so does every later write till
    /// the channel has written it.
    private func handOff(_ buffers: [ByteBuffer]) {
        DirectWrites.handOff(buffers, raw: raw, context: context) { [self] written in out.channelWrote(succeeded: written) }
    }
}
