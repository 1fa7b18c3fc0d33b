import Foundation
import NIOCore
import PluginABI

/// Routes statement batches for the clients of one event loop: reads the batch's statement,
/// finds its analysis in the shape cache (parsing on a miss), asks the plugin chain, and turns
/// the answer into a host. Owns scratch space reused by every route, so a route allocates nothing.
final class Router {
    let cache: RoutingCache
    let chain: PluginChain
    private var params: UnsafeMutablePointer<pgproxy_param>
    private var paramCapacity = 16
    private var backends: UnsafeMutablePointer<pgproxy_backend>
    private var backendCapacity = 8
    private var builder = InterceptedResult()
    /// The chain's decision, reused by every route.
    private let decision = UnsafeMutablePointer<pgproxy_route_decision>.allocate(capacity: 1)
    private let keyValues = ShardKeyValues()
    /// Merge plans of cross-shard reads run by this event loop's clients.
    let mergePlans = MergePlanCache()
    /// The shard of each row of a multi-row INSERT, as the chain assigned them.
    private var rowShards: UnsafeMutablePointer<Int32>
    private var rowShardCapacity = 16
    /// Batches that got a statement through the chain, blocked, intercepted (SHOW ROUTING).
    private(set) var routed: UInt64 = 0
    private(set) var blocked: UInt64 = 0
    private(set) var intercepted: UInt64 = 0

    init(chain: PluginChain, cacheLimit: Int) {
        self.chain = chain
        self.cache = RoutingCache(limit: cacheLimit)
        params = .allocate(capacity: paramCapacity)
        backends = .allocate(capacity: backendCapacity)
        rowShards = .allocate(capacity: rowShardCapacity)
        decision.initialize(to: pgproxy_route_decision())
    }

    deinit {
        params.deallocate()
        backends.deallocate()
        rowShards.deallocate()
        decision.deallocate()
    }

    /// What to do with a batch.
    enum Result {
        /// Send it on; `backend` is the host for a new transaction (nil: keep the current one).
        case forward(backend: Backend?, info: StatementInfo?)
        case block(ErrorFields)
        case intercept(InterceptedResult)
        /// pgproxy's own SET command, answered by pgproxy.
        case hint(SessionHint)
        /// No host can take the statement (no primary is known).
        case unavailable(ErrorFields)
        /// A statement to run on every shard, on hosts of `role`: a read with the answers
        /// merged, or a write committed everywhere or nowhere.
        /// `copies`: a write to omnisharded tables only, whose shards hold the same rows.
        case fanout(role: BackendRoleChoice, write: Bool, copies: Bool = false, tables: [String])
        /// A multi-row INSERT whose rows belong to different shards: each row's shard.
        case splitInsert(rowShards: [Int])
        /// COPY FROM STDIN into a sharded table: its rows are split among the shards.
        case copyIn(info: StatementInfo)
    }

    /// The client's names, as the plugins get them (pointers the caller keeps valid).
    struct Names {
        var user: pgproxy_str
        var database: pgproxy_str
        var applicationName: pgproxy_str
    }

    /// Who is asking, and where the client stands.
    struct Client {
        var names: Names
        var session: RoutingSession
        /// A server is attached and inside a transaction: the host is fixed.
        var inTransaction: Bool
        /// A server is attached (transaction or session mode): only block/intercept matter.
        var attached: Bool
        /// The shard of the attached server, in a database with shards.
        var shard: Int?
    }

    /// Routes `batch` (complete client messages). `topology` lists the candidate hosts.
    func route(_ batch: ByteBuffer, client: Client, topology: DatabaseTopology) -> Result {
        batch.withUnsafeReadableBytes { raw in
            route(raw, client: client, topology: topology)
        }
    }

