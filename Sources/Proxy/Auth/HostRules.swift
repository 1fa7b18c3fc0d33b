import Foundation
import NIOCore

/// The rules of an hba_file, in order; the first line that matches a connection decides.
///
/// The syntax is PostgreSQL's pg_hba.conf. Lines asking for something pgproxy cannot honour (role
/// groups, host names, external authentication such as peer) are refused when the file is read,
/// so that no rule quietly means less than it says.
struct HostRules: Sendable, Equatable {
    /// The first column: which connections a line applies to.
    enum ConnectionType: Sendable, Equatable {
        /// Connections on the Unix-domain socket (`unix_socket_dir`); such a line has no address.
        case local
        /// TCP connections, with or without TLS.
        case host
        case hostssl
        case hostnossl
    }

    /// How a client that a line matches must authenticate.
    enum Method: String, Sendable, Equatable {
        case trust
        case reject
        case md5
        case password
        case scramSHA256 = "scram-sha-256"
        case cert
    }

    /// One entry of the database or user column.
    enum Name: Sendable, Equatable {
        /// The unquoted keyword `all`.
        case all
        /// Database column only: the database whose name is the connecting user's.
        case sameuser
        /// A name as written; a quoted keyword such as `"all"` lands here too.
        case exact(String)
    }

    enum AddressFamily: Sendable, Equatable {
        case ipv4
        case ipv6
    }

    /// The address column: which client addresses a line applies to.
    enum AddressMatch: Sendable, Equatable {
        case all
        /// `network` holds 4 or 16 bytes with every bit past `prefixLength` cleared.
        case cidr(network: [UInt8], prefixLength: Int, family: AddressFamily)
    }

    /// `clientcert=` on a hostssl line: what the client's TLS certificate must prove.
    enum ClientCertificateCheck: Sendable, Equatable {
        /// Signed by a trusted CA.
        case verifyCA
        /// Signed by a trusted CA, and its common name is the user name.
        case verifyFull
    }

    /// One record of the file.
    struct Rule: Sendable, Equatable {
        /// 1-based line where the record starts; a record continued with `\` spans more.
        var line: Int
        var type: ConnectionType
        var databases: [Name]
        var users: [Name]
        var address: AddressMatch
        var method: Method
        /// Always `.verifyFull` for `cert`, as PostgreSQL does.
        var clientCertificate: ClientCertificateCheck? = nil
    }

    /// A line that could not be read, printed as `pg_hba.conf:12: reason`.
    struct ParseError: Error, Equatable, CustomStringConvertible {
        var file: String
        /// 1-based line where the offending record starts.
        var line: Int
        var reason: String

        var description: String { "\(file):\(line): \(reason)" }
    }

    var rules: [Rule]

    /// The first rule for this connection, or nil (no line matches = refused, as in PostgreSQL).
    ///
    /// A Unix-socket `address` matches only `local` lines; a nil one (unknown) only TCP lines
    /// whose address is `all`.
    func match(database: String, user: String, address: SocketAddress?, tls: Bool) -> Rule? {
        if case .unixDomainSocket = address {
            return rules.first { $0.type == .local && $0.matches(database: database, user: user) }
        }
        // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d; rules are written as IPv4.
        let client = address.flatMap { IPAddress($0) }?.unmappingIPv4
        return rules.first { $0.matches(database: database, user: user, client: client, tls: tls) }
    }
}

// Foundation prints `localizedDescription` of a plain Error as "The operation could not be
// completed", which hides the file and line from whoever logs the error that way.
extension HostRules.ParseError: LocalizedError {
    var errorDescription: String? { description }
}

extension HostRules.Rule {
    /// Whether this line covers a TCP connection.
    func matches(database: String, user: String, client: HostRules.IPAddress?, tls: Bool) -> Bool {
        switch type {
        case .local: return false
        case .host: break
        case .hostssl: guard tls else { return false }
        case .hostnossl: guard !tls else { return false }
        }
        return address.contains(client) && matches(database: database, user: user)
    }

