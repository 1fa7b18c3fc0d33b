import CLibPQ
import Foundation

/// What one libpq result said.
struct PQOutcome {
    var status: ExecStatusType
    var rows: [[String?]]
    var sqlState: String?
    var message: String?
    var commandTag: String
    /// Column names and type OIDs of a result set.
    var columns: [String] = []
    var types: [UInt32] = []

    var ok: Bool { status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY || status == PGRES_PIPELINE_SYNC }
    var firstValue: String? { rows.first?.first ?? nil }

    /// The rows as dictionaries from column name to value.
    var records: [[String: String]] {
        rows.map { row in
            Dictionary(uniqueKeysWithValues: zip(columns, row).map { ($0, $1 ?? "NULL") })
        }
    }
}

struct PQError: Error, CustomStringConvertible {
    var description: String
}

/// A small Swift face over libpq for the tests: the reference C client.
final class PQConnection {
    let raw: OpaquePointer
    private(set) var notices: [String] = []

    init(_ conninfo: String) throws {
        raw = PQconnectdb(conninfo)
        guard PQstatus(raw) == CONNECTION_OK else {
            // deinit runs PQfinish.
            throw PQError(description: String(cString: PQerrorMessage(raw)))
        }
        PQsetNoticeReceiver(raw, { context, result in
            let connection = Unmanaged<PQConnection>.fromOpaque(context!).takeUnretainedValue()
            connection.notices.append(String(cString: PQresultErrorMessage(result)))
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit { PQfinish(raw) }

    var isOK: Bool { PQstatus(raw) == CONNECTION_OK }
    var transactionStatus: PGTransactionStatusType { PQtransactionStatus(raw) }

    static func outcome(_ result: OpaquePointer?) -> PQOutcome {
        guard let result else { return PQOutcome(status: PGRES_FATAL_ERROR, rows: [], sqlState: nil, message: "no result", commandTag: "") }
        var rows: [[String?]] = []
        for row in 0..<PQntuples(result) {
            rows.append((0..<PQnfields(result)).map { column in
                PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
            })
        }
        let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
        let message = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) }
        return PQOutcome(
            status: PQresultStatus(result), rows: rows, sqlState: state, message: message,
            commandTag: String(cString: PQcmdStatus(result)),
            columns: (0..<PQnfields(result)).map { PQfname(result, $0).map { String(cString: $0) } ?? "" },
            types: (0..<PQnfields(result)).map { UInt32(PQftype(result, $0)) })
    }

    /// Runs a simple query; returns the last result (as libpq's PQexec does).
    @discardableResult
    func exec(_ sql: String) -> PQOutcome {
        let result = PQexec(raw, sql)
        defer { PQclear(result) }
        return Self.outcome(result)
    }

    /// Runs a simple query and returns every result it produced (multi-statement queries).
    func execAll(_ sql: String) -> [PQOutcome] {
        guard PQsendQuery(raw, sql) == 1 else { return [PQOutcome(status: PGRES_FATAL_ERROR, rows: [], sqlState: nil, message: lastError, commandTag: "")] }
        return drainResults()
    }

    /// Extended protocol with text parameters (unnamed statement).
    @discardableResult
    func execParams(_ sql: String, _ parameters: [String?]) -> PQOutcome {
        let result = withCStrings(parameters) { values in
            PQexecParams(raw, sql, Int32(parameters.count), nil, values, nil, nil, 0)
        }
        defer { PQclear(result) }
        return Self.outcome(result)
    }

    func prepare(_ name: String, _ sql: String) -> PQOutcome {
        let result = PQprepare(raw, name, sql, 0, nil)
        defer { PQclear(result) }
        return Self.outcome(result)
    }

    func execPrepared(_ name: String, _ parameters: [String?]) -> PQOutcome {
        let result = withCStrings(parameters) { values in
            PQexecPrepared(raw, name, Int32(parameters.count), values, nil, nil, 0)
        }
        defer { PQclear(result) }
        return Self.outcome(result)
    }

    var lastError: String { String(cString: PQerrorMessage(raw)) }

    // MARK: asynchronous use

    /// Sends a simple query without waiting for its results.
    func send(_ sql: String) -> Bool { PQsendQuery(raw, sql) == 1 }

    /// Whether results of a sent query are still awaited (reads what has arrived).
    var isBusy: Bool {
        PQconsumeInput(raw)
        return PQisBusy(raw) == 1
    }

    /// Waits for every result of the query sent last.
    func results() -> [PQOutcome] { drainResults() }

    /// Runs a simple query but gives up after `timeout` seconds without an answer (nil), where
    /// `exec` would wait forever: for tests of answers that might never come.
    func exec(_ sql: String, timeout: Double) -> PQOutcome? {
        guard send(sql) else { return PQOutcome(status: PGRES_FATAL_ERROR, rows: [], sqlState: nil, message: lastError, commandTag: "") }
        let deadline = Date().addingTimeInterval(timeout)
        while isBusy {
            guard Date() < deadline else { return nil }
            var descriptor = pollfd(fd: PQsocket(raw), events: Int16(POLLIN), revents: 0)
            _ = poll(&descriptor, 1, 50)
        }
        return drainResults().last
    }

    // MARK: pipeline mode

    /// Sends every statement in pipeline mode with a Sync after each group, then collects results.
    func pipeline(_ groups: [[(String, [String?])]]) throws -> [[PQOutcome]] {
        guard PQenterPipelineMode(raw) == 1 else { throw PQError(description: lastError) }
        for group in groups {
            for (sql, parameters) in group {
                let sent = withCStrings(parameters) { values in
                    PQsendQueryParams(raw, sql, Int32(parameters.count), nil, values, nil, nil, 0)
                }
                guard sent == 1 else { throw PQError(description: lastError) }
            }
            guard PQpipelineSync(raw) == 1 else { throw PQError(description: lastError) }
        }
        var outcomes: [[PQOutcome]] = []
        for group in groups {
            var results: [PQOutcome] = []
            for _ in group {
                let result = PQgetResult(raw)
                results.append(Self.outcome(result))
                PQclear(result)
                // Each statement's results end with a NULL.
                if let extra = PQgetResult(raw) { PQclear(extra) }
            }
            let sync = PQgetResult(raw)
            results.append(Self.outcome(sync))
            PQclear(sync)
            outcomes.append(results)
        }
        guard PQexitPipelineMode(raw) == 1 else { throw PQError(description: lastError) }
        return outcomes
    }

    /// One message group of `pipelineSteps`.
    enum PipelineStep {
        case prepare(String, String)
        case execPrepared(String, [String?])
        case query(String, [String?])
        case sync
    }

    /// Sends the steps in pipeline mode and returns one outcome per step (a Sync's is
    /// PGRES_PIPELINE_SYNC; a step skipped after an error is PGRES_PIPELINE_ABORTED).
    func pipelineSteps(_ steps: [PipelineStep]) throws -> [PQOutcome] {
        guard PQenterPipelineMode(raw) == 1 else { throw PQError(description: lastError) }
        for step in steps {
            let sent: Int32
            switch step {
            case .prepare(let name, let sql): sent = PQsendPrepare(raw, name, sql, 0, nil)
            case .execPrepared(let name, let parameters):
                sent = withCStrings(parameters) { PQsendQueryPrepared(raw, name, Int32(parameters.count), $0, nil, nil, 0) }
            case .query(let sql, let parameters):
                sent = withCStrings(parameters) { PQsendQueryParams(raw, sql, Int32(parameters.count), nil, $0, nil, nil, 0) }
            case .sync: sent = PQpipelineSync(raw)
            }
            guard sent == 1 else { throw PQError(description: lastError) }
        }
        var outcomes: [PQOutcome] = []
        for step in steps {
            let result = PQgetResult(raw)
            outcomes.append(Self.outcome(result))
            PQclear(result)
            if case .sync = step { continue }
            // Each statement's results end with a NULL.
            if let extra = PQgetResult(raw) { PQclear(extra) }
        }
        guard PQexitPipelineMode(raw) == 1 else { throw PQError(description: lastError) }
        return outcomes
    }

    // MARK: COPY

    /// `extended`: started with the extended protocol (PQexecParams), as many drivers do; libpq
    /// then sends a Sync after the Execute and another after CopyDone.
    func copyIn(_ sql: String, chunks: Int, chunk: String, extended: Bool = false) -> PQOutcome {
        let start = extended ? PQexecParams(raw, sql, 0, nil, nil, nil, nil, 0) : PQexec(raw, sql)
        guard PQresultStatus(start) == PGRES_COPY_IN else { defer { PQclear(start) }; return Self.outcome(start) }
        PQclear(start)
        let bytes = Array(chunk.utf8)
        for _ in 0..<chunks {
            _ = bytes.withUnsafeBufferPointer { pointer in
                pointer.withMemoryRebound(to: CChar.self) { PQputCopyData(raw, $0.baseAddress, Int32(bytes.count)) }
            }
        }
        PQputCopyEnd(raw, nil)
        return drainResults().last ?? PQOutcome(status: PGRES_FATAL_ERROR, rows: [], sqlState: nil, message: "no result", commandTag: "")
    }

    /// Runs COPY ... FROM STDIN with `pieces` sent as they are (one CopyData each); ends with
    /// CopyFail and `failure` when given.
    func copyIn(_ sql: String, pieces: [String], failure: String? = nil) -> PQOutcome {
        copyIn(sql, bytes: pieces.map { Array($0.utf8) }, failure: failure)
    }

    func copyIn(_ sql: String, bytes pieces: [[UInt8]], failure: String? = nil) -> PQOutcome {
        let start = PQexec(raw, sql)
        guard PQresultStatus(start) == PGRES_COPY_IN else { defer { PQclear(start) }; return Self.outcome(start) }
        PQclear(start)
        for bytes in pieces {
            _ = bytes.withUnsafeBufferPointer { pointer in
                pointer.withMemoryRebound(to: CChar.self) { PQputCopyData(raw, $0.baseAddress, Int32(bytes.count)) }
            }
        }
        PQputCopyEnd(raw, failure)
        return drainResults().last ?? PQOutcome(status: PGRES_FATAL_ERROR, rows: [], sqlState: nil, message: "no result", commandTag: "")
    }

    /// Runs COPY ... TO STDOUT; returns the byte count received and the final outcome.
    func copyOut(_ sql: String) -> (bytes: Int, outcome: PQOutcome) {
        let start = PQexec(raw, sql)
        guard PQresultStatus(start) == PGRES_COPY_OUT else { defer { PQclear(start) }; return (0, Self.outcome(start)) }
        PQclear(start)
        var total = 0
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let count = PQgetCopyData(raw, &buffer, 0)
            if count > 0 { total += Int(count) }
            if let buffer { PQfreemem(buffer) }
            if count < 0 { break }
        }
        return (total, drainResults().last ?? PQOutcome(status: PGRES_FATAL_ERROR, rows: [], sqlState: nil, message: "no result", commandTag: ""))
    }

