import XCTest

@testable import Proxy

#if canImport(Glibc)
import Glibc
#endif

final class EpollListenerTests: XCTestCase {
    /// The accepted client's address as text, written without inet_ntop: the same text.
    func testDottedQuadMatchesInetNtop() {
        var values: [UInt32] = [0, 0xffff_ffff, 0x7f00_0001, 0x0a00_0a09, 0x6463_0a00, 0xc0a8_0164, 0x0102_0304]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<1000 { values.append(UInt32.random(in: .min ... .max, using: &generator)) }
        for value in values {
            let address = in_addr(s_addr: value.bigEndian)
            var raw = address
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            XCTAssertNotNil(inet_ntop(AF_INET, &raw, &text, socklen_t(INET_ADDRSTRLEN)))
            XCTAssertEqual(EpollListener.dottedQuad(address), String(cString: text), "0x\(String(value, radix: 16))")
        }
    }
}
