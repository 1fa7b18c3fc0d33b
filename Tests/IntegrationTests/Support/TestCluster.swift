import Foundation
import XCTest

/// The repository root, found from this file's path.
let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Result of running a program to completion.
struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a program and waits for it, output captured through files. posix_spawn and waitpid
/// rather than Foundation's Process: Process waits until every inherited descriptor closes, and
/// a server the program starts in the background keeps them open forever.
@discardableResult
/// Runs a program to its end, or kills it after `timeout` seconds (status 124, and a line saying
/// so in stderr): a client that waits forever for pgproxy fails its test instead of hanging it.
func runCommand(_ executable: String, _ arguments: [String], environment: [String: String] = [:], timeout: Double = 150) throws -> CommandResult {
    let base = NSTemporaryDirectory() + "pgproxy-cmd-\(UUID().uuidString)"
    defer {
        unlink(base + ".out")
        unlink(base + ".err")
    }
    let pid = try spawn(executable, arguments, stdout: base + ".out", stderr: base + ".err", environment: environment)
    var status: Int32 = 0
    let deadline = Date().addingTimeInterval(timeout)
    var pause: useconds_t = 1_000
    var timedOut = false
    while true {
        let done = waitpid(pid, &status, WNOHANG)
        if done == pid || (done == -1 && errno != EINTR) { break }
        if !timedOut, Date() > deadline {
            timedOut = true
            kill(pid, SIGKILL)
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
            break
        }
        usleep(pause)
        pause = min(pause * 2, 20_000)
    }
    let exitCode = timedOut ? 124 : (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    var stderr = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
    if timedOut { stderr += "\n\(executable) \(arguments.joined(separator: " ")) killed after \(Int(timeout)) s" }
    return CommandResult(
        status: exitCode,
        stdout: (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? "",
        stderr: stderr)
}

/// 127.0.0.1:`port` as a socket address.
func loopbackAddress(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return address
}

/// A free TCP port below 32768 (PostgreSQL cannot be told to pick its own).
func freeLowPort() -> Int {
    for _ in 0..<200 {
        let port = Int.random(in: 20_000..<32_000)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = loopbackAddress(port: port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if bound == 0 { return port }
    }
    fatalError("no free port")
}

/// A throwaway PostgreSQL 15 cluster, made with scripts/pg-cluster.sh (roles: app/app SCRAM
/// superuser, md5_user, plain_user, trust_user, bench; databases app and bench).
final class TestCluster: @unchecked Sendable {
    let directory: String
    let port: Int

    private static let script = repositoryRoot.appendingPathComponent("scripts/pg-cluster.sh").path

    /// One cluster shared by the tests that do not stop or break it.
    static let shared: TestCluster = {
        do {
            let cluster = try TestCluster()
            XCTestObservationCenter.shared.addTestObserver(ClusterRemover(cluster))
            return cluster
        } catch {
            fatalError("could not create the shared test cluster: \(error)")
        }
    }()

    init(maxConnections: Int = 300) throws {
        port = freeLowPort()
        directory = NSTemporaryDirectory() + "pgproxy-test-\(getpid())-\(port)"
        try Self.script(["create", directory, String(port), "--max-connections", String(maxConnections)])
    }

    /// A cluster that is not running yet and has no data (for "backend down" tests).
    init(unstartedOnPort port: Int) {
        self.port = port
        directory = NSTemporaryDirectory() + "pgproxy-test-\(getpid())-\(port)"
    }

    func create() throws { try Self.script(["create", directory, String(port)]) }
    func start() throws { try Self.script(["start", directory]) }
    func stop(_ mode: String = "fast") throws { try Self.script(["stop", directory, mode]) }
    func destroy() { _ = try? Self.script(["destroy", directory]) }

    private static func script(_ arguments: [String]) throws {
        let result = try runCommand("/bin/bash", [script] + arguments)
        if result.status != 0 {
            throw NSError(domain: "TestCluster", code: Int(result.status), userInfo: [NSLocalizedDescriptionKey: "pg-cluster.sh \(arguments.joined(separator: " ")): \(result.stderr)"])
        }
    }

    /// Runs SQL directly on the server (not through pgproxy) as the trust superuser.
    @discardableResult
    func psql(_ sql: String, database: String = "app") throws -> String {
        let result = try runCommand("/usr/bin/psql", ["-XAtq", "-v", "ON_ERROR_STOP=1", "host=127.0.0.1 port=\(port) user=postgres dbname=\(database)", "-c", sql])
        guard result.status == 0 else { throw NSError(domain: "psql", code: 1, userInfo: [NSLocalizedDescriptionKey: result.stderr]) }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Destroys the shared cluster when the test bundle finishes.
private final class ClusterRemover: NSObject, XCTestObservation {
    let cluster: TestCluster
    init(_ cluster: TestCluster) { self.cluster = cluster }
    func testBundleDidFinish(_ testBundle: Bundle) { cluster.destroy() }
}

/// Starts a program in the background with stdout and stderr appended to `output`; returns its pid.
func spawnBackground(_ executable: String, _ arguments: [String], output: String) throws -> pid_t {
    try spawn(executable, arguments, stdout: output, stderr: nil)
}

/// Starts a program with stdin from /dev/null and output appended to files (`stderr` nil: to
/// the stdout file); returns its pid without waiting.
private func spawn(_ executable: String, _ arguments: [String], stdout: String, stderr: String?, environment: [String: String] = [:]) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_APPEND, 0o600)
    if let stderr {
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_APPEND, 0o600)
    } else {
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
    }
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
        argv.forEach { free($0) }
        env.forEach { free($0) }
    }
    var pid: pid_t = 0
    let spawned = withCleanSignals { attributes in posix_spawn(&pid, executable, &actions, &attributes, argv, env) }
    guard spawned == 0 else { throw NSError(domain: "spawn", code: Int(spawned), userInfo: [NSLocalizedDescriptionKey: "cannot run \(executable)"]) }
    return pid
}

/// Spawn attributes that give the child no blocked and no ignored signals. Test threads block
/// some (dispatch's do), and a child inheriting that mask never sees SIGALRM (pgbench -T) or
/// SIGHUP/SIGTERM (pgproxy).
private func withCleanSignals(_ body: (inout posix_spawnattr_t) -> Int32) -> Int32 {
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var empty = sigset_t()
    sigemptyset(&empty)
    posix_spawnattr_setsigmask(&attributes, &empty)
    var all = sigset_t()
    sigfillset(&all)
    posix_spawnattr_setsigdefault(&attributes, &all)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    return body(&attributes)
}
