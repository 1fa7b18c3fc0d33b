import Foundation
import NIOCore
import XCTest
@testable import Proxy

/// Unix-domain sockets: `unix_socket_dir` for clients, `host = "/dir"` for servers.
final class UnixSocketTests: XCTestCase {
    private var directory = ""

    override func setUp() {
        directory = NSTemporaryDirectory() + "pgproxy-unix-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func testBackendAddressOfASocketDirectory() throws {
        let socket = BackendAddress(host: "/var/run/postgresql/", port: 5433)
        XCTAssertEqual(socket.unixSocketPath, "/var/run/postgresql/.s.PGSQL.5433")
        guard case .unixDomainSocket = try socket.resolve() else { return XCTFail("not a Unix-domain address") }
        let tcp = BackendAddress(host: "127.0.0.1", port: 5433)
        XCTAssertNil(tcp.unixSocketPath)
        XCTAssertEqual(try tcp.resolve().port, 5433)
    }

    func testConfigReadsTheSocketDirectoryAndMode() throws {
        let config = try ConfigLoader.parse(
            configText: "[general]\nunix_socket_dir = \"\(directory)\"\nunix_socket_mode = \"0770\"\n\n[[databases]]\nname = \"app\"\nhost = \"/var/run/postgresql\"\n",
            configPath: "pgproxy.toml", usersText: ConfigLoaderTests.minimalUsers, usersPath: "users.toml")
        XCTAssertEqual(config.general.unixSocketDir, directory)
        XCTAssertEqual(config.general.unixSocketMode, 0o770)
        XCTAssertEqual(config.general.settings.first { $0.key == "unix_socket_mode" }?.value, "0770")
        let off = try ConfigLoader.parse(
            configText: "[general]\nunix_socket_dir = \"\"\n" + ConfigLoaderTests.minimalConfig,
            configPath: "pgproxy.toml", usersText: ConfigLoaderTests.minimalUsers, usersPath: "users.toml")
        XCTAssertNil(off.general.unixSocketDir)
    }

    func testConfigRefusesABadSocketDirectoryOrMode() {
        let cases: [(String, String, String)] = [
            ("unix_socket_dir = \"tmp\"", "general.unix_socket_dir", "must be an absolute path"),
            ("unix_socket_dir = \"\(directory)/missing\"", "general.unix_socket_dir", "no such directory"),
            ("unix_socket_mode = \"777\"", "general.unix_socket_mode", "must be octal permissions"),
            ("unix_socket_mode = \"0999\"", "general.unix_socket_mode", "must be octal permissions"),
        ]
        for (line, key, reason) in cases {
            do {
                _ = try ConfigLoader.parse(configText: "[general]\n\(line)\n" + ConfigLoaderTests.minimalConfig, configPath: "pgproxy.toml",
                                           usersText: ConfigLoaderTests.minimalUsers, usersPath: "users.toml")
                XCTFail("\(line) was accepted")
            } catch let errors as ConfigErrors {
                XCTAssertEqual(errors.errors.map(\.key), [key], line)
                XCTAssertEqual(errors.errors.first?.line, 2, line)
                XCTAssertTrue(errors.errors.first?.reason.contains(reason) ?? false, "\(errors)")
            } catch {
                XCTFail("\(error)")
            }
        }
    }

    /// A socket file nobody listens on any more (a crash) is replaced; one a live server
    /// accepts on is left alone and binding fails; a file that is not a socket is never removed.
    func testStaleSocketFilesAreReplacedLiveOnesRefused() throws {
        let file = UnixSocketFile(directory: directory + "/", port: 6432, mode: 0o700)
        XCTAssertEqual(file.path, directory + "/.s.PGSQL.6432")
        let address = try file.address()
        let live = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertEqual(address.withSockAddr { bind(live, $0, socklen_t($1)) }, 0)
        XCTAssertEqual(listen(live, 8), 0)
        XCTAssertThrowsError(try file.address()) { XCTAssertTrue("\($0)".contains("another server is listening"), "\($0)") }
        XCTAssertTrue(FileManager.default.fileExists(atPath: file.path))
        close(live)
        XCTAssertTrue(FileManager.default.fileExists(atPath: file.path), "a closed listener leaves its file")
        _ = try file.address()
        XCTAssertFalse(FileManager.default.fileExists(atPath: file.path), "the stale file is removed")

        FileManager.default.createFile(atPath: file.path, contents: Data("keep".utf8))
        XCTAssertThrowsError(try file.address()) { XCTAssertTrue("\($0)".contains("is not a socket"), "\($0)") }
        XCTAssertEqual(FileManager.default.contents(atPath: file.path), Data("keep".utf8))
    }
}
