import NIOCore
import NIOPosix

/// Host and port of a PostgreSQL server. As in libpq, a `host` that starts with `/` is the
/// directory of the server's Unix-domain socket, `<host>/.s.PGSQL.<port>`.
struct BackendAddress: Hashable, Sendable, CustomStringConvertible {
    var host: String
    var port: Int
    var description: String { "\(host):\(port)" }

    /// The socket file, when the server is reached over a Unix-domain socket.
    var unixSocketPath: String? {
        host.hasPrefix("/") ? UnixSocketFile.path(directory: host, port: port) : nil
    }

    /// The socket address to connect to. A host name is resolved with a blocking getaddrinfo,
    /// as SwiftNIO's bootstrap does.
    func resolve() throws -> SocketAddress {
        if let path = unixSocketPath { return try SocketAddress(unixDomainSocketPath: path) }
        return try SocketAddress.makeAddressResolvingHost(host, port: port)
    }

    /// The TLS settings for a connection to this server: none over a Unix-domain socket, where
    /// PostgreSQL never offers TLS (libpq does not ask for it there either, whatever `sslmode`).
    func tls(_ contexts: TLSContexts?) -> TLSContexts? {
        unixSocketPath == nil ? contexts : nil
    }
}

extension ClientBootstrap {
    /// Connects to a PostgreSQL server over TCP (with TCP_NODELAY when `noDelay`) or over its
    /// Unix-domain socket.
    func connect(to address: BackendAddress, noDelay: Bool = false) -> EventLoopFuture<any Channel> {
        if let path = address.unixSocketPath { return connect(unixDomainSocketPath: path) }
        return (noDelay ? channelOption(.socketOption(.tcp_nodelay), value: 1) : self)
            .connect(host: address.host, port: address.port)
    }
}
