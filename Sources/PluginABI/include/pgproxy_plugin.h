/*
 * pgproxy_plugin.h — the C ABI between pgproxy and its routing plugins.
 *
 * This header is the whole contract. A plugin is a shared library that exports one symbol,
 * `pgproxy_plugin_entry`, returning a pointer to a static `pgproxy_plugin_vtable`. pgproxy reads
 * `abi_version` first and refuses the plugin when the major version differs from its own.
 *
 * Only plain C data crosses this boundary: integers, enums, pointer + length strings (not
 * NUL-terminated unless said so), arrays of those, and opaque handles. A plugin built with any
 * C-compatible compiler (C, Rust, Swift @_cdecl, Zig ...) works.
 *
 * Threads and lifetimes:
 *  - `init` and `fini` run once, off the event loops.
 *  - `route` runs on pgproxy's event loops, concurrently from several threads, once per routed
 *    statement. It must not block, must not keep pointers from the context after it returns,
 *    and should not allocate on the common path.
 *  - `on_event` runs on event loops too, after the fact; learning plugins update their state
 *    there (atomically: it can run concurrently with `route`).
 *  - Everything in a context is valid only during the call it was passed to.
 *
 * When plugins are asked:
 *  - pgproxy calls the chain for every client message batch that carries a statement (a simple
 *    Query, or extended-protocol messages up to their Sync). The backend is chosen when a
 *    transaction starts (transaction mode) or on the session's first statement (session mode);
 *    inside a transaction the chain still runs, so a plugin can block or intercept statements,
 *    but its shard/role/backend answer is ignored: a transaction never moves.
 *  - Plugins run in `[[plugins]]` order. Each sees the decision so far (fields still undecided
 *    are PGPROXY_*_UNDECIDED) and fills what it wants; a BLOCK or INTERCEPT ends the chain.
 *    pgproxy applies defaults to what is left: role primary, shard 0, and the backend chosen by
 *    the database's `load_balancing` strategy among healthy backends of that role and shard.
 *
 * Status: version 1.1 (1.1 added sharding: key values found in the statement, the key type,
 * PGPROXY_FLAG_SHARDED_TABLE / _OMNISHARDED_TABLE). A 1.0 plugin keeps working: new fields are
 * only ever appended to the end of a struct.
 */
#ifndef PGPROXY_PLUGIN_H
#define PGPROXY_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PGPROXY_PLUGIN_ABI_MAJOR 1
#define PGPROXY_PLUGIN_ABI_MINOR 1
#define PGPROXY_PLUGIN_ABI_VERSION ((PGPROXY_PLUGIN_ABI_MAJOR << 16) | PGPROXY_PLUGIN_ABI_MINOR)

/** A string that is not necessarily NUL-terminated. */
typedef struct pgproxy_str {
    const char *ptr;
    size_t len;
} pgproxy_str;

/** What kind of statement is being routed. */
typedef enum pgproxy_statement_kind {
    PGPROXY_STMT_UNKNOWN = 0,
    PGPROXY_STMT_READ = 1,        /* SELECT without locking clauses or writing functions */
    PGPROXY_STMT_WRITE = 2,       /* INSERT, UPDATE, DELETE, MERGE, SELECT ... FOR UPDATE, COPY FROM */
    PGPROXY_STMT_DDL = 3,
    PGPROXY_STMT_TRANSACTION = 4, /* BEGIN, COMMIT, ROLLBACK, SAVEPOINT ... */
    PGPROXY_STMT_UTILITY = 5,     /* SET, SHOW, LISTEN, VACUUM, EXPLAIN (without ANALYZE) ... */
} pgproxy_statement_kind;

/*
 * Facts about the statement(s), a bitmask in `pgproxy_route_context.flags`. For a simple Query
 * with several statements, `kind` is the strongest of them (DDL > WRITE > READ > TRANSACTION >
 * UTILITY) and the flags are the union.
 */
