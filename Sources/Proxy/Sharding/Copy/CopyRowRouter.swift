import PluginABI

/// Asks the plugin chain for the shard of each row of a COPY FROM into a sharded table, many rows
/// at a time: the chain sees the COPY statement with one key value per row (group 0, `row` its
/// index in the batch) and answers a shard for all of them or, with PGPROXY_SHARD_ALL, one per
/// row in `row_shards` — as for a multi-row INSERT.
final class CopyRowRouter {
    /// Rows per call of the chain.
    static let batchLimit = 4096

    private let chain: PluginChain
    private let info: StatementInfo
    private let table: ShardedTableConfig
    private let shardCount: Int
    private let query: [UInt8]
    private let user: [UInt8]
    private let database: [UInt8]
    private let application: [UInt8]
    private let tableName: [UInt8]
    private let columnName: [UInt8]
    private let builder = InterceptedResult()
    private var values: [pgproxy_key_value] = []
    private var rowShards: [Int32] = []

    init(chain: PluginChain, info: StatementInfo, table: ShardedTableConfig, shardCount: Int,
         query: String, user: String, database: String, applicationName: String) {
        self.chain = chain
        self.info = info
        self.table = table
        self.shardCount = shardCount
        self.query = Array(query.utf8)
        self.user = Array(user.utf8)
        self.database = Array(database.utf8)
        self.application = Array(applicationName.utf8)
        tableName = Array(table.table.utf8)
        columnName = Array(table.column.utf8)
    }

    /// The shard of each of `keys` (at most `batchLimit`), whose values are in `keyBytes`; or
    /// the error that fails the COPY (a plugin blocked it, or no shard was given to a row).
    /// `binary`: the keys are in their type's binary (send) form, else text.
    func route(_ keys: [CopyRowSplitter.Key], keyBytes: [UInt8], binary: Bool, into shards: inout [Int]) -> ErrorFields? {
        shards.removeAll(keepingCapacity: true)
        guard !keys.isEmpty else { return nil }
        // The chain fills each entry with PGPROXY_SHARD_UNDECIDED before it asks the plugins.
        rowShards.removeAll(keepingCapacity: true)
        rowShards.append(contentsOf: repeatElement(PGPROXY_SHARD_UNDECIDED, count: keys.count))
        let outcome: PluginChain.Outcome = keyBytes.withUnsafeBytes { keyRaw in
            tableName.withUnsafeBytes { tableRaw in
                columnName.withUnsafeBytes { columnRaw in
                    values.removeAll(keepingCapacity: true)
                    for (row, key) in keys.enumerated() {
                        var entry = pgproxy_key_value()
                        entry.table = pgproxy_str(tableRaw)
                        entry.column = pgproxy_str(columnRaw)
                        entry.type = table.dataType.plugin
                        entry.group = 0
                        entry.row = Int32(row)
                        switch key {
                        case .null:
                            entry.kind = PGPROXY_VALUE_NULL
                        case .value(let range):
                            entry.kind = PGPROXY_VALUE_GIVEN
                            entry.format = binary ? 1 : 0
                            entry.value = pgproxy_str(UnsafeRawBufferPointer(rebasing: keyRaw[range]))
                        }
                        values.append(entry)
                    }
                    return routeValues()
                }
            }
        }
        switch outcome.action {
        case PGPROXY_ACTION_BLOCK:
            return Router.blockError(outcome)
        case PGPROXY_ACTION_INTERCEPT:
            return ErrorFields(.error, SQLState.featureNotSupported, "plugin \(outcome.decidedBy ?? "?") answered a COPY FROM itself, which pgproxy does not support")
        default:
            break
        }
        let decided = outcome.shard
        if decided >= 0, Int(decided) < shardCount {
            shards.append(contentsOf: repeatElement(Int(decided), count: keys.count))
            return nil
        }
        for shard in rowShards {
            guard shard >= 0, Int(shard) < shardCount else {
                return ErrorFields(.error, SQLState.featureNotSupported,
                    "no routing plugin gave row \(shards.count + 1) of this batch of COPY data a shard of database \"\(String(decoding: database, as: UTF8.self))\"",
                    hint: "load the rows with a plugin that shards \(table.table) (such as hash_sharder), or pick a shard with SET SHARD TO '<n>'")
            }
            shards.append(Int(shard))
        }
        return nil
    }

    private func routeValues() -> PluginChain.Outcome {
        query.withUnsafeBytes { queryRaw in
            user.withUnsafeBytes { userRaw in
                database.withUnsafeBytes { databaseRaw in
                    application.withUnsafeBytes { applicationRaw in
                        values.withUnsafeBufferPointer { valueBuffer in
                            rowShards.withUnsafeMutableBufferPointer { rows in
                                var context = pgproxy_route_context()
                                context.query = pgproxy_str(queryRaw)
                                context.describe(info)
                                context.flags = info.flags | PGPROXY_FLAG_SHARDED_TABLE
                                context.user = pgproxy_str(userRaw)
                                context.database = pgproxy_str(databaseRaw)
                                context.application_name = pgproxy_str(applicationRaw)
                                context.shard_hint = PGPROXY_SHARD_UNDECIDED
                                context.role_hint = PGPROXY_ROLE_PRIMARY
                                context.shard_count = Int32(shardCount)
                                context.sharding_key_type = table.dataType.plugin
                                context.key_values = valueBuffer.baseAddress
                                context.key_value_count = valueBuffer.count
                                var decision = pgproxy_route_decision()
                                return chain.route(&context, decision: &decision, builder: builder, rowShards: rows)
                            }
                        }
                    }
                }
            }
        }
    }
}
