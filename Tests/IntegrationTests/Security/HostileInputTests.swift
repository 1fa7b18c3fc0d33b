import Foundation
import Glibc
import XCTest

@testable import Proxy

/// Bytes no driver would send, straight at pgproxy: each gets a FATAL ErrorResponse with a clear
/// SQLSTATE and a close within seconds, and clients that behave carry on meanwhile.
final class HostileInputTests: IntegrationTestCase {
    /// One hostile first write and the SQLSTATEs an acceptable refusal may carry.
    private struct Attack {
        var name: String
        var bytes: [UInt8]
        var states: Set<String> = ["08P01"]
        /// What the server may answer before its ErrorResponse: the 'N' to an SSL or GSS request
        /// (PostgreSQL sends it, then refuses the bytes after; PgBouncer refuses straight away).
        var answered: [UInt8] = []
    }

    /// The one-byte answer to an SSL or GSS encryption request when pgproxy has no TLS.
    private static let noEncryption = UInt8(ascii: "N")
    private static let protocol3: UInt32 = 0x0003_0000

    private static let tooShort = [
        Attack(name: "length 0", bytes: Wire.int32(0)),
        Attack(name: "length 4", bytes: Wire.int32(4)),
        Attack(name: "length 7", bytes: Wire.int32(7) + [0, 3, 0]),
    ]

    /// Past PostgreSQL's (and pgproxy's) 10000-byte limit on a startup packet.
    private static let tooLong = [20_000, 10_001].map { length in
        Attack(name: "length \(length)", bytes: Wire.int32(UInt32(length)) + Wire.int32(protocol3) + Array("user\0".utf8) + Array(repeating: UInt8(ascii: "x"), count: 1_000))
    }

    private static let impossibleLengths = [UInt32(0xFFFF_FFFF), 0x8000_0000, 0x7FFF_FFFF].map { length in
        Attack(name: "length 0x\(String(length, radix: 16))", bytes: Wire.int32(length) + Wire.int32(protocol3))
    }

    /// PostgreSQL answers 0A000 (unsupported frontend protocol), pgproxy 08P01 today; either will
    /// do. (1234.5679 would be the SSLRequest code and 1234.5680 GSSENCRequest's: 1234.5681 is free.)
    private static let unknownVersions = [(2, 0), (4, 0), (1234, 5681), (0, 0)].map { major, minor in
        Attack(name: "protocol \(major).\(minor)", bytes: Wire.startup(code: UInt32(major << 16 | minor)), states: ["08P01", "0A000"])
    }

