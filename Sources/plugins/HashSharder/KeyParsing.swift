// Reading a sharding key value the way PostgreSQL 15 reads it: the text input functions of
// smallint/integer/bigint (`pg_strtoint16/32/64`) and uuid (`string_to_uuid`), and the binary
// (Bind format 1) forms. Errors carry PostgreSQL's SQLSTATE and message wording, so a blocked
// statement fails the way the server would have failed it. Pure code: no plugin ABI here.

/// The column type of a sharding key (`data_type` of `[[sharded_tables]]`).
enum ShardKeyType {
    case bigint, integer, smallint, text, uuid

    /// The type's name as PostgreSQL spells it in error messages.
    var name: String {
        switch self {
        case .bigint: return "bigint"
        case .integer: return "integer"
        case .smallint: return "smallint"
        case .text: return "text"
        case .uuid: return "uuid"
        }
    }

    /// The range of an integer type (the full Int64 range for the others, which never use it).
    var integerRange: ClosedRange<Int64> {
        switch self {
        case .integer: return Int64(Int32.min)...Int64(Int32.max)
        case .smallint: return Int64(Int16.min)...Int64(Int16.max)
        default: return Int64.min...Int64.max
        }
    }

    var isInteger: Bool { self == .bigint || self == .integer || self == .smallint }
}

/// A key value PostgreSQL would refuse; built only on the error path.
struct KeyValueError: Error, Equatable {
    /// Five characters.
    let sqlstate: String
    let message: String

    static func invalidSyntax(_ type: ShardKeyType, _ input: UnsafeRawBufferPointer) -> KeyValueError {
        KeyValueError(
            sqlstate: "22P02",  // invalid_text_representation
            message: "invalid input syntax for type \(type.name): \"\(String(decoding: input, as: UTF8.self))\"")
    }

    static func outOfRange(_ type: ShardKeyType, _ shown: String) -> KeyValueError {
        KeyValueError(
            sqlstate: "22003",  // numeric_value_out_of_range
            message: "value \"\(shown)\" is out of range for type \(type.name)")
    }

    static func badBinary(_ type: ShardKeyType, length: Int, expected: String) -> KeyValueError {
        KeyValueError(
            sqlstate: "22P03",  // invalid_binary_representation
            message: "incorrect binary data format for type \(type.name): \(length) bytes, expected \(expected)")
    }
}

/// A uuid's 16 bytes, in order.
struct UUIDValue: Equatable {
    var bytes: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)
        = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)

    static func == (lhs: UUIDValue, rhs: UUIDValue) -> Bool {
        withUnsafeBytes(of: lhs.bytes) { l in withUnsafeBytes(of: rhs.bytes) { r in l.elementsEqual(r) } }
    }
}

// MARK: - Integers

/// C `isspace` in the C locale: space, \t, \n, \v, \f, \r.
@inline(__always)
private func isSpace(_ c: UInt8) -> Bool { c == 0x20 || (c >= 0x09 && c <= 0x0D) }

/// An integer in text form, as `pg_strtoint16/32/64` of PostgreSQL 15 read it: optional
/// whitespace, an optional sign, at least one decimal digit, optional whitespace. The magnitude
/// is accumulated negatively (so the type's minimum parses) and overflow is reported as soon as
/// it happens, before any trailing garbage is looked at — as PostgreSQL does.
func parseIntegerText(_ input: UnsafeRawBufferPointer, as type: ShardKeyType) throws(KeyValueError) -> Int64 {
    let range = type.integerRange
    let count = input.count
    var i = 0
    while i < count && isSpace(input[i]) { i += 1 }
    var negative = false
    if i < count && (input[i] == UInt8(ascii: "-") || input[i] == UInt8(ascii: "+")) {
        negative = input[i] == UInt8(ascii: "-")
        i += 1
    }
    let firstDigit = i
    var accumulated: Int64 = 0  // minus the magnitude
    while i < count, case let digit = input[i] &- UInt8(ascii: "0"), digit < 10 {
        let (times10, o1) = accumulated.multipliedReportingOverflow(by: 10)
        let (next, o2) = times10.subtractingReportingOverflow(Int64(digit))
        if o1 || o2 || next < range.lowerBound {
            throw .outOfRange(type, String(decoding: input, as: UTF8.self))
        }
        accumulated = next
        i += 1
    }
    if i == firstDigit { throw .invalidSyntax(type, input) }
    while i < count && isSpace(input[i]) { i += 1 }
    if i != count { throw .invalidSyntax(type, input) }
    if negative { return accumulated }
    if accumulated == range.lowerBound { throw .outOfRange(type, String(decoding: input, as: UTF8.self)) }
    return -accumulated
}

/// An integer in binary form: 2, 4 or 8 bytes, big-endian two's complement. The parameter's own
/// type may be narrower or wider than the column's, so the value is checked against the column
/// type's range.
func parseIntegerBinary(_ input: UnsafeRawBufferPointer, as type: ShardKeyType) throws(KeyValueError) -> Int64 {
    let count = input.count
    guard count == 2 || count == 4 || count == 8 else {
        throw .badBinary(type, length: count, expected: "2, 4 or 8")
    }
    var bits: UInt64 = 0
    for byte in input { bits = bits << 8 | UInt64(byte) }
    let shift = UInt64(64 - 8 * count)
    let value = Int64(bitPattern: bits << shift) >> shift  // sign-extend
    guard type.integerRange.contains(value) else { throw .outOfRange(type, String(value)) }
    return value
}

// MARK: - uuid

@inline(__always)
private func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return c &- UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return c &- UInt8(ascii: "a") &+ 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return c &- UInt8(ascii: "A") &+ 10
    default: return nil
    }
}

/// A uuid in text form, as PostgreSQL's `string_to_uuid` reads it: an optional `{` (then a
/// closing `}` is required), 32 hex digits in either case, a `-` allowed after any group of
/// four digits except the last, nothing else (no whitespace).
func parseUUIDText(_ input: UnsafeRawBufferPointer) throws(KeyValueError) -> UUIDValue {
    var uuid = UUIDValue()
    let count = input.count
    var i = 0
    let braces = count > 0 && input[0] == UInt8(ascii: "{")
    if braces { i = 1 }
    let ok: Bool = withUnsafeMutableBytes(of: &uuid.bytes) { out in
        for byteIndex in 0..<16 {
            guard i + 1 < count, let high = hexValue(input[i]), let low = hexValue(input[i + 1]) else {
                return false
            }
            out[byteIndex] = high << 4 | low
            i += 2
            if i < count && input[i] == UInt8(ascii: "-") && byteIndex % 2 == 1 && byteIndex < 15 { i += 1 }
        }
        return true
    }
    guard ok else { throw .invalidSyntax(.uuid, input) }
    if braces {
        guard i < count && input[i] == UInt8(ascii: "}") else { throw .invalidSyntax(.uuid, input) }
        i += 1
    }
    guard i == count else { throw .invalidSyntax(.uuid, input) }
    return uuid
}

/// A uuid in binary form: its 16 bytes.
func parseUUIDBinary(_ input: UnsafeRawBufferPointer) throws(KeyValueError) -> UUIDValue {
    guard input.count == 16 else { throw .badBinary(.uuid, length: input.count, expected: "16") }
    var uuid = UUIDValue()
    withUnsafeMutableBytes(of: &uuid.bytes) { $0.copyMemory(from: input) }
    return uuid
}
