import NIOCore

/// A column of an admin result set. Types follow PgBouncer's, so exporters that read its
/// console with typed drivers keep working.
struct AdminColumn: Sendable {
    enum Kind: Sendable {
        case text, int4, int8, numeric, timestamptz

        var oid: Int32 {
            switch self {
            case .text: return 25
            case .int4: return 23
            case .int8: return 20
            case .numeric: return 1700
            case .timestamptz: return 1184
            }
        }

        var size: Int16 {
            switch self {
            case .text, .numeric: return -1
            case .int4: return 4
            case .int8, .timestamptz: return 8
            }
        }
    }

    var name: String
    var kind: Kind

    init(_ name: String, _ kind: Kind = .text) {
        self.name = name
        self.kind = kind
    }
}

/// What an admin command answers.
enum AdminReply: Sendable {
    /// A result set, then CommandComplete with `tag`.
    case rows(columns: [AdminColumn], rows: [[String?]], tag: String = "SHOW")
    /// CommandComplete with `tag`, after a NoticeResponse for each of `notices`.
    case done(tag: String, notices: [ErrorFields] = [])
    /// An ErrorResponse; the session goes on.
    case error(ErrorFields)

    /// A NOTICE for `.done`.
    static func notice(_ message: String, detail: String? = nil) -> ErrorFields {
        ErrorFields(.notice, "00000", message, detail: detail)
    }

    func write(into buffer: inout ByteBuffer) {
        switch self {
        case .rows(let columns, let rows, let tag):
            buffer.writeRowDescription(columns.map { ($0.name, $0.kind.oid, $0.kind.size) })
            for row in rows { buffer.writeDataRow(row) }
            buffer.writeCommandComplete(tag)
        case .done(let tag, let notices):
            for notice in notices { notice.write(into: &buffer, id: BackendID.noticeResponse) }
            buffer.writeCommandComplete(tag)
        case .error(let fields):
            fields.write(into: &buffer)
        }
    }
}
