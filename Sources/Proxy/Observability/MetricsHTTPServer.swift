import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The `/metrics` endpoint: a minimal HTTP/1.1 server for Prometheus scrapes.
///
/// It serves one document, so it needs no router or framework: NIO's HTTP/1 pipeline does the
/// parsing, keep-alive and pipelining, and ``MetricsRequestHandler`` answers each request.
/// `provider` is called once per GET or HEAD of `/metrics` and may complete on any event loop.
final class MetricsHTTPServer: Sendable {
    private let host: String
    private let port: Int
    private let group: any EventLoopGroup
    private let logger: Logger
    private let provider: @Sendable () -> EventLoopFuture<[UInt8]>
    private let listener = Mutex<(any Channel)?>(nil)
    /// Open scrape connections by identity, so ``stop()`` can close the keep-alive ones a
    /// scraper would otherwise hold open (and keep scraping) after the listener is gone.
    /// Nil once stopped: a connection accepted while ``stop()`` runs is closed on arrival.
    private let connections = Mutex<[ObjectIdentifier: any Channel]?>(nil)

    init(
        host: String, port: Int, group: any EventLoopGroup, logger: Logger,
        provider: @escaping @Sendable () -> EventLoopFuture<[UInt8]>
    ) {
        self.host = host
        self.port = port
        self.group = group
        self.logger = logger
        self.provider = provider
    }

    /// Binds and starts accepting scrapes; returns the bound port (the kernel's pick for port 0).
    /// Call once, or again only after ``stop()``.
    func start() async throws -> Int {
        let provider = self.provider
        let logger = self.logger
        connections.withLock { $0 = [:] }
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 64)
            .childChannelInitializer { [weak self] channel in
                self?.track(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(
                        MetricsRequestHandler(provider: provider, logger: logger))
                }
            }
            .bind(host: host, port: port)
            .get()
        listener.withLock { $0 = channel }
        let boundPort = channel.localAddress?.port ?? port
        logger.info("metrics endpoint listening", metadata: ["address": "\(host):\(boundPort)"])
        return boundPort
    }

    /// Closes the listener and every open scrape connection. Safe to call more than once.
    func stop() async {
        let channel = listener.withLock { listener in
            defer { listener = nil }
            return listener
        }
        try? await channel?.close()
        let open = connections.withLock { connections in
            defer { connections = nil }
            return connections.map { Array($0.values) } ?? []
        }
        for connection in open {
            try? await connection.close()
        }
    }

    private func track(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        let accepted = connections.withLock { connections in
            connections?[id] = channel
            return connections != nil
        }
        guard accepted else {
            channel.close(promise: nil)
            return
        }
        channel.closeFuture.whenComplete { [weak self] _ in
            _ = self?.connections.withLock { $0?.removeValue(forKey: id) }
        }
    }
}

/// Answers the requests of one connection. The pipeline's `HTTPServerPipelineHandler` holds back
/// pipelined requests until the previous response has ended, so one request is in hand at a time.
final class MetricsRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    private let provider: @Sendable () -> EventLoopFuture<[UInt8]>
    private let logger: Logger
    /// The head of the request being received; answered at its `.end`, once any body is drained.
    private var request: HTTPRequestHead?

    init(provider: @escaping @Sendable () -> EventLoopFuture<[UInt8]>, logger: Logger) {
        self.provider = provider
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break  // No endpoint takes a body; it is read and dropped.
        case .end:
            guard let head = request else { return }
            request = nil
            answer(head, context: context)
        }
    }

    private func answer(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        // The query string does not select anything, but scrapers may add one.
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        guard head.method == .GET || head.method == .HEAD else {
            respond(to: head, status: .methodNotAllowed, body: "method not allowed\n",
                    extraHeaders: [("Allow", "GET, HEAD")], context: context)
            return
        }
        switch path {
        case "/metrics":
            // Back on this loop before touching the context; the provider may answer from any thread.
            provider().hop(to: context.eventLoop).assumeIsolated().whenComplete { [self] result in
                switch result {
                case .success(let bytes):
                    respond(to: head, status: .ok, body: bytes, contentType: Self.contentType, context: context)
                case .failure(let error):
                    logger.warning("metrics collection failed", metadata: ["error": "\(error)"])
                    respond(to: head, status: .internalServerError, body: "metrics collection failed\n", context: context)
                }
            }
        case "/":
            respond(to: head, status: .ok, body: "pgproxy: metrics are at /metrics\n", context: context)
        default:
            respond(to: head, status: .notFound, body: "not found\n", context: context)
        }
    }

    private func respond(
        to request: HTTPRequestHead, status: HTTPResponseStatus, body: String,
        extraHeaders: [(String, String)] = [], context: ChannelHandlerContext
    ) {
        respond(to: request, status: status, body: Array(body.utf8), contentType: "text/plain; charset=utf-8",
                extraHeaders: extraHeaders, context: context)
    }

    /// Writes a complete response. HEAD gets the headers GET would, Content-Length included, and
    /// no body. The connection is closed after it unless the request asked to keep it alive.
    private func respond(
        to request: HTTPRequestHead, status: HTTPResponseStatus, body: [UInt8], contentType: String,
        extraHeaders: [(String, String)] = [], context: ChannelHandlerContext
    ) {
        // The channel may have closed while the provider ran.
        guard context.channel.isActive else { return }
        let keepAlive = request.isKeepAlive
        var headers = HTTPHeaders([("Content-Type", contentType), ("Content-Length", String(body.count))])
        headers.add(contentsOf: extraHeaders)
        if !keepAlive {
            headers.add(name: "Connection", value: "close")
        } else if request.version.major == 1 && request.version.minor == 0 {
            headers.add(name: "Connection", value: "keep-alive")
        }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))),
                      promise: nil)
        if request.method != .HEAD && !body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let ended = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            ended.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("metrics connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }
}
