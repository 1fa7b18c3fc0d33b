import Logging
import NIOPosix
import PostgresNIO

/// PostgresNIO, the Swift client, pointed at pgproxy.
enum NIOClient {
    static let logger = Logger(label: "postgres-nio-test")

    static func connect(port: Int, user: String, password: String, database: String = "app") async throws -> PostgresConnection {
        let configuration = PostgresConnection.Configuration(
            host: "127.0.0.1", port: port, username: user, password: password, database: database, tls: .disable)
        return try await PostgresConnection.connect(
            on: MultiThreadedEventLoopGroup.singleton.any(), configuration: configuration, id: 1, logger: logger)
    }

    /// The SQLSTATE of an error thrown by PostgresNIO, if the server (or pgproxy) sent one.
    static func sqlState(_ error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
    }
}