#define PGPROXY_FLAG_LOCKING          (1u << 0)  /* SELECT ... FOR UPDATE / FOR SHARE, LOCK */
#define PGPROXY_FLAG_BEGIN            (1u << 1)  /* opens a transaction (BEGIN, START TRANSACTION) */
#define PGPROXY_FLAG_READ_ONLY_BEGIN  (1u << 2)  /* ... declared READ ONLY */
#define PGPROXY_FLAG_END              (1u << 3)  /* COMMIT, ROLLBACK, PREPARE TRANSACTION ... */
#define PGPROXY_FLAG_PARSE_ERROR      (1u << 4)  /* libpg_query could not parse it; kind is UNKNOWN */
#define PGPROXY_FLAG_COPY_FROM        (1u << 5)  /* COPY ... FROM */
#define PGPROXY_FLAG_COPY_TO          (1u << 6)  /* COPY ... TO */
#define PGPROXY_FLAG_SESSION_STATE    (1u << 7)  /* SET, PREPARE, LISTEN, DECLARE ... WITH HOLD, temp tables */
#define PGPROXY_FLAG_FUNCTION_CALL    (1u << 8)  /* calls at least one function (see `functions`) */
#define PGPROXY_FLAG_SHARDED_TABLE    (1u << 9)  /* names a table of [[sharded_tables]] (1.1) */
#define PGPROXY_FLAG_OMNISHARDED_TABLE (1u << 10) /* names a table of [[omnisharded_tables]] (1.1) */

typedef enum pgproxy_role {
    PGPROXY_ROLE_UNDECIDED = 0,
    PGPROXY_ROLE_PRIMARY = 1,
    PGPROXY_ROLE_REPLICA = 2,
    PGPROXY_ROLE_ANY = 3,
} pgproxy_role;

/** A shard number, or one of these. */
#define PGPROXY_SHARD_UNDECIDED (-1)
#define PGPROXY_SHARD_ALL (-2)
/** A backend id, or this. */
#define PGPROXY_BACKEND_UNDECIDED (-1)

/** One Bind parameter. `value.ptr` is NULL for SQL NULL. format: 0 text, 1 binary. */
typedef struct pgproxy_param {
    pgproxy_str value;
    int16_t format;
} pgproxy_param;

/** The data type of a sharding key column (`data_type` of `[[sharded_tables]]`). */
typedef enum pgproxy_key_type {
    PGPROXY_KEY_BIGINT = 1,
    PGPROXY_KEY_INTEGER = 2,
    PGPROXY_KEY_SMALLINT = 3,
    PGPROXY_KEY_TEXT = 4,      /* text and varchar */
    PGPROXY_KEY_UUID = 5,
} pgproxy_key_type;

/** What a `pgproxy_key_value` holds. */
typedef enum pgproxy_value_kind {
    PGPROXY_VALUE_GIVEN = 0,   /* `value` is the key, in `format` */
    PGPROXY_VALUE_NULL = 1,    /* SQL NULL (a NULL literal or a NULL Bind parameter) */
    PGPROXY_VALUE_UNKNOWN = 2, /* an expression pgproxy does not evaluate (DEFAULT, a function call ...) */
} pgproxy_value_kind;

/**
 * A value the statement gives for the key column of a `[[sharded_tables]]` table (1.1). Found in
 * the statement's parse (cached per shape) and filled from this statement's literals or Bind
 * parameters:
 *  - `key = v` or `v = key` among the top-level AND-ed conditions of the WHERE of a SELECT,
 *    UPDATE or DELETE: one value, a group of its own;
 *  - `key IN (v1, v2 ...)` there: one group, one value per list member;
 *  - `INSERT INTO t (..., key, ...) VALUES (...), (...)`: one group, one value per row, `row`
 *    its 0-based index.
 * Different groups are conditions that all hold (a row must match each). OR-ed conditions,
 * subqueries and INSERT without a column list give no values.
 */
typedef struct pgproxy_key_value {
    pgproxy_str table;             /* the table as `[[sharded_tables]]` names it */
    pgproxy_str column;
    pgproxy_key_type type;
    pgproxy_value_kind kind;
    pgproxy_str value;             /* GIVEN: the bytes; text form unless `format` is 1 (binary) */
    int16_t format;
    int32_t group;
    int32_t row;
} pgproxy_key_value;

