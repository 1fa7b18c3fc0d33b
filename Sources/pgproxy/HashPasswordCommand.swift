import ArgumentParser
import Foundation
import Proxy

/// `pgproxy hash-password`: prints a secret to paste into users.toml instead of a password.
struct HashPasswordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash-password",
        abstract: "Print a SCRAM-SHA-256 verifier (or an MD5 hash) of a password for users.toml.",
        discussion: """
            The password is read from standard input (without echo on a terminal) unless given as an
            argument, which would leave it in the shell's history. SCRAM verifiers work with every
            auth_type and let pgproxy log in to servers that hold the same verifier.
            """)

    enum Method: String, ExpressibleByArgument, CaseIterable {
        case scram = "scram-sha-256"
        case md5
    }

    @Option(help: "scram-sha-256 or md5.")
    var method: Method = .scram

    @Option(help: "The user name (MD5 hashes include it).")
    var user: String?

    @Option(help: "SCRAM iterations.")
    var iterations = 4096

    @Argument(help: "The password (read from standard input when left out).")
    var password: String?

    func validate() throws {
        if method == .md5, user == nil { throw ValidationError("--method md5 needs --user: the hash includes the user name") }
        if iterations < 1 { throw ValidationError("--iterations must be at least 1") }
    }

    func run() throws {
        guard let password = password ?? Self.readPassword(), !password.isEmpty else {
            throw ValidationError("no password given")
        }
        switch method {
        case .scram: print(PasswordHash.scram(password: password, iterations: iterations))
        case .md5: print(PasswordHash.md5(user: user ?? "", password: password))
        }
    }

    private static func readPassword() -> String? {
        if isatty(STDIN_FILENO) == 1 {
            guard let entered = getpass("Password: ") else { return nil }
            return String(cString: entered)
        }
        return readLine(strippingNewline: true)
    }
}
