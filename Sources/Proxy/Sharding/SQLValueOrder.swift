/// How pgproxy compares the text values of one result column across shards, by the column's
/// type OID: the order PostgreSQL's btree operators give (for ORDER BY, min/max) and the
/// equality they give (for DISTINCT, GROUP BY). Standard library only.
struct SQLValueError: Error, Equatable, Sendable {
    var sqlState: String
    var message: String

    static let featureNotSupported = "0A000"
    static let internalError = "XX000"
}

/// Type OIDs (pg_type.h) the merge knows.
enum SQLTypeOID {
    static let bool: UInt32 = 16
    static let char: UInt32 = 18
    static let name: UInt32 = 19
    static let int8: UInt32 = 20
    static let int2: UInt32 = 21
    static let int4: UInt32 = 23
    static let text: UInt32 = 25
    static let oid: UInt32 = 26
    static let float4: UInt32 = 700
    static let float8: UInt32 = 701
    static let bpchar: UInt32 = 1042
    static let varchar: UInt32 = 1043
    static let date: UInt32 = 1082
    static let time: UInt32 = 1083
    static let timestamp: UInt32 = 1114
    static let timestamptz: UInt32 = 1184
    static let interval: UInt32 = 1186
    static let numeric: UInt32 = 1700
    static let uuid: UInt32 = 2950

    /// The first OID of user-defined objects (FirstNormalObjectId).
    static let firstUserOID: UInt32 = 16384
}

/// A value prepared for comparison (one type family per column).
enum SQLOrderKey {
    case null
    case integer(Int64)
    case double(Double)
    case numeric(PGNumeric)
    case bytes([UInt8])
    /// Date/time values: (major, minor), e.g. (seconds, microseconds); infinities at the ends.
    case instant(Int64, Int64)
}

/// The comparison of one column's values.
struct SQLValueOrder {
    enum Family { case integer, float, numeric, bool, text, bpchar, date, time, timestamp, timestamptz, uuid }

    var family: Family
    var typeOID: UInt32

    /// The order for a column of type `typeOID`, for a column called `column` (in messages).
    /// `bytewiseText`: text may be compared bytewise (C collation); otherwise text types are
    /// refused, since the shards sorted by a collation pgproxy does not implement.
    static func make(typeOID: UInt32, column: String, bytewiseText: Bool, purpose: String) -> Result<SQLValueOrder, SQLValueError> {
        let family: Family
        switch typeOID {
        case SQLTypeOID.int2, SQLTypeOID.int4, SQLTypeOID.int8, SQLTypeOID.oid: family = .integer
        case SQLTypeOID.float4, SQLTypeOID.float8: family = .float
        case SQLTypeOID.numeric: family = .numeric
        case SQLTypeOID.bool: family = .bool
        case SQLTypeOID.text, SQLTypeOID.varchar, SQLTypeOID.name, SQLTypeOID.bpchar:
            guard bytewiseText else {
                return .failure(SQLValueError(
                    sqlState: SQLValueError.featureNotSupported,
                    message: "\(purpose) on text column \(column) cannot be merged across shards under the database's collation; add COLLATE \"C\""))
            }
            family = typeOID == SQLTypeOID.bpchar ? .bpchar : .text
        case SQLTypeOID.date: family = .date
        case SQLTypeOID.time: family = .time
        case SQLTypeOID.timestamp: family = .timestamp
        case SQLTypeOID.timestamptz: family = .timestamptz
        case SQLTypeOID.uuid: family = .uuid
        default:
            return .failure(SQLValueError(
                sqlState: SQLValueError.featureNotSupported,
                message: "\(purpose) on column \(column) of type OID \(typeOID) cannot be merged across shards: pgproxy cannot compare values of that type"))
        }
        return .success(SQLValueOrder(family: family, typeOID: typeOID))
    }

    /// The comparable form of a value (nil = NULL), or why it cannot be compared.
    func key(_ value: [UInt8]?, column: String) -> Result<SQLOrderKey, SQLValueError> {
        guard let value else { return .success(.null) }
        let parsed: SQLOrderKey?
        switch family {
        case .integer: parsed = SQLValueOrder.parseInteger(value).map { .integer($0) }
        case .float: parsed = PGFloatText.parseDouble(value).map { .double($0) }
        case .numeric: parsed = PGNumeric(text: value).map { .numeric($0) }
        case .bool:
            parsed = value == [UInt8(ascii: "t")] ? .integer(1) : value == [UInt8(ascii: "f")] ? .integer(0) : nil
        case .text: parsed = .bytes(value)
        case .bpchar:
            // bpcharcmp ignores trailing spaces.
            var end = value.count
            while end > 0, value[end - 1] == UInt8(ascii: " ") { end -= 1 }
            parsed = .bytes(Array(value[0..<end]))
        case .uuid: parsed = value.count == 36 ? .bytes(value) : nil
        case .time: parsed = SQLDateTimeText.time(value).map { .instant(0, $0) }
        case .date: parsed = SQLDateTimeText.date(value).map { .instant($0, 0) }
        case .timestamp: parsed = SQLDateTimeText.timestamp(value, withZone: false).map { .instant($0.0, $0.1) }
        case .timestamptz: parsed = SQLDateTimeText.timestamp(value, withZone: true).map { .instant($0.0, $0.1) }
        }
        guard let parsed else {
            let shown = String(decoding: value.prefix(64), as: UTF8.self)
            let hint: String
            switch family {
            case .date, .time, .timestamp, .timestamptz: hint = " (pgproxy orders date/time values only in DateStyle ISO)"
            default: hint = ""
            }
            return .failure(SQLValueError(
                sqlState: SQLValueError.featureNotSupported,
                message: "cannot compare value \"\(shown)\" of column \(column) (type OID \(typeOID)) across shards\(hint)"))
        }
        return .success(parsed)
    }

