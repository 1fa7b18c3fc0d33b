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

/*
 * Visits every message under `root` (root included), parents before children, children in field
 * order; iterative, so a deep tree cannot overflow the C stack. `visit` may set *skip_children;
 * returning false stops the walk. Returns false when stopped or out of memory.
 */
typedef bool (*sa_visitor)(const ProtobufCMessage *message, void *context, bool *skip_children);
bool sa_walk(const ProtobufCMessage *root, sa_visitor visit, void *context);

/* The message held by a Node (its active oneof member), or NULL. Generic over node types. */
const ProtobufCMessage *sa_node_inner(const ProtobufCMessage *node);

/* ---- small helpers shared by the walkers --------------------------------------------------- */

static inline bool nonempty(const char *text) { return text != NULL && text[0] != '\0'; }

/* The text of a String node, or NULL. */
static inline const char *string_of(const PgQuery__Node *node) {
    if (node == NULL || node->node_case != PG_QUERY__NODE__NODE_STRING || node->string == NULL) return NULL;
    return node->string->sval;
}

static inline const ProtobufCMessage *inner(const PgQuery__Node *node) {
    return sa_node_inner((const ProtobufCMessage *)node);
}

/* Whether `message` is a message of libpg_query's `type` (e.g. IS(m, select_stmt)). */
#define IS(message, type) ((message) != NULL && (message)->descriptor == &pg_query__##type##__descriptor)

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

/* ---- parsing where it is safe (analysis.c) ------------------------------------------------ */

/* Gets the unpacked parse tree of the query and libpg_query's protobuf bytes of it; runs on a stack
 * big enough for the tree's depth. Returns a PGPROXY_SQL_ANALYSIS_* status. */
typedef int (*sa_tree_consumer)(const PgQuery__ParseResult *tree, const uint8_t *bytes, size_t length,
                                void *context);

typedef struct sa_parse_failure {
    bool failed;           /* the text was not parsed: `consume` did not run */
    char *message;         /* malloc'ed (the caller's), NULL when out of memory */
    int32_t cursor;        /* 1-based position of a parse error, else 0 */
} sa_parse_failure;

/*
 * Bounds the depth of `query` (guard.c), refuses it (TOO_COMPLEX) beyond SA_MAX_DEPTH_BOUND, parses
 * it on the caller's stack or on a helper thread with a stack sized for the bound, and calls
 * `consume` with the tree, which is freed afterwards. Returns consume's status, or, with
 * failure->failed set, PARSE_ERROR / TOO_COMPLEX / NO_MEMORY.
 */
int sa_parse_guarded(const char *query, sa_tree_consumer consume, void *context, sa_parse_failure *failure);

/* ---- tokens of a query text (merge_text.c) ----------------------------------------------- */

typedef struct sa_tokens {
    const char *query;
    PgQuery__ScanResult *scan;     /* owned */
    PgQuery__ScanToken **items;    /* scan->tokens, in text order; `end` is exclusive */
    size_t count;
} sa_tokens;

/* pg_query_scan of `query`. False when it does not scan or out of memory. */
bool sa_tokens_scan(const char *query, sa_tokens *tokens);
void sa_tokens_free(sa_tokens *tokens);

/* From the first '(' at or after `location` to its matching ')' (end exclusive). */
bool sa_tokens_parenthesised(const sa_tokens *tokens, int32_t location, int32_t *start, int32_t *end);

/* The two ranges hold the same tokens: comments and white space ignored, unquoted identifiers and
 * keywords compared as PostgreSQL folds them (ASCII case). */
bool sa_tokens_same(const sa_tokens *tokens, int32_t a_start, int32_t a_end, int32_t b_start, int32_t b_end);

/* The end of the last token of a SELECT list whose last item starts at `location`; -1 if not found. */
int32_t sa_tokens_select_list_end(const sa_tokens *tokens, int32_t location);

/* The range of a number constant whose A_Const is at `location` (signs the grammar folded into it
 * included). False when that is no plain number. */
bool sa_tokens_number(const sa_tokens *tokens, int32_t location, int32_t *start, int32_t *end);

/* A function's name as written, dotted, into `buffer` (truncated to `size`; for messages). */
void sa_function_name(const PgQuery__FuncCall *call, char *buffer, size_t size);

/* PGPROXY_SQL_TARGET_COUNT..AVG for count/sum/min/max/avg (unqualified or pg_catalog.), OTHER for
 * another aggregate of PostgreSQL by name (array_agg, stddev* ..., or one of the five in another
 * schema), -1 for a name no aggregate we know has. */
int sa_aggregate_kind(const PgQuery__FuncCall *call);

/* The result column name PostgreSQL gives an unaliased SELECT-list expression (FigureColname of
 * PostgreSQL 15): a column's last field, a function's name, "case", a cast's type ... or
 * "?column?". Points into the tree or to a constant. */
const char *sa_figure_name(const PgQuery__Node *node);

#endif /* PGPROXY_SA_INTERNAL_H */
