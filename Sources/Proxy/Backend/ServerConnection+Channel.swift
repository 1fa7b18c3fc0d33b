import NIOCore
import NIOSSL

/// A server connection on a SwiftNIO channel: the handler's events, passed on to what both
/// kinds of connection share (`received`, `writabilityChanged`, `connectionClosed`).
extension ServerConnection {
    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if case .negotiatingTLS(let credentials, let tls) = state {
            switch ServerTLSRequest.accept(buffer, tls: tls, host: address.host, pipeline: context.pipeline.syncOperations) {
            case .failed(let failure): failLogin(failure)
            case .encrypted:
                usesTLS = true
                sendStartup(credentials)
            case .plain: sendStartup(credentials)
            }
            return
        }
        received(buffer)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        client?.flushToClient()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) { writabilityChanged(context.channel.isWritable) }

    func channelInactive(context: ChannelHandlerContext) {
        self.context = nil
        connectionClosed()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        partition.logger.debug("server \(address) connection error: \(error)")
        _ = out.stop()
        switch state {
        case .connecting, .loggingIn, .negotiatingTLS:
            // A failed TLS handshake, say: the reason beats "closed during login".
            failLogin(error is NIOSSLError || error is NIOSSLExtraError || error is BoringSSLError ? ServerLogin.Failure.tls("\(error)") : error)
        default:
            context.close(promise: nil)
        }
    }
}
