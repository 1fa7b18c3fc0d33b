import Foundation
import NIOCore
import PluginABI

/// A routed client's routing state: the batch being held until it is complete, the session's
/// hints and transaction character, and the host in use. Only for clients of databases with
/// several hosts or when plugins are loaded; everyone else keeps the plain forwarding path.
final class ClientRouting {
    let router: Router
    let chain: PluginChain
    /// The client's user and database names, for the plugins (kept here so that routing a
    /// batch does not copy the whole login identity).
    let user: String
    let database: String
    let session = RoutingSession()
    /// Bytes are held in `pending` until the batch is complete.
    var holding = false
    /// The held batch has a Query, Parse or Bind.
    var batchHasStatement = false
    /// The held batch ends with something the server answers (Query, Sync, Flush, FunctionCall).
    var batchEnded = false
    /// ReadyForQuery messages the held batch will get.
    var batchResponses = 0
    /// The host of the server in use.
    private(set) var backend: Backend?
    /// A transaction of a sharded database that no server has seen yet.
    var deferred = DeferredTransaction.none
    /// An ErrorResponse came since the batch was sent (for the statement-done event).
    var failed = false
    /// Rows the batch's CommandCompletes reported; -1 when none had a count.
    private var rows: Int64 = -1

    /// A CommandComplete of the running batch (read only when plugins want events): its count,
    /// the tag's last word (`SELECT 5`, `INSERT 0 3`, `UPDATE 2`, `COPY 10`...).
    func count(commandTag body: ByteBuffer) {
        var value: Int64 = 0
        var multiplier: Int64 = 1
        var index = body.writerIndex - 1
        if body.getInteger(at: index, as: UInt8.self) == 0 { index -= 1 }  // the NUL
        var digits = 0
        while index >= body.readerIndex, let byte = body.getInteger(at: index, as: UInt8.self), byte >= 0x30, byte <= 0x39, digits < 18 {
            value += Int64(byte - 0x30) * multiplier
            multiplier *= 10
            digits += 1
            index -= 1
        }
        guard digits > 0, index >= body.readerIndex, body.getInteger(at: index, as: UInt8.self) == 0x20 else { return }
        rows = max(rows, 0) + value
    }

    /// application_name as of `applicationNameVersion` of the client's parameters: looked up
    /// again only when a ParameterStatus or SET changed something, not for every batch.
    private var applicationName = ""
    private var applicationNameVersion = -1

    @inline(__always)
    func applicationName(from parameters: ClientParameters) -> String {
        if parameters.version != applicationNameVersion {
            applicationName = parameters.values["application_name"] ?? ""
            applicationNameVersion = parameters.version
            applicationBytes.deallocate()
            applicationBytes = Self.copy(applicationName)
        }
        return applicationName
    }

    /// The names as the plugins get them: copies at fixed addresses, made at login (the
    /// application name again when it changes), so a route passes three pointers and no Strings.
    private let userBytes: UnsafeMutableRawBufferPointer
    private let databaseBytes: UnsafeMutableRawBufferPointer
    private var applicationBytes: UnsafeMutableRawBufferPointer

    /// User, database and application name for the plugins; valid while this object lives.
    @inline(__always)
    func pluginNames(from parameters: ClientParameters) -> Router.Names {
        _ = applicationName(from: parameters)
        return Router.Names(
            user: pgproxy_str(UnsafeRawBufferPointer(userBytes)), database: pgproxy_str(UnsafeRawBufferPointer(databaseBytes)),
            applicationName: pgproxy_str(UnsafeRawBufferPointer(applicationBytes)))
    }

    private static func copy(_ text: String) -> UnsafeMutableRawBufferPointer {
        let utf8 = text.utf8
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: utf8.count, alignment: 1)
        bytes.copyBytes(from: utf8)
        return bytes
    }

    init(router: Router, chain: PluginChain, user: String, database: String) {
        self.router = router
        self.chain = chain
        self.user = user
        self.database = database
        userBytes = Self.copy(user)
        databaseBytes = Self.copy(database)
        applicationBytes = Self.copy("")
    }

    deinit {
        userBytes.deallocate()
        databaseBytes.deallocate()
        applicationBytes.deallocate()
    }

    @inline(__always)
    func batchEnds(statement: Bool) {
        batchEnded = true
        batchResponses += 1
        if statement { batchHasStatement = true }
    }

    @inline(__always)
    func saw(_ id: UInt8) {
        if id == FrontendID.parse || id == FrontendID.bind { batchHasStatement = true }
        if id == FrontendID.flush { batchEnded = true }
    }

    /// Whether bytes just scanned must wait: always before a route is chosen, and with a server
    /// while a statement batch is incomplete (plugins see every statement). Bytes with no
    /// statement (COPY data) go straight through.
    @inline(__always)
    func holds(serverAttached: Bool, waiting: Bool, atBoundary: Bool) -> Bool {
        if waiting { return false }
        if !serverAttached { return true }
        return holding || batchHasStatement || !atBoundary
    }

    func resetBatch() {
        holding = false
        batchHasStatement = false
        batchEnded = false
        batchResponses = 0
    }

    @inline(__always)
    func attached(to backend: Backend) {
        self.backend = backend
        backend.activeClients.add(1, ordering: .relaxed)
    }

    @inline(__always)
    func detached() {
        backend?.activeClients.subtract(1, ordering: .relaxed)
        backend = nil
    }

    /// The last answer of a batch came: feed the latency to the backend and the plugins.
    @inline(__always)
    func batchDone(micros: UInt64, status: TransactionStatus) {
        defer {
            failed = false
            rows = -1
        }
        guard let backend else { return }
        backend.record(latencyMicros: Int(truncatingIfNeeded: micros))
        if chain.wantsEvents {
            var event = pgproxy_event()
            event.kind = PGPROXY_EVENT_STATEMENT_DONE
            event.backend_id = Int32(backend.id.load(ordering: .relaxed))
            event.database = backend.databaseString
            event.latency_ms = Double(micros) / 1000
            event.rows = rows
            event.failed = failed ? 1 : 0
            chain.send(&event)
        }
    }
}
