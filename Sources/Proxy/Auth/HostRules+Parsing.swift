extension HostRules {
    /// Reads pg_hba.conf text; the first record pgproxy cannot honour stops the load.
    ///
    /// `file` is only used in error messages.
    static func parse(_ text: String, file: String) throws -> HostRules {
        var rules: [Rule] = []
        for record in records(Array(text.utf8)) {
            do {
                var reader = try columns(of: record.bytes)
                if reader.isEmpty { continue }
                rules.append(try rule(from: &reader, line: record.line))
            } catch let refusal as Refusal {
                throw ParseError(file: file, line: record.line, reason: refusal.reason)
            }
        }
        return HostRules(rules: rules)
    }

    fileprivate static let expectedLayout = "expected: local DATABASE USER METHOD [OPTIONS] or host|hostssl|hostnossl DATABASE USER ADDRESS METHOD [OPTIONS]"
    private static let supportedMethods = "use trust, reject, md5, password, scram-sha-256 or cert"
    private static let noRoleMembership = "pgproxy has no role membership information; list the user names instead"

    private static func rule(from fields: inout FieldReader, line: Int) throws -> Rule {
        let type = try connectionType(try fields.single("connection type"))
        let databases = try fields.next("database").map(databaseName)
        let users = try fields.next("user").map(userName)
        let address = type == .local ? .all : try addressMatch(&fields)
        let method = try authenticationMethod(try fields.single("authentication method"))
        var clientCertificate: ClientCertificateCheck?
        if method == .cert {
            guard type == .hostssl else { throw Refusal("cert authentication is only supported on hostssl lines") }
            clientCertificate = .verifyFull
        }
        for option in fields.remaining.joined() {
            clientCertificate = try clientCertificateOption(option.text, type: type, method: method)
        }
        return Rule(line: line, type: type, databases: databases, users: users, address: address,
                    method: method, clientCertificate: clientCertificate)
    }

    private static func connectionType(_ token: Token) throws -> ConnectionType {
        switch token.text {
        case "host": return .host
        case "hostssl": return .hostssl
        case "hostnossl": return .hostnossl
        case "local": return .local
        case "hostgssenc", "hostnogssenc":
            throw Refusal("connection type \"\(token.text)\" is not supported by pgproxy (no GSSAPI encryption): use host, hostssl or hostnossl")
        default:
            throw Refusal("invalid connection type \"\(token.text)\" (\(expectedLayout))")
        }
    }

    // Keywords count only unquoted, as in PostgreSQL: `"all"` names a database called all.
    private static func databaseName(_ token: Token) throws -> Name {
        if !token.quoted {
            switch token.text {
            case "all": return .all
            case "sameuser": return .sameuser
            case "samerole", "samegroup":
                throw Refusal("database keyword \"\(token.text)\" is not supported: \(noRoleMembership)")
            case "replication":
                throw Refusal("database keyword \"replication\" is not supported: pgproxy does not proxy replication connections")
            default: try refuseInclusion(token)
            }
        }
        return .exact(try nonEmpty(token, "database"))
    }

    private static func userName(_ token: Token) throws -> Name {
        if !token.quoted {
            if token.text == "all" { return .all }
            if token.text.hasPrefix("+"), token.text.count > 1 {
                throw Refusal("group \"\(token.text)\" is not supported: \(noRoleMembership)")
            }
            try refuseInclusion(token)
        }
        return .exact(try nonEmpty(token, "user"))
    }

    private static func refuseInclusion(_ token: Token) throws {
        if token.text.hasPrefix("@"), token.text.count > 1 {
            throw Refusal("file inclusion \"\(token.text)\" is not supported by pgproxy: list the names on the line")
        }
        // PostgreSQL 16 reads these as regular expressions; taken as a name it would never match.
        if token.text.hasPrefix("/") {
            throw Refusal("regular expression \"\(token.text)\" is not supported by pgproxy: list the names on the line (or quote a name that starts with /)")
        }
    }

    private static func nonEmpty(_ token: Token, _ column: String) throws -> String {
        guard !token.text.isEmpty else { throw Refusal("empty \(column) name") }
        return token.text
    }

    private static func addressMatch(_ fields: inout FieldReader) throws -> AddressMatch {
        let token = try fields.single("address")
        let text = token.text
        if !token.quoted {
            switch text {
            case "all": return .all
            case "samehost", "samenet":
                throw Refusal("address keyword \"\(text)\" is not supported by pgproxy: write the addresses as CIDR ranges (e.g. 10.0.0.0/8)")
            default: break
            }
        }
        if let slash = text.firstIndex(of: "/") {
            let address = try ipAddress(String(text[..<slash]), column: text)
            let bits = text[text.index(after: slash)...]
            guard !bits.isEmpty, bits.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
                  let prefixLength = Int(bits), prefixLength <= address.bitCount
            else { throw Refusal("invalid CIDR mask in address \"\(text)\"") }
            return .cidr(network: address.masked(to: prefixLength), prefixLength: prefixLength, family: address.family)
        }
        let address = try ipAddress(text, column: text)
        // Without a /prefix the next column is the netmask, as PostgreSQL reads it.
        guard fields.hasNext else {
            throw Refusal("address \"\(text)\" needs a netmask in the next column (e.g. 255.255.255.255) or a prefix (\(text)/\(address.bitCount))")
        }
        let maskText = try fields.single("netmask").text
        guard let mask = IPAddress(parsing: maskText) else { throw Refusal("invalid IP mask \"\(maskText)\"") }
        guard mask.family == address.family else {
            throw Refusal("IP address \"\(text)\" and mask \"\(maskText)\" are not of the same family")
        }
        guard let prefixLength = mask.contiguousPrefixLength else {
            throw Refusal("netmask \"\(maskText)\" is not contiguous: pgproxy only accepts masks that a CIDR prefix can express")
        }
        return .cidr(network: address.masked(to: prefixLength), prefixLength: prefixLength, family: address.family)
    }

    private static func ipAddress(_ text: String, column: String) throws -> IPAddress {
        if let address = IPAddress(parsing: text) { return address }
        // PostgreSQL would look anything else up as a host name; say which mistake this is.
        let numeric = text.utf8.allSatisfy { $0 == UInt8(ascii: ".") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
        if numeric || text.contains(":") { throw Refusal("invalid IP address \"\(column)\"") }
        throw Refusal("host name \"\(column)\" is not supported by pgproxy: write an IP address or CIDR range (e.g. 10.0.0.0/8)")
    }

    private static func authenticationMethod(_ token: Token) throws -> Method {
        if let method = Method(rawValue: token.text) { return method }
        switch token.text {
        case "ident", "peer", "ldap", "radius", "pam", "gss", "sspi", "bsd":
            throw Refusal("authentication method \(token.text) is not supported by pgproxy: \(supportedMethods)")
        default:
            throw Refusal("invalid authentication method \"\(token.text)\": \(supportedMethods)")
        }
    }

    /// The check a `clientcert=` option asks for; throws for any other option.
    private static func clientCertificateOption(_ option: String, type: ConnectionType, method: Method) throws -> ClientCertificateCheck {
        guard let equals = option.firstIndex(of: "=") else {
            throw Refusal("authentication option not in name=value format: \(option)")
        }
        let name = option[..<equals]
        let value = option[option.index(after: equals)...]
        guard name == "clientcert" else {
            throw Refusal("authentication option \"\(name)\" is not supported by pgproxy; only clientcert is")
        }
        guard type == .hostssl else { throw Refusal("clientcert can only be configured on hostssl lines") }
        switch value {
        case "verify-full":
            return .verifyFull
        case "verify-ca":
            guard method != .cert else { throw Refusal("clientcert only accepts verify-full when using cert authentication") }
            return .verifyCA
        default:
            throw Refusal("invalid value for clientcert: \"\(value)\": use verify-ca or verify-full")
        }
    }
}

// MARK: Tokens

extension HostRules {
    /// Why one record was refused; `parse` adds the file and line.
    fileprivate struct Refusal: Error {
        var reason: String
        init(_ reason: String) { self.reason = reason }
    }

    fileprivate struct Token {
        var text: String
        /// Any part was in double quotes, which turns a keyword into a plain name.
        var quoted: Bool
    }

    /// The columns of one record; a column is a comma-separated list of tokens.
    fileprivate struct FieldReader {
        var fields: [[Token]]
        var index = 0

        var isEmpty: Bool { fields.isEmpty }
        var hasNext: Bool { index < fields.count }
        var remaining: ArraySlice<[Token]> { fields[index...] }

        mutating func next(_ column: String) throws -> [Token] {
            guard hasNext else { throw Refusal("line ends before the \(column) column (\(HostRules.expectedLayout))") }
            defer { index += 1 }
            return fields[index]
        }

        mutating func single(_ column: String) throws -> Token {
            let field = try next(column)
            guard field.count == 1 else { throw Refusal("multiple values in the \(column) column") }
            return field[0]
        }
    }

    /// Physical lines joined where one ends in a backslash, each with the line number it starts on.
    fileprivate static func records(_ text: [UInt8]) -> [(line: Int, bytes: [UInt8])] {
        var joined: [(line: Int, bytes: [UInt8])] = []
        var current: [UInt8] = []
        var start = 1
        var continuing = false
        for (offset, physical) in text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            if !continuing {
                start = offset + 1
                current = []
            }
            var chunk = physical
            if chunk.last == UInt8(ascii: "\r") { chunk = chunk.dropLast() }
            continuing = chunk.last == UInt8(ascii: "\\")
            current += continuing ? chunk.dropLast() : chunk
            if !continuing { joined.append((start, current)) }
        }
        if continuing { joined.append((start, current)) }
        return joined
    }

    /// Splits one record into columns, dropping a `#` comment.
    fileprivate static func columns(of line: [UInt8]) throws -> FieldReader {
        var fields: [[Token]] = []
        var index = 0
        func skipBlanks() {
            while index < line.count, isBlank(line[index]) { index += 1 }
        }
        func atEnd() -> Bool {
            index == line.count || line[index] == UInt8(ascii: "#")
        }
        while true {
            skipBlanks()
            if atEnd() { break }
            var field: [Token] = []
            var moreInList = true
            while moreInList {
                let (token, comma) = try readToken(line, &index)
                field.append(token)
                // A list may go on after blanks (`app, reporting`), as in PostgreSQL.
                skipBlanks()
                moreInList = comma && !atEnd()
            }
            fields.append(field)
        }
        return FieldReader(fields: fields)
    }

    /// One token from `index`, which sits on a non-blank byte; reports whether a comma ended it.
    private static func readToken(_ line: [UInt8], _ index: inout Int) throws -> (Token, comma: Bool) {
        let quote = UInt8(ascii: "\"")
        var bytes: [UInt8] = []
        var inQuotes = false
        var quoted = false
        var comma = false
        while index < line.count {
            let byte = line[index]
            if inQuotes {
                if byte == quote {
                    // `""` inside quotes is a literal quote.
                    if index + 1 < line.count, line[index + 1] == quote {
                        bytes.append(quote)
                        index += 2
                        continue
                    }
                    inQuotes = false
                } else {
                    bytes.append(byte)
                }
            } else if isBlank(byte) || byte == UInt8(ascii: "#") {
                break
            } else if byte == UInt8(ascii: ",") {
                index += 1
                comma = true
                break
            } else if byte == quote {
                inQuotes = true
                quoted = true
            } else {
                bytes.append(byte)
            }
            index += 1
        }
        if inQuotes { throw Refusal("unterminated quoted string") }
        if bytes.isEmpty, !quoted { throw Refusal("empty entry in a comma-separated list") }
        return (Token(text: String(decoding: bytes, as: UTF8.self), quoted: quoted), comma)
    }

    private static func isBlank(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r")
    }
}
