import PluginABI

extension Router {
    enum ShardChoice {
        case shard(Int)
        /// A read that needs every shard: run it on each and merge the answers.
        case every
        /// A write for every shard: run it on each, commit everywhere or nowhere.
        case everyWrite
        /// COPY FROM into a sharded table (each row goes to its shard) or an omnisharded one
        /// (every row to every shard).
        case everyCopy
        case refused(ErrorFields)
    }

    /// The shard a statement of a sharded database runs on: the chain's answer, else the shard
    /// hint, else (for statements that name no sharded table) the shard of the transaction in
    /// progress or shard 0. A statement that would need several shards is refused with the
    /// reason, never sent to one of them.
    func resolveShard(
        _ decided: Int32, hint: Int32?, flags: UInt32, info: StatementInfo, current: Int?, topology: DatabaseTopology
    ) -> ShardChoice {
        let count = topology.shardCount
        func checked(_ shard: Int32) -> ShardChoice {
            guard shard < count else {
                return .refused(ErrorFields(.error, SQLState.invalidParameterValue,
                    "shard \(shard) does not exist: database \"\(topology.name)\" has \(count) shards, numbered 0 to \(count - 1)"))
            }
            return .shard(Int(shard))
        }
        if decided >= 0 { return checked(decided) }
        let mergeableRead = info.kind == PGPROXY_STMT_READ && info.statementCount == 1 && flags & (PGPROXY_FLAG_LOCKING | PGPROXY_FLAG_COPY_TO) == 0
        func everywhere() -> ShardChoice {
            if mergeableRead { return .every }
            if flags & PGPROXY_FLAG_COPY_FROM != 0, flags & (PGPROXY_FLAG_SHARDED_TABLE | PGPROXY_FLAG_OMNISHARDED_TABLE) != 0,
               info.statementCount == 1 { return .everyCopy }
            if Self.writesEverywhere(info: info, flags: flags, topology: topology) { return .everyWrite }
            return .refused(Self.crossShardRefusal(info: info, flags: flags, topology: topology))
        }
        if decided == PGPROXY_SHARD_ALL { return everywhere() }
        if let hint, hint >= 0 { return checked(hint) }
        if flags & PGPROXY_FLAG_SHARDED_TABLE != 0 { return everywhere() }
        // A write to tables copied to every shard goes to every shard, whoever routes.
        if flags & PGPROXY_FLAG_OMNISHARDED_TABLE != 0, info.kind == PGPROXY_STMT_WRITE || info.kind == PGPROXY_STMT_DDL {
            return everywhere()
        }
        if let current { return .shard(current) }
        if flags & PGPROXY_FLAG_OMNISHARDED_TABLE != 0, info.kind == PGPROXY_STMT_READ {
            return .shard(Int.random(in: 0..<count))  // the same rows everywhere: spread the reads
        }
        return .shard(0)
    }

    /// A single write or DDL statement that may run on every shard: one on omnisharded tables
    /// only, or with `cross_shard_writes` one on sharded tables that is not an INSERT (whose rows
    /// each belong to one shard) nor COPY.
    static func writesEverywhere(info: StatementInfo, flags: UInt32, topology: DatabaseTopology) -> Bool {
        guard info.statementCount == 1, info.kind == PGPROXY_STMT_WRITE || info.kind == PGPROXY_STMT_DDL,
              flags & (PGPROXY_FLAG_COPY_FROM | PGPROXY_FLAG_COPY_TO | PGPROXY_FLAG_LOCKING) == 0 else { return false }
        if flags & PGPROXY_FLAG_SHARDED_TABLE == 0 { return flags & PGPROXY_FLAG_OMNISHARDED_TABLE != 0 }
        return topology.sharding.crossShardWrites && info.commands.strings.first != "INSERT"
    }

    /// Why a statement that needs every shard does not run (yet).
    static func crossShardRefusal(info: StatementInfo, flags: UInt32, topology: DatabaseTopology) -> ErrorFields {
        let keyHint = "give the sharding key in the statement (WHERE key = value), with SET SHARDING KEY TO '<key>', or pick a shard with SET SHARD TO '<n>'"
        let tables = info.tables.strings.filter { topology.sharding.shardedTable(named: $0) != nil }
        let named = tables.isEmpty ? "" : " (" + tables.joined(separator: ", ") + ")"
        if info.kind == PGPROXY_STMT_READ, flags & PGPROXY_FLAG_SHARDED_TABLE != 0 {
            let why = info.statementCount > 1 ? "a query string of several statements" : flags & PGPROXY_FLAG_COPY_TO != 0 ? "COPY" : "a locking read"
            return ErrorFields(.error, SQLState.featureNotSupported,
                "the statement reads sharded tables\(named) without a sharding key, so it needs every shard of database \"\(topology.name)\"; pgproxy runs single SELECT statements on every shard, not \(why)",
                hint: keyHint)
        }
        if flags & PGPROXY_FLAG_COPY_FROM != 0, flags & PGPROXY_FLAG_SHARDED_TABLE != 0 {
            return ErrorFields(.error, SQLState.featureNotSupported,
                "COPY FROM into sharded tables\(named) is split among the shards of database \"\(topology.name)\" only when it is the only statement of its query",
                hint: "send the COPY on its own, or load each shard's rows with SET SHARD TO '<n>' and COPY")
        }
        if flags & PGPROXY_FLAG_LOCKING != 0, flags & PGPROXY_FLAG_SHARDED_TABLE != 0, info.commands.strings.first == "SELECT" {
            return ErrorFields(.error, SQLState.featureNotSupported,
                "the statement locks rows of sharded tables\(named) (FOR UPDATE/SHARE) without a sharding key, so it would lock rows on every shard of database \"\(topology.name)\"; pgproxy does not lock rows across shards",
                hint: keyHint)
        }
        if info.commands.strings.first == "INSERT", flags & PGPROXY_FLAG_SHARDED_TABLE != 0, !info.columnValues.isEmpty {
            return ErrorFields(.error, SQLState.featureNotSupported,
                "pgproxy cannot tell which shard each row of this INSERT\(named) belongs to: a row's key is not a literal or parameter, or no plugin (such as hash_sharder) assigned the rows to shards",
                hint: "give every row's key as a literal or a parameter; INSERT ... SELECT and INSERT without a column list cannot be routed")
        }
        if flags & PGPROXY_FLAG_SHARDED_TABLE != 0 {
            let writes = info.kind == PGPROXY_STMT_WRITE || info.kind == PGPROXY_STMT_DDL
            return ErrorFields(.error, SQLState.featureNotSupported,
                writes
                    ? "the statement changes sharded tables\(named) without a sharding key, so it would run on every shard of database \"\(topology.name)\"; pgproxy runs such writes only with cross_shard_writes = true, one statement at a time, outside transactions"
                    : "the statement names sharded tables\(named) without a sharding key pgproxy can read, so it would need every shard of database \"\(topology.name)\"; pgproxy runs only single SELECT statements on every shard",
                hint: keyHint)
        }
        return ErrorFields(.error, SQLState.featureNotSupported,
            "the statement writes to a table copied to every shard of database \"\(topology.name)\" (an omnisharded table); pgproxy writes to every shard only one statement at a time, outside transactions",
            hint: "send the write on its own, outside a transaction; or write it on each shard with SET SHARD TO '<n>'")
    }
}