    /// The start of a TLS ClientHello, what a client that ignores the 'N' sends next.
    private static let tlsRecord: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03] + (0..<53).map { _ in UInt8.random(in: 0...255) }

    /// Bytes sent with the SSL or GSS request, before its answer, were never protected by
    /// encryption and may come from a man in the middle: PostgreSQL refuses them whatever it
    /// answers (CVE-2021-23214), even a well-formed StartupMessage.
    private static let bytesAfterEncryptionRequest = [
        Attack(name: "SSLRequest + TLS record", bytes: Wire.sslRequest + tlsRecord, answered: [noEncryption]),
        Attack(name: "SSLRequest + plaintext StartupMessage", bytes: Wire.sslRequest + Wire.startup(), answered: [noEncryption]),
        Attack(name: "GSSENCRequest + plaintext StartupMessage", bytes: Wire.gssEncRequest + Wire.startup(), answered: [noEncryption]),
    ]

    private static let startupAttacks = tooShort + tooLong + impossibleLengths + unknownVersions + bytesAfterEncryptionRequest

    private static let filler = [UInt8](repeating: UInt8(ascii: "x"), count: 4_000)

    // MARK: startup packets

    func testStartupPacketTooShort() async throws { try await refuseEach(Self.tooShort) }

    func testStartupPacketTooLong() async throws { try await refuseEach(Self.tooLong) }

    func testImpossibleStartupLengths() async throws { try await refuseEach(Self.impossibleLengths) }

    func testUnknownProtocolVersions() async throws { try await refuseEach(Self.unknownVersions) }

    func testBytesAfterSSLRequestAreRefused() async throws {
        try await withProxy { proxy in
            for attack in Self.bytesAfterEncryptionRequest { XCTAssertNil(try run(attack, on: proxy)) }
            // A client that waits for the answer, as it should, and then sends no StartupMessage.
            let connection = try RawConnection(port: proxy.port)
            connection.send(Wire.sslRequest)
            XCTAssertEqual(connection.receive(timeout: 5) { !$0.bytes.isEmpty }.bytes, [Self.noEncryption], "no TLS configured")
            connection.send(Self.tlsRecord)
            XCTAssertNil(Self.check(connection.receive(timeout: 5), refusedWith: ["08P01"], "TLS record after 'N'"))
        }
    }

    /// With TLS on: bytes that are no TLS after the 'S' end in a failed handshake and a close, and
    /// a handshake left halfway is closed by client_login_timeout like any unfinished login.
    func testBrokenAndStalledTLSHandshakes() async throws {
        let certs = TestCertificates.shared
        let tls = "[tls]\ncertificate = \"\(certs.certificate("server"))\"\nprivate_key = \"\(certs.key("server"))\""
        try await withProxy("client_login_timeout = \"1s\"", sections: tls) { proxy in
            let garbage = try RawConnection(port: proxy.port)
            garbage.send(Wire.sslRequest)
            XCTAssertEqual(garbage.receive(timeout: 5) { !$0.bytes.isEmpty }.bytes, [UInt8(ascii: "S")])
            garbage.send(Array("this is no TLS ClientHello, just words".utf8))
            XCTAssertTrue(garbage.receive(timeout: 5).closed, "closed after a failed handshake")

            let stalled = try RawConnection(port: proxy.port)
            stalled.send(Wire.sslRequest)
            XCTAssertEqual(stalled.receive(timeout: 5) { !$0.bytes.isEmpty }.bytes, [UInt8(ascii: "S")])
            stalled.send(Array(Self.tlsRecord.prefix(3)))
            let start = Date()
            XCTAssertTrue(stalled.receive(timeout: 5).closed, "a half handshake is closed by client_login_timeout")
            XCTAssertLessThan(Date().timeIntervalSince(start), 4.5)
        }
    }

    func testUnfinishedLoginIsClosedByClientLoginTimeout() async throws {
        try await withProxy("client_login_timeout = \"1s\"", sections: ProxyFixture.adminSection) { proxy in
            // Clients that finished logging in (a pooled one and the admin console) are not cut
            // off when their login deadline passes.
            let finished = try PQConnection(proxy.conninfo(user: "trust_user"))
            let admin = try proxy.admin()
            let start = Date()
            let cases: [(name: String, bytes: [UInt8], answered: [UInt8])] = [
                ("nothing sent", [], []),
                ("half a StartupMessage", Array(Wire.startup().prefix(10)), []),
                ("SSLRequest only", Wire.sslRequest, [Self.noEncryption]),
            ]
            let connections = try cases.map { item in
                let connection = try RawConnection(port: proxy.port)
                connection.send(item.bytes)
                return connection
            }
            for (connection, item) in zip(connections, cases) {
                XCTAssertNil(Self.check(connection.receive(timeout: 5), refusedWith: ["08P01"], after: item.answered, item.name))
                XCTAssertGreaterThan(Date().timeIntervalSince(start), 0.9, "\(item.name): closed before client_login_timeout")
            }
            try await Task.sleep(nanoseconds: 600_000_000)  // past the sweep that follows the deadline
            XCTAssertEqual(finished.exec("SELECT 1").firstValue, "1", finished.lastError)
            XCTAssertTrue(admin.exec("SHOW POOLS").ok, admin.lastError)
        }
    }

    // MARK: logged-in clients

    /// `max_packet_size`: a message whose length field says more is refused before any of it
    /// reaches a server (the pool's only server connection must still be fit for the next client).
    func testMessagesOverMaxPacketSizeAreRefused() async throws {
        try await withProxy("max_packet_size = 65536\ndefault_pool_size = 1") { proxy in
            let messages: [(name: String, bytes: [UInt8])] = [
                ("Query of 1 MB", Wire.message("Q", length: 1_000_000, Array("SELECT '".utf8) + Self.filler)),
                ("Parse of 100 kB", Wire.message("P", length: 100_000, [0] + Array("SELECT '".utf8) + Self.filler)),
                ("Query of 2 GB", Wire.message("Q", length: 0x7FFF_FFFF, Self.filler)),
                ("Query with length 3", Wire.message("Q", length: 3)),
                ("Query with length -1", Wire.message("Q", length: 0xFFFF_FFFF)),
            ]
            for (name, bytes) in messages {
                let connection = try RawConnection(port: proxy.port)
                try connection.logIn()
                connection.send(bytes)
                XCTAssertNil(Self.check(connection.receive(timeout: 5), refusedWith: ["08P01"], name))
            }
            let client = try PQConnection(proxy.conninfo(user: "trust_user"))
            let literal = String(repeating: "x", count: 59_950)
            let outcome = client.exec("SELECT length('\(literal)')")
            XCTAssertEqual(outcome.firstValue, "59950", "a 60 kB query is under the limit: \(outcome.message ?? "")")
        }
    }

    /// `client_idle_timeout`: a logged-in client silent that long, with no reply owed to it, is
    /// closed with 57P05, even in the middle of a message; one waiting for a slow query is not.
    func testIdleClientsAreClosedByClientIdleTimeout() async throws {
        try await withProxy("client_idle_timeout = \"1s\"") { proxy in
            let start = Date()
            let halfMessage = try RawConnection(port: proxy.port)
            try halfMessage.logIn()
            halfMessage.send([UInt8(ascii: "Q"), 0, 0])
            let silent = try RawConnection(port: proxy.port)
            try silent.logIn()
            let waiting = try PQConnection(proxy.conninfo(user: "trust_user"))
            let slow = waiting.exec("SELECT pg_sleep(1.5)")
            XCTAssertTrue(slow.ok, "a client waiting for its reply is not idle: \(slow.message ?? waiting.lastError)")
            for (name, connection) in [("3 bytes of a Query", halfMessage), ("nothing after login", silent)] {
                XCTAssertNil(Self.check(connection.receive(timeout: 5), refusedWith: ["57P05"], name))
                XCTAssertGreaterThan(Date().timeIntervalSince(start), 0.9, "\(name): closed before client_idle_timeout")
            }
        }
    }

    // MARK: floods and concurrency

    func testThousandsOfUnfinishedLogins() async throws {
        try await withProxy("client_login_timeout = \"3s\"") { proxy in
            // Each costs two descriptors in this process: the client socket and pgproxy's.
            let limit = FileDescriptorLimit.soft().map { Int($0) } ?? .max
            let count = min(2_000, (limit - 256) / 2)
            var loiterers: [RawConnection] = []
            for index in 0..<count {
                let connection = try RawConnection(port: proxy.port)
                if index.isMultiple(of: 2) { connection.send(Array(Wire.startup().prefix(9))) }
                loiterers.append(connection)
            }
            XCTAssertEqual(try proxy.psql("SELECT 1", user: "trust_user"), "1", "a normal client among \(count) unfinished logins")
            let closedEarly = RawConnection.waitUntilClosed(loiterers, timeout: 0)
            XCTAssertLessThan(closedEarly, count / 2, "psql ran while most unfinished logins were still open")
            let closed = closedEarly + RawConnection.waitUntilClosed(loiterers, timeout: 10)
            XCTAssertEqual(closed, count, "client_login_timeout closes every unfinished login")
        }
    }

    /// Every attack above, over and over, while pgbench runs through the same pgproxy (and, for
    /// the oversized message, the same pool): pgbench sees no failure at all.
    func testAttacksLeavePgbenchUndisturbed() async throws {
        try await withProxy("max_packet_size = 65536\nclient_login_timeout = \"2s\"") { proxy in
            let script = NSTemporaryDirectory() + "pgproxy-hostile-\(UUID().uuidString).sql"
            try "SELECT 1;\n".write(toFile: script, atomically: true, encoding: .utf8)
            defer {
                unlink(script)
                unlink(script + ".log")
            }
            let pgbench = try spawnBackground("/usr/bin/pgbench", [
                "-n", "-c", "4", "-j", "2", "-T", "5", "-f", script, "-h", "127.0.0.1", "-p", String(proxy.port), "-U", "bench", "bench",
            ], output: script + ".log")
            var status: Int32?
            defer {
                if status == nil {
                    kill(pgbench, SIGKILL)
                    _ = waitpid(pgbench, nil, 0)
                }
            }
            // Unfinished logins held through the run; client_login_timeout closes them midway.
            let loiterers = try (0..<200).map { index in
                let connection = try RawConnection(port: proxy.port)
                if index.isMultiple(of: 2) { connection.send(Array(Wire.startup().prefix(7))) }
                return connection
            }
            var problems: [String: String] = [:]
            var rounds = 0
            let deadline = Date().addingTimeInterval(60)
            while status == nil, Date() < deadline {
                for attack in Self.startupAttacks {
                    if let problem = try run(attack, on: proxy) { problems[attack.name] = problems[attack.name] ?? problem }
                }
                let intruder = try RawConnection(port: proxy.port)
                try intruder.logIn(user: "bench", database: "bench")
                intruder.send(Wire.message("Q", length: 1_000_000, Self.filler))
                if let problem = Self.check(intruder.receive(timeout: 5), refusedWith: ["08P01"], "Query of 1 MB in pgbench's pool") {
                    problems["oversized"] = problems["oversized"] ?? problem
                }
                rounds += 1
                status = exitStatus(pgbench)
            }
            XCTAssertTrue(problems.isEmpty, problems.values.sorted().joined(separator: "\n"))
            let log = (try? String(contentsOfFile: script + ".log", encoding: .utf8)) ?? ""
            XCTAssertEqual(status, 0, "pgbench (after \(rounds) rounds of attacks):\n\(log)")
            XCTAssertTrue(log.contains("number of failed transactions: 0 ("), log)
            let processed = log.split(separator: "\n").first { $0.hasPrefix("number of transactions actually processed: ") }
                .flatMap { Int($0.split(separator: " ").last ?? "") }
            XCTAssertGreaterThan(processed ?? 0, 0, log)
            XCTAssertEqual(RawConnection.waitUntilClosed(loiterers, timeout: 5), loiterers.count, "client_login_timeout closed the loiterers")
        }
    }

    // MARK: helpers

    /// pgproxy with client auth off (a raw connection logs in with a bare StartupMessage), torn
    /// down after `body`, which must leave it serving normal clients.
    private func withProxy(_ general: String = "", sections: String = "", _ body: (ProxyFixture) async throws -> Void) async throws {
        let proxy = try await ProxyFixture(backendPort: TestCluster.shared.port, general: "auth_type = \"trust\"\n" + general, sections: sections)
        do {
            try await body(proxy)
            XCTAssertEqual(try proxy.psql("SELECT 'still serving'", user: "trust_user"), "still serving")
        } catch {
            await proxy.stop()
            throw error
        }
        await proxy.stop()
    }

    private func refuseEach(_ attacks: [Attack]) async throws {
        try await withProxy { proxy in
            for attack in attacks { XCTAssertNil(try run(attack, on: proxy)) }
        }
    }

    /// Sends `attack` in one write on a new connection; nil when it was refused as it should be.
    private func run(_ attack: Attack, on proxy: ProxyFixture) throws -> String? {
        let connection = try RawConnection(port: proxy.port)
        connection.send(attack.bytes)
        return Self.check(connection.receive(timeout: 5), refusedWith: attack.states, after: attack.answered, attack.name)
    }

    /// nil when `reply` is a FATAL ErrorResponse with one of `states` (after `answered`, if that
    /// came first), then the server's close; else what went wrong.
    private static func check(_ reply: RawReply, refusedWith states: Set<String>, after answered: [UInt8] = [], _ what: String) -> String? {
        let skip = reply.bytes.starts(with: answered) ? answered.count : 0
        guard let error = reply.error(after: skip) else { return "\(what): no ErrorResponse first; \(reply)" }
        guard error.severity == "FATAL", states.contains(error.sqlState), !error.message.isEmpty else {
            return "\(what): got \(error), expected FATAL \(states.sorted().joined(separator: " or "))"
        }
        guard reply.closed else { return "\(what): \(error), but the connection stayed open; \(reply)" }
        return nil
    }

    /// The exit status of `pid` once it has ended (-1 when it cannot be known), nil while it runs.
    private func exitStatus(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        switch waitpid(pid, &status, WNOHANG) {
        case 0: return nil
        case pid: return (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        default: return errno == EINTR ? nil : -1
        }
    }
}