    private func route(_ raw: UnsafeRawBufferPointer, client: Client, topology: DatabaseTopology) -> Result {
        guard let found = BatchReader.read(raw, session: client.session, params: &params, capacity: &paramCapacity) else {
            // Nothing to analyse (e.g. only Sync): keep where we are, or default.
            return .forward(backend: client.attached ? nil : topology.primary, info: nil)
        }
        if !found.extended, found.singleQuery, let hint = found.text.withBytes(raw, { SessionHint.parse($0) }) {
            return .hint(hint)
        }
        routed &+= 1
        guard !chain.isEmpty || topology.isSharded else {
            // Without plugins only a role hint can send a statement elsewhere than the primary.
            guard !client.attached else { return .forward(backend: nil, info: nil) }
            return choose(role: defaultRole(shape: shape(of: found, raw), session: client.session), backendID: nil, topology: topology, info: nil)
        }
        let shape = shape(of: found, raw)
        let info: StatementInfo
        if let known = found.prepared?.info {
            info = known
        } else {
            info = found.text.withBytes(raw) { cache.info(text: $0, shape: shape) }
            found.prepared?.info = info
        }
        return runChain(raw, found: found, info: info, shape: shape, client: client, topology: topology)
    }

    /// The statement's shape; a named statement's is scanned once, at its first Bind.
    private func shape(of found: BatchReader.Found, _ raw: UnsafeRawBufferPointer) -> StatementShape {
        if let known = found.prepared?.shape { return known }
        let shape = found.text.withBytes(raw) { StatementShape.scan($0) }
        found.prepared?.shape = shape
        return shape
    }

    /// Without plugins: the session's or the comment's role hint, else the primary.
    private func defaultRole(shape: StatementShape, session: RoutingSession) -> BackendRoleChoice {
        switch shape.roleHint ?? session.roleHint {
        case .replica?: return .replica
        default: return .primary
        }
    }

