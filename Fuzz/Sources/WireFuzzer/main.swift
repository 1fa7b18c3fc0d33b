import NIOCore

/// libFuzzer's entry point. The first byte picks a decoder and how the rest is cut into reads;
/// a decoder may refuse its input (throw) but must never crash, hang or disagree with another.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    guard let selector = bytes.first else { return 0 }
    let input = ByteBuffer(bytes: bytes.dropFirst())
    switch selector % 5 {
    case 0: startupPackets(input)
    case 1: scannerAgreesWithFramer(input, readSize: 1 + Int(selector / 5) % 17)
    case 2: errorAndNoticeBodies(input)
    case 3: scramFromAClient(Array(input.readableBytesView), binding: selector >= 128)
    default: serverLogin(input, binding: selector >= 128)
    }
    return 0
}

/// The verifier every SCRAM input is checked against (one PBKDF2 run per process).
private let verifier = SCRAMVerifier.make(password: "secret", salt: Array("0123456789abcdef".utf8), iterations: 4096)
private let endPoint = [UInt8](repeating: 0xAB, count: 32)

/// A client's SASLInitialResponse and SASLResponse as pgproxy parses them before any password
/// is known to be right: the two messages are the input split at its first zero byte.
private func scramFromAClient(_ bytes: [UInt8], binding: Bool) {
    let cut = bytes.firstIndex(of: 0) ?? bytes.count
    var exchange = SCRAMServerExchange(verifier: verifier, channelBinding: binding ? endPoint : nil, bindingSelected: binding)
    guard (try? exchange.receiveClientFirst(Array(bytes[..<cut]))) != nil else { return }
    let final = cut < bytes.count ? Array(bytes[(cut + 1)...]) : []
    if (try? exchange.receiveClientFinal(final)) != nil {
        // Only the real password's proof may pass, and no fuzzer finds that by chance.
        preconditionFailure("a SCRAM proof passed without the password")
    }
}

/// What a server sends while pgproxy logs in (authentication requests, SCRAM messages,
/// parameters, errors), framed as messages. Keys stand in for the password, so a hostile
/// iteration count costs nothing here.
private func serverLogin(_ input: ByteBuffer, binding: Bool) {
    var credentials = ServerCredentials(user: "app", database: "app", secret: .md5("md5" + String(repeating: "0", count: 32)))
    credentials.scramKeys = (Array(repeating: 1, count: 32), Array(repeating: 2, count: 32))
    var login = ServerLogin(credentials: credentials)
    if binding { login.channelBinding = endPoint }
    var framer = MessageFramer(maximumLength: 1 << 16)
    framer.append(input)
    while let (id, body) = try? framer.next() {
        guard let action = try? login.receive(id: id, body: body) else { return }
        if case .ready = action { return }
    }
}

/// What a client sends first: StartupMessage, SSLRequest, GSSENCRequest, CancelRequest.
private func startupPackets(_ input: ByteBuffer) {
    var buffer = input
    while true {
        let before = buffer.readableBytes
        guard let packet = try? StartupPacket.decode(from: &buffer) else { return }
        if case .startup(_, let parameters) = packet {
            precondition(parameters.allSatisfy { !$0.0.isEmpty }, "a startup parameter without a name")
        }
        precondition(buffer.readableBytes < before, "a decoded packet consumed nothing")
    }
}

/// The forwarding path's streaming scanner, fed in reads of `readSize` bytes, must report the
/// same messages (type, end, captured body) as the whole-buffer framer the login path uses,
/// and refuse the stream exactly where the framer does.
private func scannerAgreesWithFramer(_ input: ByteBuffer, readSize: Int) {
    let captured: [UInt8] = [UInt8(ascii: "Z"), UInt8(ascii: "E"), UInt8(ascii: "S"), UInt8(ascii: "C")]
    var framer = MessageFramer(maximumLength: 1 << 16)
    framer.append(input)
    var framed: [(id: UInt8, end: Int, body: [UInt8]?)] = []
    var framerFailed = false
    var offset = 0
    while true {
        do {
            guard let (id, body) = try framer.next() else { break }
            offset += 5 + body.readableBytes
            guard id < 128 else { continue }  // MessageSet holds ASCII types only
            framed.append((id, offset, captured.contains(id) ? Array(body.readableBytesView) : nil))
        } catch {
            framerFailed = true
            break
        }
    }

    var scanner = MessageScanner(notify: MessageSet(Array(0..<128)), capture: MessageSet(captured), maximumLength: 1 << 16)
    var scanned: [(id: UInt8, end: Int, body: [UInt8]?)] = []
    var scannerFailed = false
    var start = 0
    var stream = input
    while stream.readableBytes > 0, !scannerFailed {
        let read = stream.readSlice(length: min(readSize, stream.readableBytes))!
        do {
            try scanner.scan(read) { id, body, end in
                scanned.append((id, start + end - read.readerIndex, body.map { Array($0.readableBytesView) }))
            }
        } catch {
            scannerFailed = true
        }
        start += read.readableBytes
    }
    precondition(scannerFailed == framerFailed, "one refused the stream, the other did not")
    precondition(scanned.count == framed.count, "\(scanned.count) messages scanned, \(framed.count) framed")
    for (left, right) in zip(scanned, framed) {
        precondition(left.id == right.id && left.end == right.end && left.body == right.body, "scanner and framer disagree")
    }
}

/// ErrorResponse and NoticeResponse bodies, as pgproxy reads them from servers.
private func errorAndNoticeBodies(_ input: ByteBuffer) {
    let fields = ErrorFields.decode(body: input)
    var out = ByteBuffer()
    fields.write(into: &out)
    precondition(out.readableBytes >= 5, "an ErrorResponse is at least a header")
}
