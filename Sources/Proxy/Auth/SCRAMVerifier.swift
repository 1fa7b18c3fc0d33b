import Crypto
import Foundation
import Synchronization
import _CryptoExtras

/// A SCRAM-SHA-256 password verifier in the form PostgreSQL stores it: enough to check a client's proof, not to recover the password.
public struct SCRAMVerifier: Equatable, Sendable {
    public var iterations: Int
    public var salt: [UInt8]
    public var storedKey: [UInt8]
    public var serverKey: [UInt8]

    static let prefix = "SCRAM-SHA-256$"

    /// Builds a verifier from its parts; no validation, so callers normally use `init?(parsing:)` or `make`.
    public init(iterations: Int, salt: [UInt8], storedKey: [UInt8], serverKey: [UInt8]) {
        self.iterations = iterations
        self.salt = salt
        self.storedKey = storedKey
        self.serverKey = serverKey
    }

    /// Parses `SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>`; nil if malformed.
    public init?(parsing text: String) {
        guard text.hasPrefix(Self.prefix) else { return nil }
        let halves = text.dropFirst(Self.prefix.count).split(separator: "$", omittingEmptySubsequences: false)
        guard halves.count == 2 else { return nil }
        let params = halves[0].split(separator: ":", omittingEmptySubsequences: false)
        let keys = halves[1].split(separator: ":", omittingEmptySubsequences: false)
        guard params.count == 2, keys.count == 2 else { return nil }

        // Digits only: Int() would also take "+4096", which PostgreSQL never writes.
        guard !params[0].isEmpty, params[0].utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
              let iterations = Int(params[0]), Self.validIterations.contains(iterations),
              let salt = Self.base64Decode(params[1]), !salt.isEmpty,
              let storedKey = Self.base64Decode(keys[0]), storedKey.count == SHA256.byteCount,
              let serverKey = Self.base64Decode(keys[1]), serverKey.count == SHA256.byteCount
        else { return nil }
        self.init(iterations: iterations, salt: salt, storedKey: storedKey, serverKey: serverKey)
    }

    /// Derives the verifier PostgreSQL would store for `password` with this salt and iteration count.
    ///
    /// - Precondition: `iterations` is at least 1 and fits PostgreSQL's `int`.
    public static func make(password: String, salt: [UInt8], iterations: Int) -> SCRAMVerifier {
        precondition(validIterations.contains(iterations), "SCRAM iteration count out of range: \(iterations)")
        let salted = saltedPassword(password: password, salt: salt, iterations: iterations)
        let clientKey = hmac(key: salted, Array("Client Key".utf8))
        return SCRAMVerifier(
            iterations: iterations,
            salt: salt,
            storedKey: Array(SHA256.hash(data: clientKey)),
            serverKey: hmac(key: salted, Array("Server Key".utf8))
        )
    }

    /// The verifier in PostgreSQL's `rolpassword` format.
    public var encoded: String {
        "\(Self.prefix)\(iterations):\(Self.base64Encode(salt))$\(Self.base64Encode(storedKey)):\(Self.base64Encode(serverKey))"
    }

    // PostgreSQL keeps the iteration count in a C int; anything outside this can't have come from it.
    static let validIterations = 1...Int(Int32.max)
}

// MARK: - SCRAM-SHA-256 arithmetic shared by both sides of the exchange (RFC 5802 §3)