    func matches(database: String, user: String) -> Bool {
        databases.contains { $0.matches(database, user: user) } && users.contains { $0.matches(user, user: user) }
    }
}

extension HostRules.Name {
    /// Whether `name` (a database or user name) is covered, for a connection made by `user`.
    func matches(_ name: String, user: String) -> Bool {
        // Bytes, not String ==: PostgreSQL compares with strcmp, and Unicode-equivalent spellings are
        // different roles there, so a rule for one must not match the other.
        switch self {
        case .all: return true
        case .sameuser: return name.utf8.elementsEqual(user.utf8)
        case .exact(let written): return name.utf8.elementsEqual(written.utf8)
        }
    }
}

extension HostRules.AddressMatch {
    func contains(_ client: HostRules.IPAddress?) -> Bool {
        switch self {
        case .all:
            return true
        case .cidr(let network, let prefixLength, let family):
            guard let client, client.family == family else { return false }
            return client.hasPrefix(network, length: prefixLength)
        }
    }
}

extension HostRules {
    /// An IPv4 or IPv6 address as its bytes in network order.
    struct IPAddress: Sendable, Equatable {
        var family: AddressFamily
        var bytes: [UInt8]

        init(family: AddressFamily, bytes: [UInt8]) {
            self.family = family
            self.bytes = bytes
        }

        init?(_ address: SocketAddress) {
            switch address {
            case .v4(let v4):
                self.init(family: .ipv4, bytes: withUnsafeBytes(of: v4.address.sin_addr) { Array($0) })
            case .v6(let v6):
                self.init(family: .ipv6, bytes: withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) })
            case .unixDomainSocket:
                return nil
            }
        }

        /// A numeric address (`10.0.0.1`, `::1`); nil for anything else, host names included.
        init?(parsing text: String) {
            // inet_pton underneath: numeric only, never a DNS lookup.
            guard let address = try? SocketAddress(ipAddress: text, port: 0) else { return nil }
            self.init(address)
        }

        var bitCount: Int { bytes.count * 8 }

        /// `a.b.c.d` for `::ffff:a.b.c.d`, the address itself otherwise.
        var unmappingIPv4: IPAddress {
            guard family == .ipv6,
                  bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF
            else { return self }
            return IPAddress(family: .ipv4, bytes: Array(bytes[12...]))
        }

        /// Whether the first `length` bits equal those of `network` (whose later bits are clear).
        func hasPrefix(_ network: [UInt8], length: Int) -> Bool {
            for index in bytes.indices {
                let bits = Self.bitsCovered(byte: index, prefixLength: length)
                if bits == 0 { return true }
                if bytes[index] & Self.highBits(bits) != network[index] { return false }
            }
            return true
        }

        /// The bytes with every bit past `prefixLength` cleared.
        func masked(to prefixLength: Int) -> [UInt8] {
            bytes.indices.map { bytes[$0] & Self.highBits(Self.bitsCovered(byte: $0, prefixLength: prefixLength)) }
        }

        /// For a netmask such as 255.255.240.0, its prefix length (20); nil if the ones are not contiguous.
        var contiguousPrefixLength: Int? {
            var length = 0
            var sawZero = false
            for byte in bytes {
                for shift in stride(from: 7, through: 0, by: -1) {
                    if (byte >> shift) & 1 == 1 {
                        if sawZero { return nil }
                        length += 1
                    } else {
                        sawZero = true
                    }
                }
            }
            return length
        }

        private static func bitsCovered(byte index: Int, prefixLength: Int) -> Int {
            min(max(prefixLength - index * 8, 0), 8)
        }

        // `<<` by 8 on a UInt8 gives 0 in Swift, which is the mask we want for "no bits".
        private static func highBits(_ count: Int) -> UInt8 {
            UInt8(0xFF) << (8 - count)
        }
    }
}
