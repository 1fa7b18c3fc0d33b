import NIOCore

/// Messages pgproxy itself sends to clients (login, its own errors, its own result sets).
extension ByteBuffer {
    mutating func writeAuthenticationRequest(code: Int32, _ payload: [UInt8] = []) {
        writeMessage(id: BackendID.authentication) { body in
            body.writeInteger(code)
            body.writeBytes(payload)
        }
    }

    mutating func writeAuthenticationSASL(mechanisms: [String]) {
        writeMessage(id: BackendID.authentication) { body in
            body.writeInteger(Int32(10))
            for mechanism in mechanisms { body.writeCString(mechanism) }
            body.writeInteger(UInt8(0))
        }
    }

    mutating func writeParameterStatus(_ name: String, _ value: String) {
        writeMessage(id: BackendID.parameterStatus) { body in
            body.writeCString(name)
            body.writeCString(value)
        }
    }

    mutating func writeBackendKeyData(processID: Int32, secretKey: Int32) {
        writeMessage(id: BackendID.backendKeyData) { body in
            body.writeInteger(processID)
            body.writeInteger(secretKey)
        }
    }

    mutating func writeReadyForQuery(_ status: TransactionStatus) {
        writeMessage(id: BackendID.readyForQuery) { body in body.writeInteger(status.rawValue) }
    }

    mutating func writeCommandComplete(_ tag: String) {
        writeMessage(id: BackendID.commandComplete) { body in body.writeCString(tag) }
    }

    mutating func writeNegotiateProtocolVersion(newestMinor: Int32, unrecognized: [String]) {
        writeMessage(id: BackendID.negotiateProtocolVersion) { body in
            body.writeInteger(newestMinor)
            body.writeInteger(Int32(unrecognized.count))
            for option in unrecognized { body.writeCString(option) }
        }
    }

    /// A RowDescription whose columns are all text (OID 25).
    mutating func writeTextRowDescription(_ columns: [String]) {
        writeRowDescription(columns.map { ($0, 25, -1) })
    }

    /// A RowDescription of text-format columns with the given type OIDs and sizes, as admin
    /// commands return.
    mutating func writeRowDescription(_ columns: [(name: String, typeOID: Int32, size: Int16)]) {
        writeMessage(id: BackendID.rowDescription) { body in
            body.writeInteger(Int16(columns.count))
            for column in columns {
                body.writeCString(column.name)
                body.writeInteger(Int32(0))  // table oid
                body.writeInteger(Int16(0))  // column number
                body.writeInteger(column.typeOID)
                body.writeInteger(column.size)
                body.writeInteger(Int32(-1))  // type modifier
                body.writeInteger(Int16(0))  // text format
            }
        }
    }

    mutating func writeDataRow(_ values: [String?]) {
        writeMessage(id: BackendID.dataRow) { body in
            body.writeInteger(Int16(values.count))
            for value in values {
                if let value {
                    body.writeInteger(Int32(value.utf8.count))
                    body.writeString(value)
                } else {
                    body.writeInteger(Int32(-1))
                }
            }
        }
    }
}

/// Messages pgproxy sends to servers on its own behalf (login, sync queries, reset, cancel).
extension ByteBuffer {
    mutating func writeStartupMessage(parameters: [(String, String)]) {
        writeUntypedMessage { body in
            body.writeInteger(StartupCode.protocol3)
            for (name, value) in parameters {
                body.writeCString(name)
                body.writeCString(value)
            }
            body.writeInteger(UInt8(0))
        }
    }

    mutating func writeCancelRequest(processID: Int32, secretKey: Int32) {
        writeUntypedMessage { body in
            body.writeInteger(StartupCode.cancelRequest)
            body.writeInteger(processID)
            body.writeInteger(secretKey)
        }
    }

    mutating func writePasswordMessage(_ password: String) {
        writeMessage(id: FrontendID.password) { body in body.writeCString(password) }
    }

    mutating func writeSASLInitialResponse(mechanism: String, _ data: [UInt8]) {
        writeMessage(id: FrontendID.password) { body in
            body.writeCString(mechanism)
            body.writeInteger(Int32(data.count))
            body.writeBytes(data)
        }
    }

    mutating func writeSASLResponse(_ data: [UInt8]) {
        writeMessage(id: FrontendID.password) { body in body.writeBytes(data) }
    }

    mutating func writeQuery(_ sql: String) {
        writeMessage(id: FrontendID.query) { body in body.writeCString(sql) }
    }

    mutating func writeTerminate() {
        writeMessage(id: FrontendID.terminate) { _ in }
    }

    mutating func writeCopyFail(_ message: String) {
        writeMessage(id: FrontendID.copyFail) { body in body.writeCString(message) }
    }
}
