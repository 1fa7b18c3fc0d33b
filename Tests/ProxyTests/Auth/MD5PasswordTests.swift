import XCTest

@testable import Proxy

final class MD5PasswordTests: XCTestCase {
    // Expected values computed independently with Python's hashlib.
    private let postgresSecret = "md553f48b7c4b76a86ce72276c5755f217d"

    func testStoredMatchesPostgres() {
        XCTAssertEqual(MD5Password.stored(user: "postgres", password: "secret"), postgresSecret)
        // Produced by PostgreSQL 15: CREATE ROLE bob PASSWORD 'secret' with password_encryption = md5.
        XCTAssertEqual(MD5Password.stored(user: "bob", password: "secret"), "md521f3163f8f86fa10bdefbfbd502a8f06")
    }

    func testResponseToKnownSalt() {
        XCTAssertEqual(MD5Password.response(storedHash: postgresSecret, salt: [0x01, 0x02, 0x03, 0x04]), "md5bb41a296aab6baccb36ff243a562abff")
        XCTAssertEqual(MD5Password.response(storedHash: String(postgresSecret.dropFirst(3)), salt: [0x01, 0x02, 0x03, 0x04]),
                       "md5bb41a296aab6baccb36ff243a562abff")
        XCTAssertEqual(MD5Password.clientResponse(user: "postgres", password: "secret", salt: [0xDE, 0xAD, 0xBE, 0xEF]),
                       "md5c546d0bbed2af888b328536b45c76348")
    }

    func testVerify() {
        let salt: [UInt8] = [0xDE, 0xAD, 0xBE, 0xEF]
        let good = "md5c546d0bbed2af888b328536b45c76348"
        XCTAssertTrue(MD5Password.verify(response: good, storedHash: postgresSecret, salt: salt))
        XCTAssertFalse(MD5Password.verify(response: good, storedHash: postgresSecret, salt: [0xDE, 0xAD, 0xBE, 0xEE]))
        XCTAssertFalse(MD5Password.verify(response: MD5Password.clientResponse(user: "postgres", password: "Secret", salt: salt),
                                          storedHash: postgresSecret, salt: salt))
        for bad in ["", "md5", String(good.dropLast()), good + "0", good.uppercased(), "md5" + String(repeating: "0", count: 32)] {
            XCTAssertFalse(MD5Password.verify(response: bad, storedHash: postgresSecret, salt: salt), bad)
        }
    }
}