    /// Compares two non-NULL keys of this column (-1, 0, 1). NaN is above everything and equal
    /// to itself, for float and numeric alike, as in PostgreSQL.
    static func compare(_ a: SQLOrderKey, _ b: SQLOrderKey) -> Int {
        switch (a, b) {
        case let (.integer(x), .integer(y)): return x < y ? -1 : (x == y ? 0 : 1)
        case let (.double(x), .double(y)):
            if x.isNaN || y.isNaN { return x.isNaN ? (y.isNaN ? 0 : 1) : -1 }
            return x < y ? -1 : (x == y ? 0 : 1)
        case let (.numeric(x), .numeric(y)): return PGNumeric.compare(x, y)
        case let (.bytes(x), .bytes(y)):
            for (p, q) in zip(x, y) where p != q { return p < q ? -1 : 1 }
            return x.count < y.count ? -1 : (x.count == y.count ? 0 : 1)
        case let (.instant(x1, x2), .instant(y1, y2)):
            if x1 != y1 { return x1 < y1 ? -1 : 1 }
            return x2 < y2 ? -1 : (x2 == y2 ? 0 : 1)
        case (.null, .null): return 0
        case (.null, _): return 1
        case (_, .null): return -1
        default: return 0  // one family per column: not reached
        }
    }

    static func parseInteger(_ value: [UInt8]) -> Int64? {
        guard !value.isEmpty, value.count <= 20 else { return nil }
        return Int64(String(decoding: value, as: UTF8.self))
    }
}

/// Equality of text values as the type's `=` sees it, for DISTINCT and GROUP BY: the bytes
/// that identify a value.
enum SQLValueIdentity {
    /// How the values of a column of `typeOID` are reduced to identifying bytes, or why they
    /// cannot be (types whose text form does not identify the value).
    static func normalizer(typeOID: UInt32, column: String, purpose: String) -> Result<([UInt8]) -> [UInt8]?, SQLValueError> {
        switch typeOID {
        case SQLTypeOID.numeric:
            // 1.0 = 1.00: compare without trailing fractional zeros.
            return .success { value in PGNumeric(text: value).map { Array($0.normalized.text.utf8) } }
        case SQLTypeOID.float4, SQLTypeOID.float8:
            // -0 = 0; every other value prints uniquely.
            return .success { value in value == Array("-0".utf8) ? Array("0".utf8) : value }
        case SQLTypeOID.bpchar:
            return .success { value in
                var end = value.count
                while end > 0, value[end - 1] == UInt8(ascii: " ") { end -= 1 }
                return Array(value[0..<end])
            }
        case SQLTypeOID.interval, 1187,  // interval, interval[]: '1 day' = '24:00:00'
            1231, 1021, 1022, 1014,  // numeric[], float4[], float8[], bpchar[]
            3906, 3907, 4532,  // numrange, numrange[], nummultirange
            3802, 3807,  // jsonb, jsonb[] (numbers compare by value)
            114, 199, 142, 143, 600, 2249, 2287:  // json, xml, point, record: no text identity
            return .failure(refusal(typeOID: typeOID, column: column, purpose: purpose))
        default:
            // User-defined types (enums, composites, citext, ...) may have an equality that
            // their text form does not show.
            if typeOID >= SQLTypeOID.firstUserOID { return .failure(refusal(typeOID: typeOID, column: column, purpose: purpose)) }
            return .success { $0 }
        }
    }

    private static func refusal(typeOID: UInt32, column: String, purpose: String) -> SQLValueError {
        SQLValueError(
            sqlState: SQLValueError.featureNotSupported,
            message: "\(purpose) on column \(column) of type OID \(typeOID) cannot be merged across shards: its text form does not identify its value")
    }
}

/// ISO-DateStyle date/time text (`YYYY-MM-DD[ HH:MM:SS[.ffffff][+TZ]][ BC]`, `infinity`) to
/// ordered integers.
enum SQLDateTimeText {
    private static let infinity = Array("infinity".utf8)
    private static let minusInfinity = Array("-infinity".utf8)