/// Building the protocol's messages byte by byte, lengths included, so they can lie.
enum Wire {
    static func int32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }

    /// An untyped startup-phase packet: its length (counting itself), `code`, then `body`.
    static func packet(code: UInt32, _ body: [UInt8] = []) -> [UInt8] { int32(UInt32(8 + body.count)) + int32(code) + body }

    static func startup(code: UInt32 = 0x0003_0000, user: String = "trust_user", database: String = "app") -> [UInt8] {
        packet(code: code, ["user", user, "database", database].flatMap { Array($0.utf8) + [0] } + [0])
    }

    static let sslRequest = packet(code: 80_877_103)
    static let gssEncRequest = packet(code: 80_877_104)

    /// A typed message whose length field says `length` (counting itself), whatever follows.
    static func message(_ id: Unicode.Scalar, length: UInt32, _ body: [UInt8] = []) -> [UInt8] { [UInt8(ascii: id)] + int32(length) + body }
}

/// What the server sent on a raw connection, and whether it closed it.
struct RawReply: CustomStringConvertible {
    var bytes: [UInt8]
    /// The server closed the connection (EOF or reset) before the timeout.
    var closed: Bool
    var seconds: Double

    /// The backend messages after the first `skip` bytes, up to the first incomplete one.
    func messages(after skip: Int = 0) -> [(id: UInt8, body: ArraySlice<UInt8>)] {
        var messages: [(id: UInt8, body: ArraySlice<UInt8>)] = []
        var at = min(skip, bytes.count)
        while bytes.count - at >= 5 {
            let length = bytes[(at + 1)..<(at + 5)].reduce(0) { $0 << 8 | Int($1) }
            guard length >= 4, at + 1 + length <= bytes.count else { break }
            messages.append((bytes[at], bytes[(at + 5)..<(at + 1 + length)]))
            at += 1 + length
        }
        return messages
    }

