import CSockets
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The socket file of pgproxy's Unix-domain listener (`unix_socket_dir`): `<directory>/.s.PGSQL.<port>`,
/// the name libpq looks for (`psql -h <directory> -p <port>`).
struct UnixSocketFile: Sendable {
    let path: String
    let mode: Int

    init(directory: String, port: Int, mode: Int) {
        path = Self.path(directory: directory, port: port)
        self.mode = mode
    }

    /// `<directory>/.s.PGSQL.<port>`: where PostgreSQL, PgBouncer and pgproxy put a socket, and
    /// where libpq looks for one.
    static func path(directory: String, port: Int) -> String {
        "\(directory.hasSuffix("/") ? String(directory.dropLast()) : directory)/.s.PGSQL.\(port)"
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The address to bind. A socket file left by a pgproxy (or PgBouncer, or PostgreSQL) that
    /// is gone is removed first; one that a live server still accepts on is left alone, and
    /// binding fails, as it would for a TCP port in use.
    func address() throws -> SocketAddress {
        let address = try SocketAddress(unixDomainSocketPath: path)
        var status = stat()
        guard lstat(path, &status) == 0 else { return address }
        guard status.st_mode & S_IFMT == S_IFSOCK else {
            throw Failure(description: "\(path) exists and is not a socket")
        }
        let probe = socket(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_NONBLOCK.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { throw IOError(errnoCode: errno, reason: "socket") }
        let connected = address.withSockAddr { connect(probe, $0, socklen_t($1)) }
        let code = errno
        close(probe)
        // EAGAIN: a live listener with a full backlog.
        if connected == 0 || code == EAGAIN {
            throw Failure(description: "another server is listening on \(path)")
        }
        unlink(path)
        return address
    }

    /// Gives the bound socket file its `unix_socket_mode`.
    func setMode() throws {
        guard chmod(path, mode_t(mode)) == 0 else { throw IOError(errnoCode: errno, reason: "chmod \(path)") }
    }

    func remove() {
        unlink(path)
    }
}
