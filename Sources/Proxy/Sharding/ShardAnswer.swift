import NIOCore

/// A column of a RowDescription.
struct FieldDescription: Equatable, Sendable {
    var name: String
    var tableOID: UInt32
    var columnNumber: Int16
    var typeOID: UInt32
    var typeSize: Int16
    var typeModifier: Int32
    var format: Int16
}

/// One shard's answer to the statement, as read off the wire.
struct ShardAnswer {
    var fields: [FieldDescription]
    /// Text-format values (simple protocol), nil for NULL.
    var rows: [[ByteBuffer?]]
    var commandTag: String
}

extension ShardAnswer {
    /// The columns of a RowDescription body (without the 5-byte header); nil if malformed.
    static func readRowDescription(_ body: ByteBuffer) -> [FieldDescription]? {
        var body = body
        guard let count = body.readInteger(as: Int16.self), count >= 0 else { return nil }
        var fields: [FieldDescription] = []
        fields.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let name = body.readNullTerminatedString(),
                let tableOID = body.readInteger(as: UInt32.self),
                let columnNumber = body.readInteger(as: Int16.self),
                let typeOID = body.readInteger(as: UInt32.self),
                let typeSize = body.readInteger(as: Int16.self),
                let typeModifier = body.readInteger(as: Int32.self),
                let format = body.readInteger(as: Int16.self)
            else { return nil }
            fields.append(FieldDescription(
                name: name, tableOID: tableOID, columnNumber: columnNumber, typeOID: typeOID,
                typeSize: typeSize, typeModifier: typeModifier, format: format))
        }
        return body.readableBytes == 0 ? fields : nil
    }

    /// The values of a DataRow body (without the 5-byte header), nil for NULL; nil if malformed.
    static func readDataRow(_ body: ByteBuffer) -> [ByteBuffer?]? {
        var body = body
        guard let count = body.readInteger(as: Int16.self), count >= 0 else { return nil }
        var values: [ByteBuffer?] = []
        values.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let length = body.readInteger(as: Int32.self) else { return nil }
            if length < 0 {
                values.append(nil)
            } else {
                guard let value = body.readSlice(length: Int(length)) else { return nil }
                values.append(value)
            }
        }
        return body.readableBytes == 0 ? values : nil
    }
}

extension ByteBuffer {
    /// A RowDescription of the given columns, as they are.
    mutating func writeRowDescription(fields: [FieldDescription]) {
        writeMessage(id: BackendID.rowDescription) { body in
            body.writeInteger(Int16(fields.count))
            for field in fields {
                body.writeCString(field.name)
                body.writeInteger(field.tableOID)
                body.writeInteger(field.columnNumber)
                body.writeInteger(field.typeOID)
                body.writeInteger(field.typeSize)
                body.writeInteger(field.typeModifier)
                body.writeInteger(field.format)
            }
        }
    }

    /// A DataRow of raw values (nil = NULL).
    mutating func writeDataRow(values: [ByteBuffer?]) {
        writeMessage(id: BackendID.dataRow) { body in
            body.writeInteger(Int16(values.count))
            for value in values {
                if let value {
                    body.writeInteger(Int32(value.readableBytes))
                    body.writeImmutableBuffer(value)
                } else {
                    body.writeInteger(Int32(-1))
                }
            }
        }
    }
}
