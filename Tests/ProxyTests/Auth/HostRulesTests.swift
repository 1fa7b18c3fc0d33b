import Foundation
import NIOCore
import XCTest

@testable import Proxy

final class HostRulesTests: XCTestCase {
    private let realistic = """
        # TYPE     DATABASE         USER            ADDRESS                 METHOD
        # Operators from the bastion, with a client certificate.
        hostssl    all              admin           10.20.0.5/32            scram-sha-256 clientcert=verify-full

        hostnossl  all              all             0.0.0.0/0               reject   # no cleartext from anywhere
        host       app,reporting    "App User",etl  10.0.0.0/8              md5
        host       "all"            all             127.0.0.1 255.255.255.255  trust
        host       sameuser         all             192.168.1.0   255.255.255.0  password
        host       app, \\
                   billing          all             ::1/128                 scram-sha-256
        hostssl    all              all             fd00::/8                cert
        \thost\tall\tall\tall\tscram-sha-256
        """

    private func parse(_ text: String) throws -> HostRules {
        try HostRules.parse(text, file: "pg_hba.conf")
    }

    private func address(_ ip: String) throws -> SocketAddress {
        try SocketAddress(ipAddress: ip, port: 5000)
    }

    private func assertRefused(_ text: String, atLine expectedLine: Int, _ fragment: String,
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try parse(text), file: file, line: line) { error in
            guard let error = error as? HostRules.ParseError else {
                return XCTFail("expected HostRules.ParseError, got \(error)", file: file, line: line)
            }
            XCTAssertEqual(error.file, "pg_hba.conf", file: file, line: line)
            XCTAssertEqual(error.line, expectedLine, file: file, line: line)
            XCTAssertTrue(error.description.hasPrefix("pg_hba.conf:\(expectedLine): "), error.description, file: file, line: line)
            XCTAssertTrue(error.description.contains(fragment), "\(error.description) lacks \(fragment)", file: file, line: line)
        }
    }

    // MARK: Parsing

    func testParsesRealisticFile() throws {
        let rules = try parse(realistic).rules
        XCTAssertEqual(rules.map(\.line), [3, 5, 6, 7, 8, 9, 11, 12])
        XCTAssertEqual(rules[0], HostRules.Rule(
            line: 3, type: .hostssl, databases: [.all], users: [.exact("admin")],
            address: .cidr(network: [10, 20, 0, 5], prefixLength: 32, family: .ipv4),
            method: .scramSHA256, clientCertificate: .verifyFull))
        XCTAssertEqual(rules[1], HostRules.Rule(
            line: 5, type: .hostnossl, databases: [.all], users: [.all],
            address: .cidr(network: [0, 0, 0, 0], prefixLength: 0, family: .ipv4), method: .reject))
        XCTAssertEqual(rules[2].databases, [.exact("app"), .exact("reporting")])
        XCTAssertEqual(rules[2].users, [.exact("App User"), .exact("etl")])
        XCTAssertEqual(rules[2].address, .cidr(network: [10, 0, 0, 0], prefixLength: 8, family: .ipv4))
        XCTAssertEqual(rules[2].method, .md5)
        XCTAssertNil(rules[2].clientCertificate)
        XCTAssertEqual(rules[3].databases, [.exact("all")])
        XCTAssertEqual(rules[3].address, .cidr(network: [127, 0, 0, 1], prefixLength: 32, family: .ipv4))
        XCTAssertEqual(rules[3].method, .trust)
        XCTAssertEqual(rules[4].databases, [.sameuser])
        XCTAssertEqual(rules[4].address, .cidr(network: [192, 168, 1, 0], prefixLength: 24, family: .ipv4))
        XCTAssertEqual(rules[4].method, .password)
        XCTAssertEqual(rules[5].databases, [.exact("app"), .exact("billing")])
        XCTAssertEqual(rules[5].address, .cidr(network: [UInt8](repeating: 0, count: 15) + [1], prefixLength: 128, family: .ipv6))
        XCTAssertEqual(rules[6].address, .cidr(network: [0xFD] + [UInt8](repeating: 0, count: 15), prefixLength: 8, family: .ipv6))
        XCTAssertEqual(rules[6].method, .cert)
        XCTAssertEqual(rules[6].clientCertificate, .verifyFull, "cert always checks the full certificate")
        XCTAssertEqual(rules[7], HostRules.Rule(line: 12, type: .host, databases: [.all], users: [.all], address: .all, method: .scramSHA256))
    }

    func testEmptyAndCommentOnlyFilesHaveNoRules() throws {
        XCTAssertEqual(try parse("").rules, [])
        XCTAssertEqual(try parse("\n  # nothing here\n\t\n").rules, [])
    }

    func testHostBitsOfANetworkAreCleared() throws {
        let rules = try parse("host all all 10.1.2.3/8 trust\nhost all all 10.1.2.3 255.255.240.0 trust").rules
        XCTAssertEqual(rules[0].address, .cidr(network: [10, 0, 0, 0], prefixLength: 8, family: .ipv4))
        XCTAssertEqual(rules[1].address, .cidr(network: [10, 1, 0, 0], prefixLength: 20, family: .ipv4))
    }

    func testQuotesKeepKeywordsAsNamesAndAllowEmbeddedQuotes() throws {
        let rule = try XCTUnwrap(parse(#"host "sameuser","a,b" "+ops","say ""hi""" all trust"#).rules.first)
        XCTAssertEqual(rule.databases, [.exact("sameuser"), .exact("a,b")])
        XCTAssertEqual(rule.users, [.exact("+ops"), .exact(#"say "hi""#)])
    }

    func testCommentEndsTheLineOutsideQuotesOnly() throws {
        let rule = try XCTUnwrap(parse(#"host "db#1" all all trust#comment"#).rules.first)
        XCTAssertEqual(rule.databases, [.exact("db#1")])
        XCTAssertEqual(rule.method, .trust)
    }

    func testWindowsLineEndingsAndContinuation() throws {
        let rules = try parse("# head\r\nhost all all \\\r\n  all md5\r\nhost all all all trust\r\n").rules
        XCTAssertEqual(rules.map(\.line), [2, 4])
        XCTAssertEqual(rules.map(\.method), [.md5, .trust])
    }

    func testBackslashOnTheLastLineKeepsTheRecord() throws {
        let rules = try parse("host all all all trust\nhost all all all md5 \\").rules
        XCTAssertEqual(rules.map(\.line), [1, 2])
        XCTAssertEqual(rules.last?.method, .md5)
    }

    func testClientCertificateOption() throws {
        let rules = try parse("""
            hostssl all all all md5 clientcert=verify-ca
            hostssl all all all trust clientcert=verify-full
            hostssl all all all cert clientcert=verify-full
            """).rules
        XCTAssertEqual(rules.map(\.clientCertificate), [.verifyCA, .verifyFull, .verifyFull])
    }

    // MARK: Refusals

    func testRefusesWhatPgproxyCannotHonour() {
        // Two harmless lines first, so each refusal must report line 3.
        let prefix = "# pgproxy rules\nhost all all all trust\n"
        let cases: [(String, String)] = [
            ("local all all peer", "not supported"),
            ("hostgssenc all all all trust", "not supported by pgproxy"),
            ("hosts all all all trust", "invalid connection type \"hosts\""),
            ("host replication all all trust", "does not proxy replication"),
            ("host samerole all all trust", "no role membership"),
            ("host all +admins all trust", "group \"+admins\" is not supported"),
            ("host @dbs.txt all all trust", "file inclusion \"@dbs.txt\" is not supported"),
            ("host all @users.txt all trust", "file inclusion \"@users.txt\" is not supported"),
            ("host all /^guest all reject", "regular expression \"/^guest\" is not supported"),
            ("host /^app all all trust", "regular expression"),
            ("host all all samehost trust", "address keyword \"samehost\" is not supported"),
            ("host all all samenet trust", "address keyword \"samenet\" is not supported"),
            ("host all all db.example.com trust", "host name \"db.example.com\" is not supported"),
            ("host all all .example.com/24 trust", "host name"),
            ("host all all 10.0.0.256/8 trust", "invalid IP address \"10.0.0.256/8\""),
            ("host all all 10.0.0.0/33 trust", "invalid CIDR mask in address \"10.0.0.0/33\""),
            ("host all all 10.0.0.0/ trust", "invalid CIDR mask"),
            ("host all all ::1/129 trust", "invalid CIDR mask"),
            ("host all all 10.0.0.1 trust", "invalid IP mask \"trust\""),
            ("host all all 10.0.0.1", "needs a netmask"),
            ("host all all 10.0.0.0 255.0.255.0 trust", "not contiguous"),
            ("host all all 10.0.0.0 ffff:: trust", "not of the same family"),
            ("host all all all ldap", "authentication method ldap is not supported by pgproxy"),
            ("host all all all peer", "authentication method peer is not supported by pgproxy"),
            ("host all all all ident", "authentication method ident is not supported by pgproxy"),
            ("host all all all scram", "invalid authentication method \"scram\""),
            ("host all all all cert", "cert authentication is only supported on hostssl lines"),
            ("host all all all md5 clientcert=verify-full", "clientcert can only be configured on hostssl lines"),
            ("hostssl all all all cert clientcert=verify-ca", "only accepts verify-full"),
            ("hostssl all all all md5 clientcert=1", "invalid value for clientcert"),
            ("host all all all md5 map=office", "authentication option \"map\" is not supported by pgproxy"),
            ("host all all all md5 clientcert", "not in name=value format"),
            ("host all all", "line ends before the address column"),
            ("host all", "line ends before the user column"),
            ("host", "line ends before the database column"),
            ("host all all all", "line ends before the authentication method column"),
            ("host all,,app all all trust", "empty entry"),
            ("host \"\" all all trust", "empty database name"),
            ("host \"app all all trust", "unterminated quoted string"),
            ("host,hostssl all all all trust", "multiple values in the connection type column"),
            ("host all all all md5,trust", "multiple values in the authentication method column"),
        ]
        for (line, fragment) in cases {
            assertRefused(prefix + line + "\nhost all all all md5\n", atLine: 3, fragment)
        }
    }

    func testContinuedRecordIsReportedAtItsFirstLine() {
        assertRefused("host all all all trust\nhost all \\\n  all \\\n  all ldap\n", atLine: 2, "ldap")
    }

    func testErrorPrintsFileLineAndReason() {
        let error = HostRules.ParseError(file: "/etc/pgproxy/hba.conf", line: 7, reason: "invalid connection type \"x\"")
        XCTAssertEqual(error.description, "/etc/pgproxy/hba.conf:7: invalid connection type \"x\"")
        XCTAssertEqual(error.localizedDescription, error.description)
    }

    // MARK: Matching

    func testFirstMatchingLineWins() throws {
        let rules = try parse(realistic)
        // admin over TLS from the bastion: line 3, though line 12 would match too.
        let bastion = try rules.match(database: "app", user: "admin", address: address("10.20.0.5"), tls: true)
        XCTAssertEqual(bastion?.line, 3)
        XCTAssertEqual(bastion?.method, .scramSHA256)
        // Same client without TLS: the hostnossl reject on line 5 comes before anything else.
        let cleartext = try rules.match(database: "app", user: "admin", address: address("10.20.0.5"), tls: false)
        XCTAssertEqual(cleartext?.line, 5)
        XCTAssertEqual(cleartext?.method, .reject)
        // Listed user and database: line 6.
        let etl = try rules.match(database: "reporting", user: "etl", address: address("10.1.2.3"), tls: true)
        XCTAssertEqual(etl?.line, 6)
        XCTAssertEqual(etl?.method, .md5)
        // Quoted name with a space.
        XCTAssertEqual(try rules.match(database: "app", user: "App User", address: address("10.1.2.3"), tls: true)?.line, 6)
        // Database not in the list: falls through to the catch-all on line 12.
        let other = try rules.match(database: "billing", user: "etl", address: address("10.1.2.3"), tls: true)
        XCTAssertEqual(other?.line, 12)
        XCTAssertEqual(other?.method, .scramSHA256)
    }

    func testQuotedAllMatchesOnlyADatabaseNamedAll() throws {
        let rules = try parse(#"host "all" all 127.0.0.1/32 trust"#)
        XCTAssertEqual(try rules.match(database: "all", user: "bob", address: address("127.0.0.1"), tls: false)?.line, 1)
        XCTAssertNil(try rules.match(database: "app", user: "bob", address: address("127.0.0.1"), tls: false))
    }

    func testSameuser() throws {
        let rules = try parse("host sameuser all 192.168.1.0/24 password")
        let own = try rules.match(database: "alice", user: "alice", address: address("192.168.1.9"), tls: false)
        XCTAssertEqual(own?.line, 1)
        XCTAssertEqual(own?.method, .password)
        XCTAssertNil(try rules.match(database: "bob", user: "alice", address: address("192.168.1.9"), tls: false))
    }

    func testHostsslAndHostnossl() throws {
        let rules = try parse("""
            hostssl all all all scram-sha-256
            hostnossl all all all md5
            """)
        let secure = rules.match(database: "app", user: "bob", address: nil, tls: true)
        XCTAssertEqual(secure?.line, 1)
        XCTAssertEqual(secure?.method, .scramSHA256)
        let plain = rules.match(database: "app", user: "bob", address: nil, tls: false)
        XCTAssertEqual(plain?.line, 2)
        XCTAssertEqual(plain?.method, .md5)

        let either = try parse("host all all all trust")
        XCTAssertEqual(either.match(database: "app", user: "bob", address: nil, tls: true)?.line, 1)
        XCTAssertEqual(either.match(database: "app", user: "bob", address: nil, tls: false)?.line, 1)
    }

    func testCIDRBoundaries() throws {
        let rules = try parse("host all all 10.0.0.0/12 trust")
        XCTAssertEqual(try rules.match(database: "d", user: "u", address: address("10.15.255.255"), tls: false)?.line, 1)
        XCTAssertNil(try rules.match(database: "d", user: "u", address: address("10.16.0.0"), tls: false))
        XCTAssertNil(try rules.match(database: "d", user: "u", address: address("11.0.0.1"), tls: false))
    }

    func testIPv4MappedIPv6ClientMatchesIPv4Rules() throws {
        let rules = try parse("""
            host all all 10.0.0.0/8 md5
            host all all ::1/128 trust
            """)
        let mapped = try rules.match(database: "app", user: "bob", address: address("::ffff:10.1.2.3"), tls: false)
        XCTAssertEqual(mapped?.line, 1)
        XCTAssertEqual(mapped?.method, .md5)
        XCTAssertNil(try rules.match(database: "app", user: "bob", address: address("::ffff:11.1.2.3"), tls: false))
        XCTAssertEqual(try rules.match(database: "app", user: "bob", address: address("::1"), tls: false)?.line, 2)
    }

    func testFamiliesDoNotCrossOtherwise() throws {
        let rules = try parse("""
            host all all ::/0 trust
            host all all 0.0.0.0 0.0.0.0 md5
            """)
        XCTAssertEqual(try rules.match(database: "d", user: "u", address: address("10.1.2.3"), tls: false)?.line, 2)
        XCTAssertEqual(try rules.match(database: "d", user: "u", address: address("2001:db8::1"), tls: false)?.line, 1)
    }

    func testUnknownAddressMatchesOnlyAll() throws {
        let rules = try parse("""
            host all all 0.0.0.0/0 reject
            host all all ::/0 reject
            host all all all trust
            """)
        XCTAssertEqual(rules.match(database: "d", user: "u", address: nil, tls: false)?.line, 3)
    }

    /// `local` lines (no address column) cover the Unix-domain socket and nothing else; `host`
    /// lines, even `all`, never cover it.
    func testLocalLinesCoverOnlyUnixSocketClients() throws {
        let rules = try parse("""
            host  all all all            reject
            local app all                md5
            local all all                scram-sha-256
            host  all all 127.0.0.1/32   trust
            """)
        XCTAssertEqual(rules.rules[1].type, .local)
        XCTAssertEqual(rules.rules[1].address, .all)
        let socket = try SocketAddress(unixDomainSocketPath: "/tmp/.s.PGSQL.6432")
        XCTAssertEqual(rules.match(database: "app", user: "u", address: socket, tls: false)?.line, 2)
        XCTAssertEqual(rules.match(database: "other", user: "u", address: socket, tls: false)?.line, 3)
        XCTAssertEqual(try rules.match(database: "app", user: "u", address: address("127.0.0.1"), tls: false)?.line, 1)
        let hostOnly = try parse("host all all all trust")
        XCTAssertNil(hostOnly.match(database: "app", user: "u", address: socket, tls: false))
        // A local line has no address column: a fifth field is the method's option, not a method.
        assertRefused("local all all 127.0.0.1/32 trust", atLine: 1, "authentication method")
    }

    func testNoMatchingLineReturnsNil() throws {
        let rules = try parse("host app alice 10.0.0.0/8 md5")
        XCTAssertNil(try rules.match(database: "app", user: "bob", address: address("10.1.2.3"), tls: false))
        XCTAssertNil(try rules.match(database: "other", user: "alice", address: address("10.1.2.3"), tls: false))
        XCTAssertNil(try rules.match(database: "app", user: "alice", address: address("192.168.0.1"), tls: false))
        XCTAssertNil(rules.match(database: "app", user: "alice", address: nil, tls: false))
        XCTAssertNil(try parse("# empty").match(database: "app", user: "alice", address: nil, tls: false))
    }

    func testNamesCompareByteForByteLikePostgreSQL() throws {
        // "é" precomposed in the file, decomposed by the client: different roles to PostgreSQL.
        let rules = try parse("host all jos\u{E9} all trust")
        XCTAssertEqual(rules.match(database: "d", user: "jos\u{E9}", address: nil, tls: false)?.line, 1)
        XCTAssertNil(rules.match(database: "d", user: "jose\u{301}", address: nil, tls: false))
        XCTAssertNil(rules.match(database: "d", user: "Jos\u{E9}", address: nil, tls: false))
    }
}
