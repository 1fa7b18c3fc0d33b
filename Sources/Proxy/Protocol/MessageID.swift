/// Type bytes of the PostgreSQL v3 protocol messages pgproxy looks at.
/// Everything else is forwarded by length without being decoded.
enum FrontendID {
    static let query: UInt8 = UInt8(ascii: "Q")
    static let parse: UInt8 = UInt8(ascii: "P")
    static let bind: UInt8 = UInt8(ascii: "B")
    static let execute: UInt8 = UInt8(ascii: "E")
    static let sync: UInt8 = UInt8(ascii: "S")
    static let flush: UInt8 = UInt8(ascii: "H")
    static let terminate: UInt8 = UInt8(ascii: "X")
    static let functionCall: UInt8 = UInt8(ascii: "F")
    static let copyData: UInt8 = UInt8(ascii: "d")
    static let copyDone: UInt8 = UInt8(ascii: "c")
    static let copyFail: UInt8 = UInt8(ascii: "f")
    static let close: UInt8 = UInt8(ascii: "C")
    static let describe: UInt8 = UInt8(ascii: "D")
    /// PasswordMessage, SASLInitialResponse and SASLResponse share this byte.
    static let password: UInt8 = UInt8(ascii: "p")
}

enum BackendID {
    static let authentication: UInt8 = UInt8(ascii: "R")
    static let parameterStatus: UInt8 = UInt8(ascii: "S")
    static let backendKeyData: UInt8 = UInt8(ascii: "K")
    static let readyForQuery: UInt8 = UInt8(ascii: "Z")
    static let errorResponse: UInt8 = UInt8(ascii: "E")
    static let noticeResponse: UInt8 = UInt8(ascii: "N")
    static let commandComplete: UInt8 = UInt8(ascii: "C")
    static let rowDescription: UInt8 = UInt8(ascii: "T")
    static let dataRow: UInt8 = UInt8(ascii: "D")
    static let emptyQuery: UInt8 = UInt8(ascii: "I")
    static let copyInResponse: UInt8 = UInt8(ascii: "G")
    static let copyOutResponse: UInt8 = UInt8(ascii: "H")
    static let copyBothResponse: UInt8 = UInt8(ascii: "W")
    static let copyData: UInt8 = UInt8(ascii: "d")
    static let copyDone: UInt8 = UInt8(ascii: "c")
    static let parseComplete: UInt8 = UInt8(ascii: "1")
    static let closeComplete: UInt8 = UInt8(ascii: "3")
    static let negotiateProtocolVersion: UInt8 = UInt8(ascii: "v")
}

/// Request codes carried in the version field of untyped startup-phase packets.
enum StartupCode {
    static let protocol3: Int32 = 196_608  // 3.0
    static let sslRequest: Int32 = 80_877_103
    static let gssEncRequest: Int32 = 80_877_104
    static let cancelRequest: Int32 = 80_877_102
}

/// Transaction status byte of ReadyForQuery.
enum TransactionStatus: UInt8, Sendable {
    case idle = 73  // 'I'
    case inTransaction = 84  // 'T'
    case failed = 69  // 'E'
}
