/// Binary COPY (PostgreSQL's file format): a header (signature, flags, extension area), then
/// tuples (a 16-bit field count, each field a 32-bit length, -1 for NULL, and its bytes), then
/// a trailer (field count -1). The header and the trailer go to every shard; a tuple's key is its
/// field's bytes in binary form (the type's send format).
extension CopyRowSplitter {
    private static let signature: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00]

    mutating func nextBinary(final: Bool) -> Cut? {
        let start = position
        let found: Result<Cut, Failure>? = bytes.withUnsafeBufferPointer { b in
            headerPending ? binaryHeader(b, start) : binaryTuple(b, start)
        }
        switch found {
        case nil:
            if final, position < bytes.count { return fail("unexpected EOF in COPY data") }
            return nil
        case .failure(let failure)?:
            return fail(failure.message)
        case .success(let cut)?:
            return cut
        }
    }

    struct Failure: Error { var message: String }

    private mutating func fail(_ message: String) -> Cut {
        ended = true
        return .failed(message)
    }

    private func int32(_ b: UnsafeBufferPointer<UInt8>, _ at: Int) -> Int32 {
        Int32(bitPattern: UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3]))
    }

    private mutating func binaryHeader(_ b: UnsafeBufferPointer<UInt8>, _ start: Int) -> Result<Cut, Failure>? {
        let fixed = Self.signature.count + 8
        guard b.count - start >= fixed else { return nil }
        guard Self.signature.indices.allSatisfy({ b[start + $0] == Self.signature[$0] }) else {
            return .failure(Failure(message: "COPY file signature not recognized"))
        }
        let flags = int32(b, start + Self.signature.count)
        if flags & (1 << 16) != 0 { return .failure(Failure(message: "invalid COPY file header (WITH OIDS)")) }
        if (flags & ~(1 << 16)) >> 16 != 0 { return .failure(Failure(message: "unrecognized critical flags in COPY file header")) }
        let extensionLength = int32(b, start + Self.signature.count + 4)
        guard extensionLength >= 0 else { return .failure(Failure(message: "invalid COPY file header (missing length)")) }
        guard b.count - start >= fixed + Int(extensionLength) else { return nil }
        headerPending = false
        position = start + fixed + Int(extensionLength)
        return .success(.everyShard(start..<position))
    }

    private mutating func binaryTuple(_ b: UnsafeBufferPointer<UInt8>, _ start: Int) -> Result<Cut, Failure>? {
        guard b.count - start >= 2 else { return nil }
        let fields = Int(Int16(bitPattern: UInt16(b[start]) << 8 | UInt16(b[start + 1])))
        if fields == -1 {
            // The trailer: every shard's data ends with it; anything after it is ignored.
            ended = true
            position = start + 2
            return .success(.everyShard(start..<position))
        }
        guard fields > keyIndex else {
            return .failure(Failure(message: fields < 0 ? "row field count is \(fields), expected at least \(keyIndex + 1)" : "missing data for column \"\(keyName)\""))
        }
        var index = start + 2
        var keyRange: Range<Int>?  // in `b`; nil: NULL
        for field in 0..<fields {
            guard b.count - index >= 4 else { return nil }
            let length = Int(int32(b, index))
            index += 4
            guard length >= -1 else { return .failure(Failure(message: "invalid field size")) }
            if length >= 0 {
                guard b.count - index >= length else { return nil }
                if field == keyIndex { keyRange = index..<(index + length) }
                index += length
            }
        }
        position = index
        guard let keyRange else { return .success(.row(start..<index, .null)) }
        let first = keyBytes.count
        keyBytes.append(contentsOf: UnsafeBufferPointer(rebasing: b[keyRange]))
        return .success(.row(start..<index, .value(first..<keyBytes.count)))
    }
}
