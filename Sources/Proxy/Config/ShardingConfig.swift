import PluginABI

/// A table split across a database's shards by one key column (`[[sharded_tables]]`).
public struct ShardedTableConfig: Sendable, Equatable {
    /// The `[[databases]]` name the table lives in (`database`).
    public var database: String
    /// The table, as statements name it: `users`, or `schema.users` to match only that schema (`table`).
    public var table: String
    /// The key column (`column`).
    public var column: String
    /// How the key is hashed (`data_type`).
    public var dataType: ShardKeyType

    public init(database: String, table: String, column: String, dataType: ShardKeyType) {
        self.database = database
        self.table = table
        self.column = column
        self.dataType = dataType
    }
}

/// A table with the same rows on every shard of its database (`[[omnisharded_tables]]`): reads
/// go to any one shard, writes to all of them.
public struct OmnishardedTableConfig: Sendable, Equatable {
    public var database: String
    public var table: String

    public init(database: String, table: String) {
        self.database = database
        self.table = table
    }
}

/// The data type of a sharding key (`data_type`): the hash of a key depends on it, as it does for
/// PostgreSQL's `PARTITION BY HASH`.
public enum ShardKeyType: String, Sendable, CaseIterable {
    case bigint, integer, smallint, text, varchar, uuid

    /// The names PostgreSQL also accepts for these types.
    static let aliases: [String: ShardKeyType] = [
        "int8": .bigint, "int4": .integer, "int": .integer, "int2": .smallint,
        "character varying": .varchar,
    ]

    var plugin: pgproxy_key_type {
        switch self {
        case .bigint: return PGPROXY_KEY_BIGINT
        case .integer: return PGPROXY_KEY_INTEGER
        case .smallint: return PGPROXY_KEY_SMALLINT
        case .text, .varchar: return PGPROXY_KEY_TEXT
        case .uuid: return PGPROXY_KEY_UUID
        }
    }
}

/// Whether a table named in a statement (`users`, `public.users`, as written) is the configured
/// `table` (`users` matches both; `public.users` only the qualified one).
func tableName(_ written: String, matches configured: String) -> Bool {
    if written == configured { return true }
    guard !configured.contains("."), let dot = written.lastIndex(of: ".") else { return false }
    return written[written.index(after: dot)...] == configured
}
