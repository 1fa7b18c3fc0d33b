import NIOCore

/// An ErrorResponse or NoticeResponse: what pgproxy sends and what it reads from servers.
struct ErrorFields: Error, Equatable, Sendable, CustomStringConvertible {
    enum Severity: String, Sendable { case error = "ERROR", fatal = "FATAL", warning = "WARNING", notice = "NOTICE" }

    var severity: String
    var sqlState: String
    var message: String
    var detail: String?
    var hint: String?

    init(_ severity: Severity, _ sqlState: String, _ message: String, detail: String? = nil, hint: String? = nil) {
        self.severity = severity.rawValue
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
    }

    var isFatal: Bool { severity == "FATAL" || severity == "PANIC" }
    var description: String { "\(severity) \(sqlState): \(message)" }

    /// Decodes the field list of an 'E' or 'N' body.
    static func decode(body: ByteBuffer) -> ErrorFields {
        var body = body
        var fields = ErrorFields(.error, "XX000", "")
        while let code = body.readInteger(as: UInt8.self), code != 0 {
            guard let value = body.readNullTerminatedString() else { break }
            switch code {
            case UInt8(ascii: "V"): fields.severity = value
            case UInt8(ascii: "S") where fields.severity == "ERROR": fields.severity = value
            case UInt8(ascii: "C"): fields.sqlState = value
            case UInt8(ascii: "M"): fields.message = value
            case UInt8(ascii: "D"): fields.detail = value
            case UInt8(ascii: "H"): fields.hint = value
            default: break
            }
        }
        return fields
    }

    func write(into buffer: inout ByteBuffer, id: UInt8 = BackendID.errorResponse) {
        buffer.writeMessage(id: id) { body in
            body.writeInteger(UInt8(ascii: "S"))
            body.writeCString(severity)
            body.writeInteger(UInt8(ascii: "V"))
            body.writeCString(severity)
            body.writeInteger(UInt8(ascii: "C"))
            body.writeCString(sqlState)
            body.writeInteger(UInt8(ascii: "M"))
            body.writeCString(message)
            if let detail {
                body.writeInteger(UInt8(ascii: "D"))
                body.writeCString(detail)
            }
            if let hint {
                body.writeInteger(UInt8(ascii: "H"))
                body.writeCString(hint)
            }
            body.writeInteger(UInt8(0))
        }
    }
}

/// SQLSTATE codes pgproxy itself reports.
enum SQLState {
    static let protocolViolation = "08P01"
    static let connectionFailure = "08006"
    static let cannotConnect = "08001"
    static let invalidAuthorization = "28000"
    static let invalidPassword = "28P01"
    static let invalidCatalogName = "3D000"
    static let tooManyConnections = "53300"
    static let queryCanceled = "57014"
    static let adminShutdown = "57P01"
    static let idleSessionTimeout = "57P05"
    static let featureNotSupported = "0A000"
    static let internalError = "XX000"
    static let syntaxError = "42601"
    static let undefinedObject = "42704"
    static let configFileError = "F0000"
    static let objectNotInPrerequisiteState = "55000"
    static let cannotConnectNow = "57P03"
    static let invalidParameterValue = "22023"
    static let insufficientPrivilege = "42501"
}
