import Foundation
import XCTest

extension ProxyFixture {
    /// Runs `body` while, when `held`, another client keeps a server connection in an open
    /// transaction, so that other clients' statements run on the pool's other connections.
    func withServerHeld<T>(_ held: Bool = true, _ body: () async throws -> T) async throws -> T {
        guard held else { return try await body() }
        let holder = try PQConnection(conninfo())
        XCTAssertTrue(holder.exec("BEGIN; SELECT 1").ok)
        let result = try await body()
        XCTAssertTrue(holder.exec("COMMIT").ok)
        return result
    }
}

/// A C plugin built from `source` against pgproxy_plugin.h, in a temp directory that lives as
/// long as the returned value.
final class CompiledPlugin {
    let directory: String
    let path: String

    init(name: String, source: String) throws {
        directory = NSTemporaryDirectory() + "pgproxy-\(name)-\(UUID().uuidString)"
        path = directory + "/lib\(name).so"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try source.write(toFile: directory + "/\(name).c", atomically: true, encoding: .utf8)
        let include = repositoryRoot.appendingPathComponent("Sources/PluginABI/include").path
        let build = try runCommand("/usr/bin/cc", ["-shared", "-fPIC", "-I", include, "-o", path, directory + "/\(name).c"])
        XCTAssertEqual(build.status, 0, build.stderr)
    }

    /// The `[[plugins]]` section loading it.
    var section: String { "[[plugins]]\npath = \"\(path)\"" }

    deinit { try? FileManager.default.removeItem(atPath: directory) }
}