extension SCRAMVerifier {
    /// SaltedPassword := Hi(Normalize(password), salt, i), memoized because PBKDF2 is deliberately slow
    /// and a pooler opening many server connections for one user repeats it with the same inputs.
    static func saltedPassword(password: String, salt: [UInt8], iterations: Int) -> [UInt8] {
        let key = SaltedPasswordKey(password: normalize(password), salt: salt, iterations: iterations)
        if let hit = saltedPasswordCache.withLock({ $0[key] }) {
            return hit
        }
        // Derive outside the lock: concurrent misses may both compute, which is cheaper than
        // serializing every login behind one PBKDF2 run.
        let derived: SymmetricKey
        do {
            derived = try KDF.Insecure.PBKDF2.deriveKey(
                from: key.password, salt: key.salt, using: .sha256,
                outputByteCount: SHA256.byteCount, unsafeUncheckedRounds: iterations
            )
        } catch {
            // BoringSSL only fails here on invalid parameters (excluded by our callers) or allocation failure.
            preconditionFailure("PBKDF2 failed: \(error)")
        }
        let salted = derived.withUnsafeBytes { Array($0) }
        saltedPasswordCache.withLock { cache in
            // A hostile server could send a fresh salt on every login; cap the memory it can make us hold.
            if cache.count >= saltedPasswordCacheLimit { cache.removeAll() }
            cache[key] = salted
        }
        return salted
    }

    /// Stand-in for SASLprep (RFC 4013), which PostgreSQL applies to passwords.
    ///
    /// We always use the raw UTF-8 bytes. That matches PostgreSQL for every ASCII password
    /// (SASLprep leaves printable ASCII alone, and PostgreSQL falls back to the raw bytes when
    /// SASLprep rejects control characters) and for non-ASCII passwords already in NFKC with no
    /// mapped or prohibited code points. It differs for, e.g., decomposed accents, full-width
    /// letters or U+00A0: such passwords won't match a verifier PostgreSQL generated.
    static func normalize(_ password: String) -> [UInt8] {
        Array(password.utf8)
    }

    static func hmac(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
    }

    static func xor(_ lhs: [UInt8], _ rhs: [UInt8]) -> [UInt8] {
        zip(lhs, rhs).map { $0 ^ $1 }
    }

    static func base64Encode(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
    }

    // Foundation's decoder is strict (padding required, no whitespace), which is what SCRAM wants.
    static func base64Decode<S: StringProtocol>(_ text: S) -> [UInt8]? {
        Data(base64Encoded: String(text)).map { Array($0) }
    }
}

// MARK: - SCRAM message syntax shared by both exchanges

extension SCRAMVerifier {
    static func decodeMessage(_ message: [UInt8]) throws -> String {
        guard !message.isEmpty else {
            throw AuthError.protocolViolation("empty SCRAM message")
        }
        // NUL would be truncated by C-string handling on the PostgreSQL side; treat it as malformed here too.
        guard let text = String(bytes: message, encoding: .utf8), !text.utf8.contains(0) else {
            throw AuthError.protocolViolation("SCRAM message is not valid UTF-8")
        }
        return text
    }

    // RFC 5802: printable ASCII except ','.
    static func isValidNonce<S: StringProtocol>(_ nonce: S) -> Bool {
        !nonce.isEmpty && nonce.utf8.allSatisfy { (0x21...0x7E).contains($0) && $0 != UInt8(ascii: ",") }
    }

    // Unknown optional extensions are ignored (as PostgreSQL does), but they must at least look like attributes.
    static func checkExtensions<C: Collection>(_ attributes: C) throws where C.Element == Substring {
        for attribute in attributes {
            let bytes = Array(attribute.utf8)
            guard bytes.count >= 2, bytes[1] == UInt8(ascii: "="),
                  (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(bytes[0]) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(bytes[0])
            else {
                throw AuthError.protocolViolation("malformed SCRAM attribute")
            }
        }
    }

    // 18 random bytes, base64: the size PostgreSQL uses, and base64 never contains ','.
    static func randomNonce() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<18).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return base64Encode(bytes)
    }
}

private struct SaltedPasswordKey: Hashable, Sendable {
    var password: [UInt8]
    var salt: [UInt8]
    var iterations: Int
}

private let saltedPasswordCacheLimit = 256
private let saltedPasswordCache = Mutex<[SaltedPasswordKey: [UInt8]]>([:])
