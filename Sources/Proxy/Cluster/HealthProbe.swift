import NIOCore
import NIOPosix

/// One health check of one host: connect, log in, ask `SELECT pg_is_in_recovery()`, close.
/// Completes with whether the host is in recovery, or fails with why it is unhealthy.
final class HealthProbe: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var login: ServerLogin
    /// Set while the answer to an SSLRequest is awaited (`server_tls`).
    private var tls: (contexts: TLSContexts, host: String)?
    private var framer = MessageFramer()
    private var loggedIn = false
    private var inRecovery: Bool?
    private var failure: String?
    private let promise: EventLoopPromise<Bool>

    private init(credentials: ServerCredentials, promise: EventLoopPromise<Bool>) {
        self.login = ServerLogin(credentials: credentials)
        self.promise = promise
    }

    /// Runs a check on `loop`, giving up after `timeout`.
    static func check(
        _ address: BackendAddress, credentials: ServerCredentials, tls: TLSContexts?, timeout: TimeAmount, on loop: any EventLoop
    ) -> EventLoopFuture<Bool> {
        let promise = loop.makePromise(of: Bool.self)
        let probe = HealthProbe(credentials: credentials, promise: promise)
        if let tls, tls.serverSide != nil { probe.tls = (tls, address.host) }
        let deadline = loop.scheduleTask(in: timeout) {
            promise.fail(HealthCheckError("no answer within \(timeout.nanoseconds / 1_000_000)ms"))
        }
        ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(probe) }
            }
            .connect(host: address.host, port: address.port)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    let first = probe.tls == nil ? probe.login.startupMessage() : ServerTLSRequest.packet(allocator: channel.allocator)
                    channel.writeAndFlush(first, promise: nil)
                    promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
                case .failure(let error):
                    promise.fail(HealthCheckError("cannot connect: \(error)"))
                }
            }
        return promise.futureResult.always { _ in deadline.cancel() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if let (contexts, host) = tls {
            tls = nil
            if let failure = ServerTLSRequest.accept(unwrapInboundIn(data), tls: contexts, host: host, pipeline: context.pipeline.syncOperations) {
                promise.fail(HealthCheckError("\(failure)"))
            } else {
                context.writeAndFlush(wrapOutboundOut(login.startupMessage()), promise: nil)
            }
            return
        }
        framer.append(unwrapInboundIn(data))
        do {
            while let (id, body) = try framer.next() {
                if !loggedIn {
                    switch try login.receive(id: id, body: body) {
                    case .wait: continue
                    case .send(let reply): context.writeAndFlush(wrapOutboundOut(reply), promise: nil)
                    case .ready:
                        loggedIn = true
                        var query = context.channel.allocator.buffer(capacity: 40)
                        query.writeQuery("SELECT pg_is_in_recovery()")
                        context.writeAndFlush(wrapOutboundOut(query), promise: nil)
                    }
                    continue
                }
                switch id {
                case BackendID.dataRow:
                    var row = body
                    if row.readInteger(as: Int16.self) == 1, row.readInteger(as: Int32.self) == 1 {
                        inRecovery = row.readInteger(as: UInt8.self) == UInt8(ascii: "t")
                    }
                case BackendID.errorResponse:
                    failure = ErrorFields.decode(body: body).message
                case BackendID.readyForQuery:
                    var terminate = context.channel.allocator.buffer(capacity: 5)
                    terminate.writeTerminate()
                    context.writeAndFlush(wrapOutboundOut(terminate), promise: nil)
                    if let inRecovery {
                        promise.succeed(inRecovery)
                    } else {
                        promise.fail(HealthCheckError(failure ?? "no answer to pg_is_in_recovery()"))
                    }
                default:
                    continue
                }
            }
        } catch {
            promise.fail(HealthCheckError("login failed: \(error)"))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(HealthCheckError("the server closed the connection"))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(HealthCheckError("\(error)"))
        context.close(promise: nil)
    }
}

struct HealthCheckError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