    /// Runs COPY ... TO STDOUT as a slow reader: `pause` microseconds between reads of what has
    /// arrived, so the proxy sees a client that falls behind. Returns the byte count and the final
    /// outcome (the error, if reading failed midway).
    func copyOutSlowly(_ sql: String, pause: useconds_t) -> (bytes: Int, outcome: PQOutcome) {
        guard send(sql) else { return (0, PQOutcome(status: PGRES_FATAL_ERROR, rows: [], sqlState: nil, message: lastError, commandTag: "")) }
        let start = PQgetResult(raw)
        guard PQresultStatus(start) == PGRES_COPY_OUT else { defer { PQclear(start) }; return (0, Self.outcome(start)) }
        PQclear(start)
        var total = 0
        var finished = false
        while !finished {
            usleep(pause)
            PQconsumeInput(raw)
            while true {
                var row: UnsafeMutablePointer<CChar>?
                let count = PQgetCopyData(raw, &row, 1)
                if let row { PQfreemem(row) }
                if count > 0 {
                    total += Int(count)
                    continue
                }
                finished = count < 0
                break
            }
        }
        return (total, drainResults().last ?? PQOutcome(status: PGRES_FATAL_ERROR, rows: [], sqlState: nil, message: "no result", commandTag: ""))
    }

    private func drainResults() -> [PQOutcome] {
        var outcomes: [PQOutcome] = []
        while let result = PQgetResult(raw) {
            outcomes.append(Self.outcome(result))
            PQclear(result)
        }
        return outcomes
    }

    // MARK: cancel and notifications

    /// Sends a CancelRequest on a new connection, as an application would from another thread.
    func cancel() -> Bool {
        guard let cancel = PQgetCancel(raw) else { return false }
        defer { PQfreeCancel(cancel) }
        var errorBuffer = [CChar](repeating: 0, count: 256)
        return PQcancel(cancel, &errorBuffer, 256) == 1
    }

    func notifications() -> [(channel: String, payload: String)] {
        PQconsumeInput(raw)
        var received: [(String, String)] = []
        while let notify = PQnotifies(raw) {
            received.append((String(cString: notify.pointee.relname), String(cString: notify.pointee.extra)))
            PQfreemem(notify)
        }
        return received
    }

    var backendPID: Int32 { PQbackendPID(raw) }
}

private func withCStrings<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0) } ?? nil }
    defer { pointers.forEach { free($0) } }
    return pointers.withUnsafeMutableBufferPointer { buffer in
        buffer.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buffer.count) { body($0) }
    }
}