    /// The ErrorResponse the reply starts with (after `skip` bytes), if it does.
    func error(after skip: Int = 0) -> ReceivedError? {
        guard let first = messages(after: skip).first, first.id == UInt8(ascii: "E") else { return nil }
        return ReceivedError(first.body)
    }

    var description: String {
        let ids = String(decoding: messages().map(\.id), as: UTF8.self)
        let state = closed ? "closed" : "still open"
        return "\(bytes.count) bytes (messages \"\(ids)\", starting \(Array(bytes.prefix(8)))), \(state) after \(String(format: "%.1f", seconds)) s"
    }
}

/// The fields of an ErrorResponse that the tests look at.
struct ReceivedError: CustomStringConvertible {
    var severity = ""
    var sqlState = ""
    var message = ""

    init(_ body: ArraySlice<UInt8>) {
        var rest = body
        while let code = rest.first, code != 0, let end = rest.dropFirst().firstIndex(of: 0) {
            let value = String(decoding: rest[(rest.startIndex + 1)..<end], as: UTF8.self)
            switch code {
            case UInt8(ascii: "V"): severity = value
            case UInt8(ascii: "S") where severity.isEmpty: severity = value
            case UInt8(ascii: "C"): sqlState = value
            case UInt8(ascii: "M"): message = value
            default: break
            }
            rest = rest[(end + 1)...]
        }
    }