/** A backend the statement could go to, with live figures. */
typedef struct pgproxy_backend {
    int32_t id;
    pgproxy_role role;
    int32_t shard;                /* `shard` of its [[databases]] entry (0 when unsharded) */
    int32_t weight;
    int32_t healthy;              /* 0 or 1 */
    int32_t active_connections;
    int32_t idle_connections;
    double latency_avg_ms;        /* recent average statement latency, 0 if unknown */
    double latency_p99_ms;        /* streaming estimate of the 99th percentile, 0 if unknown */
    pgproxy_str host;
    int32_t port;
    int32_t waiting_clients;      /* clients queued for a connection to this backend */
} pgproxy_backend;

/**
 * Everything pgproxy knows when it routes a statement. Valid only during `route`.
 *
 * `kind`, `flags`, `commands`, `tables` and `functions` come from libpg_query's parse of the
 * statement's shape (its text with literals taken out), cached per shape: they cost nothing on
 * a cache hit. `commands` holds one command tag per statement as PostgreSQL would report it
 * ("SELECT", "INSERT", "DROP TABLE", "BEGIN" ...). `tables` are the relations named, as written
 * ("schema.table" when qualified), `functions` the functions called, lower-case, qualified when
 * written so ("pg_catalog.nextval").
 */
typedef struct pgproxy_route_context {
    pgproxy_str query;             /* the Query text, or the Parse text of the statement bound */
    pgproxy_statement_kind kind;
    uint32_t flags;                /* PGPROXY_FLAG_* */
    const pgproxy_str *commands;
    size_t command_count;
    const pgproxy_str *tables;
    size_t table_count;
    const pgproxy_str *functions;
    size_t function_count;
    int32_t extended;              /* 1: extended protocol (Parse/Bind); 0: simple Query */
    int32_t in_transaction;        /* 0 or 1: the statement runs inside an open transaction */
    int32_t transaction_has_written; /* the open transaction ran a WRITE or DDL statement */
    int32_t transaction_read_only; /* the open transaction began READ ONLY */
    pgproxy_str user;
    pgproxy_str database;
    pgproxy_str application_name;
    const pgproxy_param *params;
    size_t param_count;
    pgproxy_str sharding_key_hint; /* SET SHARDING KEY TO '...', or a comment
                                      `pgproxy: sharding_key=42` in the statement (the comment
                                      wins); len 0 when neither. Text form, read as `sharding_key_type`. */
    int32_t shard_hint;            /* SET SHARD TO 'n' or a comment `pgproxy: shard=1` (the
                                      comment wins); PGPROXY_SHARD_UNDECIDED when neither or 'ANY'. */
    pgproxy_role role_hint;        /* SET SERVER ROLE TO '...', or a comment `pgproxy: role=primary`
                                      (also `route: replica`) in the statement; the comment wins.
                                      UNDECIDED when neither (or 'auto'). When no plugin decides the
                                      role, pgproxy applies this hint itself. */
    const pgproxy_backend *backends; /* every backend of the database, primary first */
    size_t backend_count;
    int32_t shard_count;           /* shards of the database: 1 + the highest `shard` of its entries */
    const uint8_t *parse_tree;     /* libpg_query protobuf bytes; NULL unless the plugin asked */
    size_t parse_tree_len;
    /* 1.1 */
    const pgproxy_key_value *key_values; /* see pgproxy_key_value; only for databases with shards */
    size_t key_value_count;
    pgproxy_key_type sharding_key_type; /* the key type of the database's [[sharded_tables]] (BIGINT
                                      when it has none; the first table's when they differ) */
} pgproxy_route_context;

typedef enum pgproxy_action {
    PGPROXY_ACTION_CONTINUE = 0,   /* fill what you decided, let the next plugin go on */
    PGPROXY_ACTION_BLOCK = 1,      /* refuse the statement with `error_sqlstate` / `error_message` */
    PGPROXY_ACTION_INTERCEPT = 2,  /* answer the statement with rows built through the host */
} pgproxy_action;