    /// Astronomical year * 10000 + month * 100 + day (orders like the date).
    static func date(_ value: [UInt8]) -> Int64? {
        if value == infinity { return Int64.max }
        if value == minusInfinity { return Int64.min }
        var scanner = Scanner(bytes: value)
        guard let printed = scanner.date(), let date = scanner.finishEra(printed) else { return nil }
        return date.year * 10000 + date.month * 100 + date.day
    }

    /// Microseconds since midnight of `HH:MM:SS[.ffffff]`.
    static func time(_ value: [UInt8]) -> Int64? {
        var scanner = Scanner(bytes: value)
        guard let micros = scanner.timeOfDay(), scanner.atEnd else { return nil }
        return micros
    }

    /// (seconds, microseconds): for timestamp the wall-clock date key and time; for
    /// timestamptz seconds since 1970-01-01 UTC and the microseconds within the second.
    static func timestamp(_ value: [UInt8], withZone: Bool) -> (Int64, Int64)? {
        if value == infinity { return (Int64.max, 0) }
        if value == minusInfinity { return (Int64.min, 0) }
        var scanner = Scanner(bytes: value)
        guard let printed = scanner.date(), scanner.take(UInt8(ascii: " ")), let micros = scanner.timeOfDay() else { return nil }
        var offsetSeconds: Int64 = 0
        if withZone {
            guard let offset = scanner.zoneOffset() else { return nil }
            offsetSeconds = offset
        }
        guard let date = scanner.finishEra(printed) else { return nil }
        if !withZone { return (date.year * 10000 + date.month * 100 + date.day, micros) }
        let seconds = daysFromCivil(year: date.year, month: date.month, day: date.day) * 86400 + micros / 1_000_000 - offsetSeconds
        return (seconds, micros % 1_000_000)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (astronomical year: 0 = 1 BC).
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let monthIndex = (month + 9) % 12  // March = 0
        let dayOfYear = (153 * monthIndex + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146097 + dayOfEra - 719468
    }

    private struct Scanner {
        var bytes: [UInt8]
        var index = 0

        var atEnd: Bool { index == bytes.count }

        mutating func take(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        /// Exactly `count` digits (or at least `count` when `orMore`).
        mutating func number(_ count: Int, orMore: Bool = false) -> Int64? {
            var value: Int64 = 0
            var taken = 0
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                if taken == count && !orMore { break }
                guard taken < 9 else { return nil }
                value = value * 10 + Int64(bytes[index] - UInt8(ascii: "0"))
                taken += 1
                index += 1
            }
            return taken >= count ? value : nil
        }

        /// `YYYY-MM-DD` (4+ digit year, as printed).
        mutating func date() -> (year: Int64, month: Int64, day: Int64)? {
            guard let year = number(4, orMore: true), take(UInt8(ascii: "-")), let month = number(2),
                take(UInt8(ascii: "-")), let day = number(2), (1...12).contains(month), (1...31).contains(day)
            else { return nil }
            return (year, month, day)
        }

        /// `HH:MM:SS[.f{1,6}]` in microseconds.
        mutating func timeOfDay() -> Int64? {
            guard let hour = number(2), take(UInt8(ascii: ":")), let minute = number(2), take(UInt8(ascii: ":")),
                let second = number(2)
            else { return nil }
            var micros: Int64 = 0
            if take(UInt8(ascii: ".")) {
                let start = index
                guard let fraction = number(1, orMore: true), index - start <= 6 else { return nil }
                micros = fraction
                for _ in 0..<(6 - (index - start)) { micros *= 10 }
            }
            return ((hour * 60 + minute) * 60 + second) * 1_000_000 + micros
        }

        /// `+HH[:MM[:SS]]` / `-HH...` east of UTC, in seconds.
        mutating func zoneOffset() -> Int64? {
            let negative: Bool
            if take(UInt8(ascii: "+")) { negative = false } else if take(UInt8(ascii: "-")) { negative = true } else { return nil }
            guard var seconds = number(2).map({ $0 * 3600 }) else { return nil }
            if take(UInt8(ascii: ":")) {
                guard let minutes = number(2) else { return nil }
                seconds += minutes * 60
                if take(UInt8(ascii: ":")) {
                    guard let secs = number(2) else { return nil }
                    seconds += secs
                }
            }
            return negative ? -seconds : seconds
        }

        /// Checks for an optional ` BC` then the end; the date with its astronomical year
        /// (1 BC = year 0).
        func finishEra(_ date: (year: Int64, month: Int64, day: Int64)) -> (year: Int64, month: Int64, day: Int64)? {
            let rest = bytes[index...]
            if rest.isEmpty { return date }
            guard rest.elementsEqual(" BC".utf8), date.year >= 1 else { return nil }
            return (1 - date.year, date.month, date.day)
        }
    }
}
