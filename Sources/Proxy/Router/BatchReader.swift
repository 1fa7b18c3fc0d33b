import PluginABI

/// Reads a batch of complete client messages for the router: the statement that decides the
/// route (the first Query, else the statement of the first Bind, else the first Parse), the
/// Bind's parameters, and the named statements the batch prepares or closes.
enum BatchReader {
    /// Where the deciding statement's text is.
    enum Text {
        /// Byte range in the batch.
        case inBatch(Range<Int>)
        /// A statement prepared earlier in the session.
        case prepared(PreparedStatementText)

        func withBytes<T>(_ raw: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> T) -> T {
            switch self {
            case .inBatch(let range): return body(UnsafeRawBufferPointer(rebasing: raw[range]))
            case .prepared(let statement): return statement.text.withUnsafeBytes(body)
            }
        }
    }

    struct Found {
        var text: Text
        var extended: Bool
        /// The named statement the text belongs to (its analysis is remembered there).
        var prepared: PreparedStatementText?
        var paramCount: Int
        /// The batch is exactly one Query message.
        var singleQuery: Bool
        /// The statement runs (a Query, or a Bind); false when it is only prepared or described.
        var executes = true
    }

    /// `params` receives the first Bind's parameters (pointing into `raw`), grown if needed.
    static func read(
        _ raw: UnsafeRawBufferPointer, session: RoutingSession,
        params: inout UnsafeMutablePointer<pgproxy_param>, capacity: inout Int
    ) -> Found? {
        // The usual batch, one Query message, without the loop's bookkeeping.
        if raw.count > 5, raw[0] == FrontendID.query, Int(readInt32(raw, at: 1)) == raw.count - 1 {
            let query = 5..<cString(raw, from: 5, in: 5..<raw.count)
            return Found(text: .inBatch(query), extended: false, prepared: nil, paramCount: 0, singleQuery: true)
        }
        var index = 0
        var query: Range<Int>?
        var firstParse: (range: Range<Int>, statement: PreparedStatementText?)?
        // The unnamed statement lives only in this batch; named ones go to the session at once.
        var unnamedParse: Range<Int>?
        var bound: Found?
        var messages = 0
        var paramCount = 0
        while index + 5 <= raw.count {
            let id = raw[index]
            let length = Int(readInt32(raw, at: index + 1))
            guard length >= 4, index + 1 + length <= raw.count else { break }
            let body = (index + 5)..<(index + 1 + length)
            index += 1 + length
            messages += 1
            switch id {
            case FrontendID.query:
                if query == nil, bound == nil, firstParse == nil { query = body.lowerBound..<cString(raw, from: body.lowerBound, in: body) }
            case FrontendID.parse:
                let nameEnd = cString(raw, from: body.lowerBound, in: body)
                let textStart = min(nameEnd + 1, body.upperBound)
                let text = textStart..<cString(raw, from: textStart, in: body)
                var statement: PreparedStatementText?
                if nameEnd > body.lowerBound {
                    let name = String(decoding: UnsafeRawBufferPointer(rebasing: raw[body.lowerBound..<nameEnd]), as: UTF8.self)
                    let made = PreparedStatementText(text: Array(UnsafeRawBufferPointer(rebasing: raw[text])))
                    session.prepared[name] = made
                    statement = made
                } else {
                    unnamedParse = text
                }
                if firstParse == nil { firstParse = (text, statement) }
            case FrontendID.bind:
                guard bound == nil, query == nil else { continue }
                let portalEnd = cString(raw, from: body.lowerBound, in: body)
                let nameStart = min(portalEnd + 1, body.upperBound)
                let nameEnd = cString(raw, from: nameStart, in: body)
                let name = String(decoding: UnsafeRawBufferPointer(rebasing: raw[nameStart..<nameEnd]), as: UTF8.self)
                paramCount = readParams(raw, from: min(nameEnd + 1, body.upperBound), in: body, params: &params, capacity: &capacity)
                if name.isEmpty, let unnamedParse {
                    bound = Found(text: .inBatch(unnamedParse), extended: true, prepared: nil, paramCount: paramCount, singleQuery: false)
                } else if !name.isEmpty, let statement = session.prepared[name] {
                    bound = Found(text: .prepared(statement), extended: true, prepared: statement, paramCount: paramCount, singleQuery: false)
                }
            case FrontendID.close:
                if body.count >= 2, raw[body.lowerBound] == UInt8(ascii: "S") {
                    let nameEnd = cString(raw, from: body.lowerBound + 1, in: body)
                    let name = String(decoding: UnsafeRawBufferPointer(rebasing: raw[(body.lowerBound + 1)..<nameEnd]), as: UTF8.self)
                    session.prepared.removeValue(forKey: name)
                }
            default:
                break
            }
        }
        if let query { return Found(text: .inBatch(query), extended: false, prepared: nil, paramCount: 0, singleQuery: messages == 1) }
        if let bound { return bound }
        if let firstParse {
            return Found(text: .inBatch(firstParse.range), extended: true, prepared: firstParse.statement, paramCount: 0, singleQuery: false, executes: false)
        }
        return nil
    }

    @inline(__always)
    private static func readInt32(_ raw: UnsafeRawBufferPointer, at index: Int) -> Int32 {
        Int32(bitPattern: UInt32(raw[index]) << 24 | UInt32(raw[index + 1]) << 16 | UInt32(raw[index + 2]) << 8 | UInt32(raw[index + 3]))
    }

    @inline(__always)
    private static func readInt16(_ raw: UnsafeRawBufferPointer, at index: Int) -> Int16 {
        Int16(bitPattern: UInt16(raw[index]) << 8 | UInt16(raw[index + 1]))
    }

    /// Index of the NUL ending the string at `start` (or the body's end).
    @inline(__always)
    private static func cString(_ raw: UnsafeRawBufferPointer, from start: Int, in body: Range<Int>) -> Int {
        raw.indexOfNUL(from: start, before: body.upperBound)
    }

    /// Bind's format codes and parameter values, from just after the statement name.
    private static func readParams(
        _ raw: UnsafeRawBufferPointer, from start: Int, in body: Range<Int>,
        params: inout UnsafeMutablePointer<pgproxy_param>, capacity: inout Int
    ) -> Int {
        var index = start
        guard index + 2 <= body.upperBound else { return 0 }
        let formatCount = Int(readInt16(raw, at: index))
        index += 2
        let formatsAt = index
        index += 2 * max(formatCount, 0)
        guard formatCount >= 0, index + 2 <= body.upperBound else { return 0 }
        let count = Int(readInt16(raw, at: index))
        index += 2
        guard count > 0 else { return 0 }
        if count > capacity {
            params.deallocate()
            capacity = count
            params = .allocate(capacity: count)
        }
        for parameter in 0..<count {
            guard index + 4 <= body.upperBound else { return parameter }
            let length = Int(readInt32(raw, at: index))
            index += 4
            let format: Int16 = formatCount == 0 ? 0 : readInt16(raw, at: formatsAt + 2 * (formatCount == 1 ? 0 : min(parameter, formatCount - 1)))
            if length < 0 {
                params[parameter] = pgproxy_param(value: pgproxy_str(ptr: nil, len: 0), format: format)
            } else {
                guard index + length <= body.upperBound else { return parameter }
                params[parameter] = pgproxy_param(value: pgproxy_str(UnsafeRawBufferPointer(rebasing: raw[index..<(index + length)])), format: format)
                index += length
            }
        }
        return count
    }
}
