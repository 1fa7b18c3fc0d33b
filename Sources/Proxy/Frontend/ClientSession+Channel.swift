import NIOCore

/// A client on a SwiftNIO channel (TLS, or when pgproxy runs on SwiftNIO's loops): the handler's
/// events, passed on to what both kinds of connection share.
extension ClientSession {
    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelActive(context: ChannelHandlerContext) {
        // The address the channel cached when it was made: `context.remoteAddress` would ask the
        // socket again (a getpeername and an address-to-text conversion per login).
        connected(from: context.channel.remoteAddress, on: context.eventLoop)
        // Only a channel can take TLS (a RawSocket's client never offers it).
        login.tlsAvailable = runtime.tlsContexts.withLock { $0?.clientSide != nil }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) { readComplete() }

    func channelWritabilityChanged(context: ChannelHandlerContext) { writabilityChanged(context.channel.isWritable) }

    func channelInactive(context: ChannelHandlerContext) {
        leave()  // stops direct writes too
        self.context = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("client connection error: \(error)")
        _ = out.stop()
        context.close(promise: nil)
    }
}
