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
 * Status: version 1. pgproxy 0.1 defines the ABI and the routing seam in its data path; loading
 * plugins from `[[plugins]]` arrives with the routing work (until then the config refuses them).
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
    PGPROXY_STMT_UTILITY = 5,     /* SET, SHOW, LISTEN, VACUUM ... */
} pgproxy_statement_kind;

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
    double latency_p99_ms;
    pgproxy_str host;
    int32_t port;
} pgproxy_backend;

/** Everything pgproxy knows when it routes a statement. Valid only during `route`. */
typedef struct pgproxy_route_context {
    pgproxy_str query;
    pgproxy_statement_kind kind;
    int32_t in_transaction;       /* 0 or 1 */
    int32_t transaction_has_written;
    int32_t transaction_read_only;
    pgproxy_str user;
    pgproxy_str database;
    pgproxy_str application_name;
    const pgproxy_param *params;
    size_t param_count;
    pgproxy_str sharding_key_hint; /* SET SHARDING KEY TO '...'; len 0 when unset */
    int32_t shard_hint;            /* SET SHARD TO 'n'; PGPROXY_SHARD_UNDECIDED when unset */
    pgproxy_role role_hint;        /* SET SERVER ROLE TO '...' */
    const pgproxy_backend *backends;
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

typedef struct pgproxy_host_api {
    uint32_t abi_version;
    void (*log)(int32_t level, pgproxy_str message);
    void (*result_add_column)(pgproxy_result_builder *builder, pgproxy_str name);
    void (*result_add_row)(pgproxy_result_builder *builder, const pgproxy_str *values, size_t count);
    void (*result_set_tag)(pgproxy_result_builder *builder, pgproxy_str command_tag);
} pgproxy_host_api;

typedef enum pgproxy_event_kind {
    PGPROXY_EVENT_STATEMENT_DONE = 1,
    PGPROXY_EVENT_BACKEND_STATE = 2,
} pgproxy_event_kind;

typedef struct pgproxy_event {
    pgproxy_event_kind kind;
    int32_t backend_id;
    double latency_ms;             /* STATEMENT_DONE */
    int64_t rows;                  /* STATEMENT_DONE */
    int32_t failed;                /* STATEMENT_DONE: 1 when the statement ended in an error */
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
    /* `builder` is non-NULL; use it only with PGPROXY_ACTION_INTERCEPT. */
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
