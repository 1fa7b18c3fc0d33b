/*
 * sa_internal.h — shared between the files of the SQLAnalysis target. Not public.
 */
#ifndef PGPROXY_SA_INTERNAL_H
#define PGPROXY_SA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include "pgproxy_sql_analysis.h"

/* ---- name lists (tables, functions) ------------------------------------------------------ */

typedef struct sa_name {
    char *name;            /* owned */
    int32_t location;      /* first byte offset in the query text where it is named */
    bool cte_candidate;    /* unqualified FROM-item reference that may name a CTE (see walk.c) */
} sa_name;

typedef struct sa_names {
    sa_name *items;
    size_t count;
    size_t capacity;
} sa_names;

/* Collected while walking; statement by statement. */
typedef struct sa_collector {
    sa_names tables;
    sa_names functions;
    sa_names ctes;         /* CTE names of the statement being walked (location unused) */
    bool out_of_memory;
} sa_collector;

/*
 * Adds `name` (taken over: freed here when it is a duplicate, dropped or on failure) unless a
 * list already holds it; keeps the smallest location. Returns false only when out of memory.
 * A list holds at most `limit` names; later distinct names are dropped.
 */
bool sa_names_add(sa_names *list, char *name, int32_t location, bool cte_candidate, size_t limit);
void sa_names_free(sa_names *list);

/* ---- walking one statement --------------------------------------------------------------- */

/* What the generic walk of one statement's tree found. */
typedef struct sa_facts {
    bool has_dml;          /* an InsertStmt/UpdateStmt/DeleteStmt/MergeStmt anywhere (root included) */
    bool has_locking;      /* a LockingClause anywhere (FOR UPDATE/NO KEY UPDATE/SHARE/KEY SHARE) */
    bool has_function_call;/* a FuncCall anywhere */
} sa_facts;

/*
 * Walks the tree under `root` (a statement's Node) iteratively with protobuf-c reflection: fills
 * `facts`, adds relations and function names to the collector. Returns false when out of memory.
 */
bool sa_walk_statement(sa_collector *collector, const ProtobufCMessage *root, sa_facts *facts);

/* The message held by a Node (its active oneof member), or NULL. Generic over node types. */
const ProtobufCMessage *sa_node_inner(const ProtobufCMessage *node);

/*
 * A relation as written, dotted: "rel", "schema.rel" or "catalog.schema.rel" (malloc'ed), the form
 * of the `tables` entries. NULL when it has no name, or when out of memory (then *oom is set).
 */
char *sa_relation_name(const PgQuery__RangeVar *range, bool *oom);

/* ---- column values (values.c) ------------------------------------------------------------ */

/*
 * Fills out->values, value_count and values_truncated (see pgproxy_sql_column_value) for `stmt`,
 * the inner message of the only RawStmt of `query`. Returns false only when out of memory; then
 * nothing is kept.
 */
bool sa_collect_values(const ProtobufCMessage *stmt, const char *query, pgproxy_sql_analysis *out);

/* Frees `count` values and their strings; `values` may be NULL. */
void sa_free_values(pgproxy_sql_column_value *values, size_t count);

/* ---- classifying one statement ----------------------------------------------------------- */

typedef struct sa_statement_class {
    int32_t kind;          /* pgproxy_statement_kind */
    uint32_t flags;        /* PGPROXY_FLAG_* */
    char command[64];      /* command tag, NUL-terminated */
} sa_statement_class;

/* Classifies the statement `stmt` (the inner message of a RawStmt's Node). */
void sa_classify_statement(const ProtobufCMessage *stmt, const sa_facts *facts,
                           sa_statement_class *out);

/* Relations a DropStmt names (its objects are name lists, not RangeVars). */
bool sa_collect_drop_relations(sa_collector *collector, const ProtobufCMessage *stmt,
                               int32_t location);

/* Strength for combining kinds: DDL > WRITE > READ > TRANSACTION > UTILITY > UNKNOWN. */
int sa_kind_rank(int32_t kind);

/* ---- guarding the stack ------------------------------------------------------------------ */

/* Texts whose depth bound is at most this are parsed on the caller's stack. Measured: the parse,
 * unpack and free use at most ~640 bytes of stack per unit of bound plus ~15 KB, so about 120 KB
 * for the largest inline text. */
#ifndef SA_INLINE_MAX_BOUND
#define SA_INLINE_MAX_BOUND 160u
#endif
/* Helper thread stack per unit of bound: three times the measured need (other builds of
 * libpg_query/protobuf-c may use bigger frames). Address space only, see MAP_NORESERVE. */
#ifndef SA_STACK_PER_LEVEL
#define SA_STACK_PER_LEVEL 2048u
#endif
#define SA_STACK_BASE (1024u * 1024u)
/* Refuse beyond this bound. protobuf-c packs nested messages in time quadratic in the depth: at
 * this bound a worst-case text takes about half a second to analyse. It admits `1+1+...+1` with
 * ~21800 terms; a PostgreSQL 15.20 backend runs 15000 terms but crashes (SIGSEGV) on 20000.
 * Flat texts get here too when enormous (~20000 comparisons at one parenthesis level). */
#ifndef SA_MAX_DEPTH_BOUND
#define SA_MAX_DEPTH_BOUND 65536u
#endif

/*
 * An upper bound on the nesting depth of the parse tree of `query`, from its tokens (found by
 * pg_query_scan, which does not recurse). Returns true and sets `*bound`; or false when the text
 * does not even scan, with `*error` set to a malloc'ed message and `*cursor` to its 1-based position
 * (or error NULL when out of memory).
 */
bool sa_estimate_depth(const char *query, uint64_t *bound, char **error, int32_t *cursor);

#endif /* PGPROXY_SA_INTERNAL_H */