    private func runChain(
        _ raw: UnsafeRawBufferPointer, found: BatchReader.Found, info: StatementInfo, shape: StatementShape,
        client: Client, topology: DatabaseTopology
    ) -> Result {
        let backendCount = topology.backends.count
        if backendCount > backendCapacity {
            backends.deallocate()
            backendCapacity = backendCount
            backends = .allocate(capacity: backendCapacity)
        }
        for (index, backend) in topology.backends.enumerated() {
            backends[index] = pgproxy_backend(
                id: Int32(backend.id.load(ordering: .relaxed)), role: backend.pluginRole, shard: Int32(topology.shards[index]),
                weight: Int32(backend.weight),
                healthy: backend.isAvailable ? 1 : 0,
                active_connections: Int32(backend.activeClients.load(ordering: .relaxed)), idle_connections: 0,
                latency_avg_ms: backend.latencyAverageMilliseconds, latency_p99_ms: backend.latencyP99Milliseconds,
                host: backend.hostString, port: Int32(backend.address.port),
                waiting_clients: 0)
        }
        let session = client.session
        let hint = shape.roleHint ?? session.roleHint
        let shardHint: Int32? = shape.shardHint.map { $0 < 0 ? nil : $0 } ?? (shape.shardingKeyHint == nil ? session.shard : nil)
        let sharded = topology.isSharded
        let tableFlags = sharded ? ShardKeyValues.tableFlags(info, topology.sharding) : 0
        // A multi-row INSERT into a sharded table: the chain may give each row its shard.
        var rowCount = 0
        if tableFlags & PGPROXY_FLAG_SHARDED_TABLE != 0, info.statementCount == 1, info.commands.strings.first == "INSERT" {
            rowCount = Int(info.columnValues.lazy.map(\.row).max() ?? 0) + 1
            if rowCount < 2 { rowCount = 0 }
            if rowCount > rowShardCapacity {
                rowShards.deallocate()
                rowShardCapacity = rowCount
                rowShards = .allocate(capacity: rowShardCapacity)
            }
        }
        let rows = rowCount > 0 ? UnsafeMutableBufferPointer(start: rowShards, count: rowCount) : nil
        let outcome: PluginChain.Outcome = found.text.withBytes(raw) { text in
            (session.shardingKey ?? []).withUnsafeBufferPointer { sessionKey in
                var context = pgproxy_route_context()
                context.query = pgproxy_str(text)
                context.describe(info)
                context.flags = info.flags | tableFlags
                context.extended = found.extended ? 1 : 0
                context.in_transaction = client.inTransaction ? 1 : 0
                context.transaction_has_written = session.transactionHasWritten ? 1 : 0
                context.transaction_read_only = session.transactionReadOnly ? 1 : 0
                context.user = client.names.user
                context.database = client.names.database
                context.application_name = client.names.applicationName
                context.params = UnsafePointer(params)
                context.param_count = found.paramCount
                if let range = shape.shardingKeyHint {
                    context.sharding_key_hint = pgproxy_str(UnsafeRawBufferPointer(rebasing: text[range]))
                } else if shape.shardHint == nil {
                    context.sharding_key_hint = pgproxy_str(UnsafeRawBufferPointer(sessionKey))
                }
                context.shard_hint = shardHint ?? PGPROXY_SHARD_UNDECIDED
                context.role_hint = hint == .primary ? PGPROXY_ROLE_PRIMARY : hint == .replica ? PGPROXY_ROLE_REPLICA : PGPROXY_ROLE_UNDECIDED
                context.backends = UnsafePointer(backends)
                context.backend_count = backendCount
                context.shard_count = Int32(topology.shardCount)
                if sharded {
                    context.sharding_key_type = topology.sharding.keyType.plugin
                    context.key_value_count = keyValues.fill(
                        info, text: text, params: params, paramCount: found.paramCount, sharding: topology.sharding)
                    context.key_values = UnsafePointer(keyValues.values)
                }
                guard chain.wantsParseTree else { return chain.route(&context, decision: decision, builder: builder, rowShards: rows) }
                return StatementInfo.withParseTree(of: text) { tree in
                    context.parse_tree = tree.baseAddress?.assumingMemoryBound(to: UInt8.self)
                    context.parse_tree_len = tree.count
                    return chain.route(&context, decision: decision, builder: builder, rowShards: rows)
                }
            }
        }
        switch outcome.action {
        case PGPROXY_ACTION_BLOCK:
            blocked &+= 1
            return .block(Self.blockError(outcome))
        case PGPROXY_ACTION_INTERCEPT:
            intercepted &+= 1
            let result = builder
            builder = InterceptedResult()
            return .intercept(result)
        default:
            if !builder.columns.isEmpty || !builder.rows.isEmpty { builder = InterceptedResult() }
        }
        var shard = client.shard ?? 0
        if sharded, found.executes, outcome.shard == PGPROXY_SHARD_ALL, let rows, rows.allSatisfy({ $0 >= 0 && $0 < topology.shardCount }),
           !client.inTransaction, !found.extended, found.singleQuery {
            return .splitInsert(rowShards: rows.map { Int($0) })
        }
        if sharded, found.executes {
            switch resolveShard(
                outcome.shard, hint: shardHint, flags: info.flags | tableFlags, info: info,
                current: client.attached ? client.shard : nil, topology: topology) {
            case .shard(let decided): shard = decided
            case .every:
                guard !client.inTransaction, !found.extended, found.singleQuery else {
                    blocked &+= 1
                    return .block(ErrorFields(.error, SQLState.featureNotSupported,
                        "the statement reads sharded tables without a sharding key, so it needs every shard of database \"\(topology.name)\"; pgproxy runs such reads "
                            + (client.inTransaction ? "outside transactions only" : "only as simple-protocol queries (not Parse/Bind/Execute) for now"),
                        hint: "give the sharding key in the statement, with SET SHARDING KEY TO '<key>', or pick a shard with SET SHARD TO '<n>'"))
                }
                return .fanout(role: Self.role(outcome.role, hint: hint), write: false, tables: info.tables.strings)
            case .everyWrite:
                guard !client.inTransaction, !found.extended, found.singleQuery else {
                    blocked &+= 1
                    return .block(Self.crossShardRefusal(info: info, flags: info.flags | tableFlags, topology: topology))
                }
                let copies = (info.flags | tableFlags) & PGPROXY_FLAG_SHARDED_TABLE == 0
                return .fanout(role: .primary, write: true, copies: copies, tables: info.tables.strings)
            case .everyCopy:
                guard !client.inTransaction, !found.extended, found.singleQuery else {
                    blocked &+= 1
                    return .block(ErrorFields(.error, SQLState.featureNotSupported,
                        "COPY FROM into sharded tables needs every shard of database \"\(topology.name)\"; pgproxy splits its rows among the shards "
                            + (client.inTransaction
                                ? "only outside transactions (a transaction on several shards needs two-phase commit, which pgproxy does not do yet)"
                                : "only as a simple-protocol query (not Parse/Bind/Execute) for now"),
                        hint: "run the COPY on its own, or load each shard's rows with SET SHARD TO '<n>' and COPY"))
                }
                return .copyIn(info: info)
            case .refused(let error):
                blocked &+= 1
                return .block(error)
            }
            if let current = client.shard, client.attached, current != shard {
                blocked &+= 1
                return .block(ErrorFields(.error, SQLState.featureNotSupported,
                    "this transaction runs on shard \(current) of database \"\(topology.name)\"; the statement belongs to shard \(shard)",
                    hint: "a transaction that touches two shards needs two-phase commit, which pgproxy does not do yet: run it as separate transactions, one per shard"))
            }
        }
        guard !client.attached else { return .forward(backend: nil, info: info) }
        let role = Self.role(outcome.role, hint: hint)
        let backendID = outcome.backendID >= 0 ? Int(outcome.backendID) : nil
        return choose(role: role, backendID: backendID, shard: shard, topology: topology, info: info)
    }

