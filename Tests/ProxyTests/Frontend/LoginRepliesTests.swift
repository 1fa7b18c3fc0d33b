import NIOCore
import XCTest

@testable import Proxy

final class LoginRepliesTests: XCTestCase {
    private let defaults = ["client_encoding": "UTF8", "DateStyle": "ISO, MDY", "TimeZone": "UTC", "server_version": "15.18"]

    /// The ParameterStatus messages in `status`, in order.
    private func statuses(_ status: ByteBuffer) throws -> [String] {
        var buffer = status
        var names: [String] = []
        while buffer.readableBytes > 0 {
            XCTAssertEqual(buffer.readInteger(as: UInt8.self), UInt8(ascii: "S"))
            let length = try XCTUnwrap(buffer.readInteger(as: Int32.self))
            var body = try XCTUnwrap(buffer.readSlice(length: Int(length) - 4))
            let name = try XCTUnwrap(body.readNullTerminatedString())
            let value = try XCTUnwrap(body.readNullTerminatedString())
            names.append("\(name)=\(value)")
        }
        return names
    }

    func testRepliesFollowEachClientsStartupSettings() throws {
        var replies = LoginReplies()
        let paris = replies.reply(startup: [("TimeZone", "Europe/Paris")], serverDefaults: defaults)
        let plain = replies.reply(startup: [], serverDefaults: defaults)
        XCTAssertEqual(try statuses(paris.status), ["DateStyle=ISO, MDY", "TimeZone=Europe/Paris", "client_encoding=UTF8", "server_version=15.18"])
        XCTAssertEqual(try statuses(plain.status), ["DateStyle=ISO, MDY", "TimeZone=UTC", "client_encoding=UTF8", "server_version=15.18"])
        XCTAssertEqual(paris.parameters.values["TimeZone"], "Europe/Paris")
        XCTAssertEqual(plain.parameters.values["TimeZone"], "UTC")
        var parisParameters = paris.parameters, plainParameters = plain.parameters
        XCTAssertNotEqual(parisParameters.signature, plainParameters.signature)

        // The same startup settings again: the same reply, as built without the cache.
        let again = replies.reply(startup: [("TimeZone", "Europe/Paris")], serverDefaults: defaults)
        XCTAssertEqual(try statuses(again.status), try statuses(paris.status))
        var againParameters = again.parameters
        XCTAssertEqual(againParameters.signature, parisParameters.signature)
        let uncached = LoginReplies.build(startup: [("TimeZone", "Europe/Paris")], serverDefaults: defaults)
        XCTAssertEqual(try statuses(uncached.status), try statuses(paris.status))

        // Same names, another value; same pairs in another order: told apart.
        let london = replies.reply(startup: [("TimeZone", "Europe/London")], serverDefaults: defaults)
        XCTAssertEqual(london.parameters.values["TimeZone"], "Europe/London")
        let ab = replies.reply(startup: [("application_name", "a"), ("TimeZone", "Europe/Paris")], serverDefaults: defaults)
        let ba = replies.reply(startup: [("TimeZone", "Europe/Paris"), ("application_name", "a")], serverDefaults: defaults)
        XCTAssertEqual(ab.parameters.values, ba.parameters.values)
    }

    func testManyDistinctStartupsStayCorrectPastTheLimit() throws {
        var replies = LoginReplies()
        for round in 0..<3 {
            for index in 0..<(LoginReplies.limit * 2) {
                let name = "app-\(index)"
                let reply = replies.reply(startup: [("application_name", name)], serverDefaults: defaults)
                XCTAssertEqual(reply.parameters.values["application_name"], name, "round \(round)")
                XCTAssertTrue(try statuses(reply.status).contains("application_name=\(name)"))
            }
        }
    }
}