/** A plugin's (partial) decision. pgproxy pre-fills every field as undecided. */
typedef struct pgproxy_route_decision {
    pgproxy_action action;
    int32_t shard;
    pgproxy_role role;
    int32_t backend_id;
    char error_sqlstate[6];        /* NUL-terminated, for PGPROXY_ACTION_BLOCK */
    char error_message[256];       /* NUL-terminated, for PGPROXY_ACTION_BLOCK */
    /* 1.1: for an INSERT ... VALUES with several rows, `row_count` entries (one per row, in
       order), pre-filled with PGPROXY_SHARD_UNDECIDED; NULL otherwise. A plugin that finds the
       rows on different shards writes each row's shard here and answers PGPROXY_SHARD_ALL:
       pgproxy then splits the INSERT, each shard getting its own rows. A row left undecided
       makes pgproxy refuse the INSERT. */
    int32_t *row_shards;
    size_t row_count;
} pgproxy_route_decision;

/** Builds an intercepted result set (PGPROXY_ACTION_INTERCEPT). Opaque to the plugin. */
typedef struct pgproxy_result_builder pgproxy_result_builder;

/** Levels for `pgproxy_host_api.log`. */
#define PGPROXY_LOG_DEBUG 0
#define PGPROXY_LOG_INFO 1
#define PGPROXY_LOG_WARNING 2
#define PGPROXY_LOG_ERROR 3

/** What pgproxy offers its plugins; valid from `init` until `fini` returns. Callable from any thread. */
typedef struct pgproxy_host_api {
    uint32_t abi_version;
    void (*log)(int32_t level, pgproxy_str message);
    void (*result_add_column)(pgproxy_result_builder *builder, pgproxy_str name);
    void (*result_add_row)(pgproxy_result_builder *builder, const pgproxy_str *values, size_t count);
    void (*result_set_tag)(pgproxy_result_builder *builder, pgproxy_str command_tag);
} pgproxy_host_api;

typedef enum pgproxy_event_kind {
    PGPROXY_EVENT_STATEMENT_DONE = 1, /* a routed batch got its last ReadyForQuery */
    PGPROXY_EVENT_BACKEND_STATE = 2,  /* a backend became healthy/unhealthy or changed role */
} pgproxy_event_kind;

/** Backend ids are unique in the process: the index of the backend's `[[databases]]` entry. */
typedef struct pgproxy_event {
    pgproxy_event_kind kind;
    int32_t backend_id;
    pgproxy_str database;
    double latency_ms;             /* STATEMENT_DONE */
    int64_t rows;                  /* STATEMENT_DONE */
    int32_t failed;                /* STATEMENT_DONE: 1 when the server sent an ErrorResponse */
    int32_t healthy;               /* BACKEND_STATE */
    pgproxy_role role;             /* BACKEND_STATE */
} pgproxy_event;

/** One plugin setting from its `[[plugins]]` table. */
typedef struct pgproxy_setting {
    pgproxy_str key;
    pgproxy_str value;
} pgproxy_setting;

typedef struct pgproxy_plugin_vtable {
    uint32_t abi_version;          /* PGPROXY_PLUGIN_ABI_VERSION the plugin was built with; first */
    const char *name;              /* NUL-terminated */
    /* Returns an instance handle, or NULL with a NUL-terminated reason in `error` (size `error_len`). */
    void *(*init)(const pgproxy_host_api *host, const pgproxy_setting *settings, size_t count,
                  char *error, size_t error_len);
    /* `builder` is non-NULL; use it only with PGPROXY_ACTION_INTERCEPT. Every column is text. */
    void (*route)(void *instance, const pgproxy_route_context *context,
                  pgproxy_route_decision *decision, pgproxy_result_builder *builder);
    void (*on_event)(void *instance, const pgproxy_event *event); /* may be NULL */
    void (*fini)(void *instance);                                 /* may be NULL */
    int32_t wants_parse_tree;      /* 1: fill parse_tree in the context (costs a protobuf parse) */
} pgproxy_plugin_vtable;

/** The one symbol a plugin exports. */
typedef const pgproxy_plugin_vtable *(*pgproxy_plugin_entry_fn)(void);
#define PGPROXY_PLUGIN_ENTRY_SYMBOL "pgproxy_plugin_entry"

#ifdef __cplusplus
}
#endif

#endif /* PGPROXY_PLUGIN_H */