    /// The chain's role, else the hint's, else the primary.
    private static func role(_ decided: pgproxy_role, hint: StatementShape.RoleHint?) -> BackendRoleChoice {
        switch decided {
        case PGPROXY_ROLE_REPLICA: return .replica
        case PGPROXY_ROLE_ANY: return .any
        case PGPROXY_ROLE_PRIMARY: return .primary
        default: return hint == .replica ? .replica : .primary
        }
    }

    private func choose(role: BackendRoleChoice, backendID: Int?, shard: Int = 0, topology: DatabaseTopology, info: StatementInfo?) -> Result {
        if let backendID, let backend = topology.backend(id: backendID) { return .forward(backend: backend, info: info) }
        if topology.backends.count == 1 { return .forward(backend: topology.backends[0], info: info) }
        guard let backend = topology.select(role: role, shard: shard) else {
            let which = topology.isSharded ? " in shard \(shard)" : ""
            return .unavailable(ErrorFields(.error, SQLState.cannotConnectNow,
                "no primary is known for database \"\(topology.name)\"\(which): every host that could take writes is down or in recovery",
                hint: "pgproxy finds the new primary on its next health check"))
        }
        return .forward(backend: backend, info: info)
    }

    static func blockError(_ outcome: PluginChain.Outcome) -> ErrorFields {
        let state = outcome.blockState, message = outcome.blockMessage
        let valid = state.count == 5 && state.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) }
        return ErrorFields(.error, valid ? state : SQLState.insufficientPrivilege,
                           message.isEmpty ? "statement blocked by plugin \(outcome.decidedBy ?? "?")" : message)
    }
}

extension pgproxy_str {
    init(_ bytes: UnsafeRawBufferPointer) {
        self.init(ptr: bytes.baseAddress?.assumingMemoryBound(to: CChar.self), len: bytes.count)
    }
}
