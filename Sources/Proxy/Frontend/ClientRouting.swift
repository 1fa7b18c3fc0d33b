import Foundation
import NIOCore
import PluginABI

/// A routed client's routing state: the batch being held until it is complete, the session's
/// hints and transaction character, and the host in use. Only for clients of databases with
/// several hosts or when plugins are loaded; everyone else keeps the plain forwarding path.
final class ClientRouting {
    let router: Router
    let chain: PluginChain
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
    /// An ErrorResponse came since the batch was sent (for the statement-done event).
    var failed = false

    /// application_name as of `applicationNameVersion` of the client's parameters: looked up
    /// again only when a ParameterStatus or SET changed something, not for every batch.
    private var applicationName = ""
    private var applicationNameVersion = -1

    @inline(__always)
    func applicationName(from parameters: ClientParameters) -> String {
        if parameters.version != applicationNameVersion {
            applicationName = parameters.values["application_name"] ?? ""
            applicationNameVersion = parameters.version
        }
        return applicationName
    }

    init(router: Router, chain: PluginChain) {
        self.router = router
        self.chain = chain
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
        guard let backend else { return }
        backend.record(latencyMicros: Int(truncatingIfNeeded: micros))
        if chain.wantsEvents {
            var event = pgproxy_event()
            event.kind = PGPROXY_EVENT_STATEMENT_DONE
            event.backend_id = Int32(backend.id.load(ordering: .relaxed))
            event.database = backend.databaseString
            event.latency_ms = Double(micros) / 1000
            event.rows = -1
            event.failed = failed ? 1 : 0
            chain.send(&event)
        }
        failed = false
    }
}
