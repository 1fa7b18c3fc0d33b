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
 * Status: version 1.0.
 */
#ifndef PGPROXY_PLUGIN_H
#define PGPROXY_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PGPROXY_PLUGIN_ABI_MAJOR 1
#define PGPROXY_PLUGIN_ABI_MINOR 0
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

/** A backend the statement could go to, with live figures. */
typedef struct pgproxy_backend {
    int32_t id;
    pgproxy_role role;
    int32_t shard;
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
    pgproxy_str sharding_key_hint; /* SET SHARDING KEY TO '...'; len 0 when unset */
    int32_t shard_hint;            /* SET SHARD TO 'n'; PGPROXY_SHARD_UNDECIDED when unset */
    pgproxy_role role_hint;        /* SET SERVER ROLE TO '...', or a comment `pgproxy: role=primary`
                                      (also `route: replica`) in the statement; the comment wins.
                                      UNDECIDED when neither (or 'auto'). When no plugin decides the
                                      role, pgproxy applies this hint itself. */
    const pgproxy_backend *backends; /* every backend of the database, primary first */
    size_t backend_count;
    int32_t shard_count;
    const uint8_t *parse_tree;     /* libpg_query protobuf bytes; NULL unless the plugin asked */
    size_t parse_tree_len;
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