    var description: String { "\(severity) \(sqlState): \(message)" }
}

struct RawConnectionError: Error, CustomStringConvertible {
    var description: String
}

/// A blocking TCP connection to 127.0.0.1, for bytes no driver would send.
final class RawConnection {
    let fd: Int32
    /// The server's close was seen by `waitUntilClosed`.
    private var seenClosed = false

    init(port: Int) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawConnectionError(description: "socket: errno \(errno)") }
        var address = loopbackAddress(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let error = errno
            close(fd)
            throw RawConnectionError(description: "connect to port \(port): errno \(error)")
        }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Sends every byte; false when the server had already closed (no SIGPIPE).
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if sent < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += sent
        }
        return true
    }

    /// Reads until the server closes, `timeout` seconds pass, or `enough` says what came suffices.
    func receive(timeout: Double, until enough: (RawReply) -> Bool = { _ in false }) -> RawReply {
        let start = Date()
        var reply = RawReply(bytes: [], closed: false, seconds: 0)
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while !enough(reply) {
            let left = timeout - Date().timeIntervalSince(start)
            guard left > 0 else { break }
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&entry, 1, Int32(left * 1000) + 1)
            if ready < 0, errno == EINTR { continue }
            guard ready > 0 else { break }
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                reply.bytes += chunk[..<count]
            } else if count == 0 || errno != EINTR {
                reply.closed = true
                break
            }
        }
        reply.seconds = Date().timeIntervalSince(start)
        return reply
    }

    /// Logs in with a bare StartupMessage (pgproxy with auth_type trust); reads up to ReadyForQuery.
    func logIn(user: String = "trust_user", database: String = "app") throws {
        send(Wire.startup(user: user, database: database))
        let ready = UInt8(ascii: "Z")
        let reply = receive(timeout: 10) { $0.messages().last?.id == ready }
        guard reply.messages().last?.id == ready else {
            throw RawConnectionError(description: "login as \(user) to \(database): \(reply.error().map(String.init(describing:)) ?? reply.description)")
        }
    }

    /// Waits until the server has closed each of `connections` or `timeout` passes (0: only
    /// looks), reading and dropping what they are sent; returns how many closed in that time.
    /// A connection is counted once over repeated calls.
    static func waitUntilClosed(_ connections: [RawConnection], timeout: Double) -> Int {
        var pending = connections.filter { !$0.seenClosed }
        let deadline = Date().addingTimeInterval(timeout)
        var closed = 0
        while !pending.isEmpty {
            var entries = pending.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&entries, nfds_t(entries.count), Int32(max(0, deadline.timeIntervalSinceNow) * 1000))
            if ready < 0, errno != EINTR { break }
            for (connection, entry) in zip(pending, entries) where entry.revents != 0 && connection.drainIsClosed() {
                connection.seenClosed = true
                closed += 1
            }
            pending.removeAll { $0.seenClosed }
            if deadline.timeIntervalSinceNow <= 0 { break }
        }
        return closed
    }

    /// Reads whatever has arrived without waiting; true once the server has closed.
    private func drainIsClosed() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4_096)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count > 0 { continue }
            return count == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        }
    }
}
