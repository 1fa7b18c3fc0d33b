import NIOCore
import NIOPosix

/// One statement of pgproxy's own on a connection of its own: connect (with TLS when
/// `server_tls` says so), log in, run one query with text parameters, close. Health checks
/// (`pg_is_in_recovery()`) and auth_query use it. Completes with the rows as text, or fails with why.
final class ServerQuery: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    private var login: ServerLogin
    /// Set while the answer to an SSLRequest is awaited (`server_tls`).
    private var tls: (contexts: TLSContexts, host: String)?
    private let sql: String
    private let parameters: [String?]
    private var framer = MessageFramer()
    private var loggedIn = false
    private var usesTLS = false
    private var rows: [[String?]] = []
    private var failure: String?
    private let promise: EventLoopPromise<[[String?]]>

    private init(credentials: ServerCredentials, sql: String, parameters: [String?], promise: EventLoopPromise<[[String?]]>) {
        self.login = ServerLogin(credentials: credentials)
        self.sql = sql
        self.parameters = parameters
        self.promise = promise
    }

    /// Runs `sql` with `parameters` ($1, $2, ...) on `loop`, giving up after `timeout`.
    static func run(
        _ sql: String, parameters: [String?] = [], at address: BackendAddress, credentials: ServerCredentials,
        tls: TLSContexts?, timeout: TimeAmount, on loop: any EventLoop
    ) -> EventLoopFuture<[[String?]]> {
        let promise = loop.makePromise(of: [[String?]].self)
        let query = ServerQuery(credentials: credentials, sql: sql, parameters: parameters, promise: promise)
        if let tls = address.tls(tls), tls.serverSide != nil { query.tls = (tls, address.host) }
        let deadline = loop.scheduleTask(in: timeout) {
            promise.fail(Failure("no answer within \(timeout.nanoseconds / 1_000_000)ms"))
        }
        ClientBootstrap.on(loop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(query) }
            }
            .connect(to: address)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    let first = query.tls == nil ? query.login.startupMessage() : ServerTLSRequest.packet(allocator: channel.allocator)
                    channel.writeAndFlush(first, promise: nil)
                    promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
                case .failure(let error):
                    promise.fail(Failure("cannot connect: \(error)"))
                }
            }
        return promise.futureResult.always { _ in deadline.cancel() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if let (contexts, host) = tls {
            tls = nil
            switch ServerTLSRequest.accept(unwrapInboundIn(data), tls: contexts, host: host, pipeline: context.pipeline.syncOperations) {
            case .failed(let failure):
                promise.fail(Failure("\(failure)"))
                return
            case .encrypted: usesTLS = true
            case .plain: break
            }
            context.writeAndFlush(wrapOutboundOut(login.startupMessage()), promise: nil)
            return
        }
        framer.append(unwrapInboundIn(data))
        do {
            while let (id, body) = try framer.next() {
                if !loggedIn {
                    if usesTLS, login.channelBinding == nil {
                        login.channelBinding = ServerTLSRequest.channelBinding(context.pipeline.syncOperations)
                    }
                    switch try login.receive(id: id, body: body) {
                    case .wait: continue
                    case .send(let reply): context.writeAndFlush(wrapOutboundOut(reply), promise: nil)
                    case .ready:
                        loggedIn = true
                        context.writeAndFlush(wrapOutboundOut(statement(allocator: context.channel.allocator)), promise: nil)
                    }
                    continue
                }
                switch id {
                case BackendID.dataRow:
                    rows.append(Self.columns(of: body))
                case BackendID.errorResponse:
                    failure = ErrorFields.decode(body: body).message
                case BackendID.readyForQuery:
                    var terminate = context.channel.allocator.buffer(capacity: 5)
                    terminate.writeTerminate()
                    context.writeAndFlush(wrapOutboundOut(terminate), promise: nil)
                    if let failure { promise.fail(Failure(failure)) } else { promise.succeed(rows) }
                default:
                    continue
                }
            }
        } catch {
            promise.fail(Failure("login failed: \(error)"))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(Failure("the server closed the connection"))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(Failure("\(error)"))
        context.close(promise: nil)
    }

    /// Parse, Bind (text parameters), Execute, Sync: parameters never become part of the SQL text.
    private func statement(allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 64 + sql.utf8.count)
        buffer.writeMessage(id: FrontendID.parse) {
            $0.writeCString("")
            $0.writeCString(sql)
            $0.writeInteger(Int16(0))
        }
        buffer.writeMessage(id: FrontendID.bind) {
            $0.writeCString("")
            $0.writeCString("")
            $0.writeInteger(Int16(0))
            $0.writeInteger(Int16(parameters.count))
            for parameter in parameters {
                if let parameter {
                    $0.writeInteger(Int32(parameter.utf8.count))
                    $0.writeString(parameter)
                } else {
                    $0.writeInteger(Int32(-1))
                }
            }
            $0.writeInteger(Int16(0))
        }
        buffer.writeMessage(id: FrontendID.execute) {
            $0.writeCString("")
            $0.writeInteger(Int32(0))
        }
        buffer.writeMessage(id: FrontendID.sync) { _ in }
        return buffer
    }

    /// A DataRow's columns as text (NULL as nil).
    private static func columns(of body: ByteBuffer) -> [String?] {
        var body = body
        guard let count = body.readInteger(as: Int16.self), count >= 0 else { return [] }
        var values: [String?] = []
        for _ in 0..<count {
            guard let length = body.readInteger(as: Int32.self) else { break }
            values.append(length < 0 ? nil : body.readString(length: Int(length)))
        }
        return values
    }
}

extension ClientBootstrap {
    /// A bootstrap for a helper connection started from `loop`: on `loop` itself, or on SwiftNIO's
    /// shared loops when `loop` is one of pgproxy's own (they run no SwiftNIO channels). Its
    /// futures may then complete there; promises made on `loop` bring the results back.
    static func on(_ loop: any EventLoop) -> ClientBootstrap {
        loop is EpollLoop ? ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton) : ClientBootstrap(group: loop)
    }
}
