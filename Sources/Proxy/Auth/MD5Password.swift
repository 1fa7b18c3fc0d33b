import Crypto

/// PostgreSQL's legacy MD5 password scheme: the stored hash and the salted response to an AuthenticationMD5Password challenge.
public enum MD5Password {
    /// The value PostgreSQL stores: "md5" + hex(md5(password + user)).
    public static func stored(user: String, password: String) -> String {
        "md5" + hex(Insecure.MD5.hash(data: Array(password.utf8) + Array(user.utf8)))
    }

    /// The response to a challenge, computed from the stored hash alone: "md5" + hex(md5(hex(stored) + salt)).
    ///
    /// `storedHash` may be given with or without its "md5" prefix.
    public static func response(storedHash: String, salt: [UInt8]) -> String {
        let hexPart = storedHash.hasPrefix("md5") ? storedHash.dropFirst(3) : Substring(storedHash)
        return "md5" + hex(Insecure.MD5.hash(data: Array(hexPart.utf8) + salt))
    }

    /// The response a client with the cleartext password sends to a challenge.
    public static func clientResponse(user: String, password: String, salt: [UInt8]) -> String {
        response(storedHash: stored(user: user, password: password), salt: salt)
    }

    /// Whether `response` answers the challenge `salt` for `storedHash`, compared in constant time.
    public static func verify(response: String, storedHash: String, salt: [UInt8]) -> Bool {
        let expected = Array(self.response(storedHash: storedHash, salt: salt).utf8)
        let actual = Array(response.utf8)
        // The length is public (always 35), so only the contents need hiding from a timing attacker.
        guard actual.count == expected.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(actual, expected) {
            difference |= a ^ b
        }
        return difference == 0
    }

    private static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
