/*
 * pgproxy_sql_analysis.h — what the routing layer needs to know about a SQL text.
 *
 * Parses the text with libpg_query (the PostgreSQL 15 parser) and summarises it: the kind of
 * statement (combined over all statements of a multi-statement text), facts as PGPROXY_FLAG_*
 * bits, the command tag of every statement, and the relations and functions it names.
 *
 * Meant for a routing-cache miss: clarity over speed (about 25 us for a pgbench SELECT, most of it
 * libpg_query's protobuf output). It never crashes on any input: a text whose parse tree could be
 * deep enough to overflow the caller's stack (libpg_query and protobuf-c recurse once per tree
 * level) is parsed on a short-lived helper thread with a stack sized for it; a text beyond a
 * depth bound (about 20000 nested operators, deeper than a PostgreSQL 15 backend survives, or as
 * many comparisons at one parenthesis level) is refused as TOO_COMPLEX. Inline parses use at most
 * ~120 KB of the caller's stack.
 *
 * Thread-safe: any number of threads may call pgproxy_sql_analyze at once. libpg_query keeps a
 * small memory context per calling thread and frees it when the thread exits; do not call
 * pg_query_exit() on a thread that will exit afterwards (libpg_query 15-4.0.0 then frees it twice).
 *
 * Classification, per statement, then combined (kind: the strongest, DDL > WRITE > READ >
 * TRANSACTION > UTILITY > UNKNOWN; flags: the union):
 *  - SELECT/VALUES: READ; a locking clause anywhere: WRITE + LOCKING; a data-modifying statement
 *    anywhere (WITH ... INSERT): WRITE; SELECT INTO: DDL ("SELECT INTO").
 *  - INSERT/UPDATE/DELETE/MERGE, TRUNCATE, LOCK (+LOCKING), DO, CALL, NOTIFY, EXECUTE, CHECKPOINT:
 *    WRITE. COPY FROM: WRITE + COPY_FROM; COPY TO: READ + COPY_TO (WRITE if its query writes).
 *  - BEGIN/START TRANSACTION: BEGIN (+READ_ONLY_BEGIN when the last transaction_read_only option
 *    is true); COMMIT/ROLLBACK/PREPARE TRANSACTION/COMMIT PREPARED/ROLLBACK PREPARED: END
 *    (... AND CHAIN: END + BEGIN); SAVEPOINT/RELEASE/ROLLBACK TO: neither. Kind TRANSACTION.
 *  - CREATE/ALTER/DROP/GRANT/REVOKE/COMMENT ..., VACUUM, ANALYZE, CLUSTER, REINDEX, REFRESH
 *    MATERIALIZED VIEW, CREATE TABLE AS: DDL; temporary tables/views/sequences add SESSION_STATE.
 *  - SET/RESET (+SESSION_STATE unless SET LOCAL or SET TRANSACTION), SHOW, LISTEN/UNLISTEN and
 *    PREPARE (+SESSION_STATE), DEALLOCATE, DISCARD, FETCH/MOVE, CLOSE, LOAD: UTILITY.
 *    EXPLAIN: UTILITY, or what it runs when ANALYZE and that is WRITE/DDL. DECLARE CURSOR: the
 *    kind of its query (+SESSION_STATE WITH HOLD).
 *  - FUNCTION_CALL when a function call appears anywhere.
 * Command tags are PostgreSQL's (CreateCommandTag), e.g. "START TRANSACTION", "DISCARD ALL",
 * "CLOSE CURSOR ALL", "DEALLOCATE ALL", "TRUNCATE TABLE", "LOCK TABLE".
 * `tables`: RangeVars as written ("schema.rel", "catalog.schema.rel"), plus the relations a DROP
 * TABLE/VIEW/INDEX/SEQUENCE names; not CTE names, not the aliases of FOR UPDATE OF.
 * `functions`: FuncCall names lower-cased and dotted; SQL-syntax calls (EXTRACT, POSITION,
 * AT TIME ZONE ...) without the pg_catalog. the grammar adds.
 *
 * Also pgproxy_sql_merge_plan_make (below): how pgproxy merges the answers of several shards to one
 * SELECT, and the byte positions it needs to rewrite the statement it sends them.
 */
#ifndef PGPROXY_SQL_ANALYSIS_H
#define PGPROXY_SQL_ANALYSIS_H

#include <stddef.h>
#include <stdint.h>

#include "pgproxy_plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/** At most this many entries in `tables` and in `functions` (the first ones in text order). */
#define PGPROXY_SQL_ANALYSIS_MAX_NAMES 64

/** Return values of pgproxy_sql_analyze. */
#define PGPROXY_SQL_ANALYSIS_OK 0
#define PGPROXY_SQL_ANALYSIS_PARSE_ERROR 1   /* the text does not parse; `error` says why */
#define PGPROXY_SQL_ANALYSIS_TOO_COMPLEX 2   /* too deeply nested/large to analyse safely */
#define PGPROXY_SQL_ANALYSIS_NO_MEMORY 3     /* allocation or helper thread failed */
#define PGPROXY_SQL_ANALYSIS_INVALID (-1)    /* `query` or `out` is NULL */

/** What a `pgproxy_sql_column_value` is. */
#define PGPROXY_SQL_VALUE_LITERAL 0  /* a literal in the text, at `location` */
#define PGPROXY_SQL_VALUE_PARAM 1    /* the Bind parameter $`param` */
#define PGPROXY_SQL_VALUE_NULL 2     /* the NULL literal */
#define PGPROXY_SQL_VALUE_UNKNOWN 3  /* anything else: DEFAULT, an expression, a function call ... */

/** At most this many entries in `values`; a statement with more gets none (`values_truncated`). */
#define PGPROXY_SQL_ANALYSIS_MAX_VALUES 65536

/*
 * A value the statement gives for a column, where it decides which rows the statement touches
 * (what a sharding router needs). Only for a text of exactly one statement:
 *  - SELECT (a plain one: no UNION/INTERSECT/EXCEPT), UPDATE, DELETE: each top-level AND-ed
 *    condition of the WHERE clause that is `column = value` or `value = column` is one group with
 *    one value; `column IN (v1, v2, ...)` is one group with one value per member. Conditions under
 *    OR or NOT, in subqueries, CTEs or JOIN ... ON clauses give nothing; so does a condition with
 *    an UNKNOWN value (`id = f()`, `id IN (1, f())`, `a.id = b.id`), and one on a column of a
 *    subquery, function, CTE or aliased JOIN in FROM, or whose qualifier names no relation there.
 *  - INSERT INTO rel (c1, c2 ...) VALUES (...), (...): one group per column of the column list,
 *    with one value per row (`row` = 0-based row index); DEFAULT, a row too short and a column
 *    with a subscript or field (`arr[1]`) give UNKNOWN. INSERT without a column list, INSERT ...
 *    SELECT, DEFAULT VALUES and VALUES ... LIMIT/OFFSET give nothing.
 * A value is a literal (possibly cast: '42'::bigint, bigint '42'), a negative number literal, a
 * $n parameter (possibly cast), NULL, or UNKNOWN for anything else.
 * `values` is ordered by group, then row.
 */
typedef struct pgproxy_sql_column_value {
    char *table;         /* the relation as written ("users", "public.users"): the one a qualified column's
                            qualifier (table name or alias) names, or, for an unqualified column, the only
                            relation of the FROM clause (UPDATE/DELETE: the target; INSERT: the target).
                            NULL when that is ambiguous (an unqualified column, several relations). */
    char *column;        /* the column name as PostgreSQL folds it */
    int32_t group;       /* 0-based, in text order */
    int32_t row;         /* INSERT: the VALUES row; otherwise 0 */
    int32_t kind;        /* PGPROXY_SQL_VALUE_* */
    int32_t location;    /* LITERAL: byte offset of the literal's first byte (its quote, its E/X/B/N/U& prefix,
                            its $tag$, its first digit or '.', or the TRUE/FALSE keyword); for a negative
                            number the digits after the minus sign, which `negative` records. Other kinds: -1 */
    int32_t negative;    /* LITERAL: a number written with a leading minus sign */
    int32_t param;       /* PARAM: n of $n */
} pgproxy_sql_column_value;

typedef struct pgproxy_sql_analysis {
    int32_t kind;            /* pgproxy_statement_kind, combined over all statements */
    uint32_t flags;          /* PGPROXY_FLAG_* union */
    int32_t statement_count;
    char **commands; size_t command_count;   /* one command tag per statement, e.g. "SELECT", "DROP TABLE" */
    char **tables; size_t table_count;       /* distinct relations (RangeVar): "schema.rel" or "rel" */
    char **functions; size_t function_count; /* distinct FuncCall names, lowercase, dotted if qualified */
    char *error;             /* parse error message (NUL-terminated) or NULL */
    int32_t error_cursor;    /* 1-based position of the parse error, 0 if none */
    uint8_t *parse_tree;     /* pgproxy_sql_analyze_with_tree only: libpg_query's protobuf bytes */
    size_t parse_tree_len;
    pgproxy_sql_column_value *values; size_t value_count; /* see pgproxy_sql_column_value */
    int32_t values_truncated; /* 1: more than PGPROXY_SQL_ANALYSIS_MAX_VALUES; `values` is empty */
} pgproxy_sql_analysis;

/*
 * Analyses `query` (NUL-terminated). Returns PGPROXY_SQL_ANALYSIS_OK, or nonzero when the query
 * cannot be analysed (then kind = PGPROXY_STMT_UNKNOWN, flags = PGPROXY_FLAG_PARSE_ERROR,
 * statement_count = 0 and `error` is set, unless even that allocation failed). `out` must be freed
 * with pgproxy_sql_analysis_free either way (it is safe to free a zero-filled struct, and to free
 * twice). An empty text, or one of only comments, is 0 statements of kind UNKNOWN, not an error.
 */
int pgproxy_sql_analyze(const char *query, pgproxy_sql_analysis *out);

/*
 * As pgproxy_sql_analyze, and on success also keeps the parse tree as libpg_query's protobuf
 * serialisation (pg_query_parse_protobuf) in `parse_tree` / `parse_tree_len`, for plugins that
 * want the whole tree. Freed by pgproxy_sql_analysis_free.
 */
int pgproxy_sql_analyze_with_tree(const char *query, pgproxy_sql_analysis *out);

void pgproxy_sql_analysis_free(pgproxy_sql_analysis *analysis);

/* ---- merging the answers of several shards to one SELECT ---------------------------------- */

/** What a `pgproxy_sql_target` is. */
#define PGPROXY_SQL_TARGET_COLUMN 0  /* a plain column reference (a.b or b) */
#define PGPROXY_SQL_TARGET_STAR 1    /* * or t.* */
#define PGPROXY_SQL_TARGET_COUNT 2
#define PGPROXY_SQL_TARGET_SUM 3
#define PGPROXY_SQL_TARGET_MIN 4
#define PGPROXY_SQL_TARGET_MAX 5
#define PGPROXY_SQL_TARGET_AVG 6
#define PGPROXY_SQL_TARGET_OTHER 7   /* any other expression */

/** One item of the SELECT list, in order. */
typedef struct pgproxy_sql_target {
    int32_t kind;        /* PGPROXY_SQL_TARGET_* */
    char *name;          /* the result column name PostgreSQL gives it: the alias (AS x), else the last field of a
                            column reference, else the function name ("count", "avg"...), else what PostgreSQL's
                            FigureColname gives other expressions ("case", "int4" for x::int, "coalesce" ...),
                            else "?column?"; NULL for STAR */
    int32_t arg_start;   /* aggregates: byte range of the argument list including its parentheses: "(x)", "(*)" */
    int32_t arg_end;     /* (end exclusive); -1/-1 for other kinds */
} pgproxy_sql_target;

/** One ORDER BY or GROUP BY item. */
typedef struct pgproxy_sql_sort_key {
    char *name;          /* ORDER BY / GROUP BY a column reference: its last field; NULL otherwise */
    int32_t position;    /* 1-based result column: ORDER BY 2, or an ORDER BY aggregate matched to the target
                            with the same aggregate and the same argument text (white space, comments and the
                            case of unquoted words ignored); else 0 */
    int32_t descending;  /* DESC, or USING > */
    int32_t nulls_first; /* PostgreSQL's default unless NULLS FIRST/LAST: 1 for DESC, 0 for ASC */
    int32_t bytewise;    /* COLLATE "C", "POSIX" or "ucs_basic" given on the sort item */
} pgproxy_sql_sort_key;

/**
 * How to merge the answers of the shards to one SELECT that runs on every shard. Byte ranges are
 * offsets into the query text, end exclusive.
 */
typedef struct pgproxy_sql_merge_plan {
    char *refusal;       /* NULL when the answers of the shards can be merged into the right answer; else why not,
                            one English sentence for the client, e.g. "HAVING cannot be merged across shards".
                            When set, the other fields keep their empty values (no targets, limit -1 ...). */
    pgproxy_sql_target *targets; size_t target_count;
    pgproxy_sql_sort_key *sort; size_t sort_count;
    pgproxy_sql_sort_key *group_by; size_t group_count;   /* descending/nulls_first/bytewise unused (0) */
    int32_t distinct;    /* SELECT DISTINCT (not DISTINCT ON) */
    int64_t limit;       /* LIMIT n / FETCH FIRST n ROWS ONLY; -1 for none or LIMIT ALL / LIMIT NULL */
    int64_t offset;      /* OFFSET n; 0 when none (or OFFSET NULL) */
    int32_t limit_start, limit_end;   /* byte range of the LIMIT count literal in the text (with the signs of
                                         `LIMIT - -5`); -1/-1 when none, and for FETCH FIRST ROW ONLY, which has
                                         no count in the text (limit 1; refused together with an OFFSET) */
    int32_t offset_start, offset_end; /* byte range of the OFFSET literal; -1/-1 when none or OFFSET NULL */
    int32_t targets_end; /* byte offset just after the last SELECT-list item (where extra columns can be inserted);
                            -1 when not found (an empty SELECT list) */
} pgproxy_sql_merge_plan;

/*
 * Parses `query` (NUL-terminated; it must be exactly one statement), with the same stack guard as
 * pgproxy_sql_analyze. Returns PGPROXY_SQL_ANALYSIS_OK with `out` filled (refusal set when it cannot
 * be merged), or a PGPROXY_SQL_ANALYSIS_* error (parse error, too complex, no memory, INVALID for a
 * NULL query) with out->refusal set to a message (NULL only when out of memory). INVALID without
 * touching anything when `out` is NULL. Always free with pgproxy_sql_merge_plan_free (safe twice /
 * zeroed).
 *
 * Refused (the sentence names what): not exactly one statement; not a SELECT; UNION/INTERSECT/EXCEPT;
 * VALUES; SELECT INTO; FOR UPDATE/SHARE anywhere; WITH anywhere; HAVING; DISTINCT ON; GROUPING SETS,
 * ROLLUP, CUBE, GROUP BY (); window functions (OVER) in the SELECT list or ORDER BY; there also aggregates other
 * than count/sum/min/max/avg (array_agg, string_agg, stddev ..., or one of the five qualified with
 * another schema than pg_catalog), any call with DISTINCT, ORDER BY, FILTER or WITHIN GROUP, or `f(*)`
 * for another f, and one of the five inside an expression or subquery or with an aggregate inside;
 * with aggregates or GROUP BY, a SELECT-list item that is neither a column nor one of the five;
 * GROUP BY other than columns and positions; ORDER BY other than columns, positions and one of the
 * five matching a SELECT-list item; ORDER BY/GROUP BY positions outside the SELECT list; ORDER BY/
 * GROUP BY `q.name` when the SELECT list has another item named `name` (another table's column, an
 * alias); ORDER BY USING other than < and >; LIMIT/OFFSET other than integer constants, negative
 * ones; FETCH ... WITH TIES; FETCH FIRST ROW ONLY (no count) with an OFFSET.
 * Not examined: what subqueries in FROM/WHERE compute (they run on each shard); functions that are
 * user-defined aggregates under other names (no catalog here); the column names `*` expands to.
 */
int pgproxy_sql_merge_plan_make(const char *query, pgproxy_sql_merge_plan *out);

void pgproxy_sql_merge_plan_free(pgproxy_sql_merge_plan *plan);

/* ---- splitting COPY FROM STDIN rows across shards ----------------------------------------- */

#define PGPROXY_SQL_COPY_TEXT 0
#define PGPROXY_SQL_COPY_CSV 1
#define PGPROXY_SQL_COPY_BINARY 2

/**
 * What pgproxy needs to split the rows of one `COPY rel [(columns)] FROM STDIN [options]` among
 * shards: the target, the column list and how PostgreSQL 15 reads the data (its defaults filled in).
 */
typedef struct pgproxy_sql_copy_from {
    char *refusal;         /* NULL when the rows can be split; else why not (one sentence). Other fields empty then. */
    char *table;           /* the relation as written, dotted ("users", "public.users") */
    char *schema_name;     /* the schema as written (PostgreSQL folds unquoted names), NULL when unqualified */
    char *relation_name;
    char **columns; size_t column_count;  /* the column list, as PostgreSQL folds it; 0 when none (all columns) */
    int32_t from_stdin;    /* 1: FROM STDIN; 0: a file or PROGRAM read by the server */
    int32_t format;        /* PGPROXY_SQL_COPY_* */
    int32_t delimiter;     /* one byte: tab (text) or ',' (csv) unless given */
    int32_t quote;         /* csv: '"' unless given */
    int32_t escape;        /* csv: the quote unless given */
    char *null_string;     /* "\N" (text) or "" (csv) unless given */
    int32_t header;        /* HEADER true or MATCH: the first line is a header */
} pgproxy_sql_copy_from;

/*
 * Parses `query` (exactly one statement) with the same stack guard as pgproxy_sql_analyze and fills
 * `out`. Refused (with the reason): not one COPY ... FROM statement; options PostgreSQL 15 would
 * refuse (unknown format, a delimiter/quote/escape that is not one byte); FORCE_NULL and
 * FORCE_NOT_NULL (they change which values are NULL per column); ENCODING other than UTF8.
 * Returns PGPROXY_SQL_ANALYSIS_OK, or an error status with `refusal` set. Free with
 * pgproxy_sql_copy_from_free (safe twice / zeroed).
 */
int pgproxy_sql_copy_from_make(const char *query, pgproxy_sql_copy_from *out);

void pgproxy_sql_copy_from_free(pgproxy_sql_copy_from *copy);

#ifdef __cplusplus
}
#endif

#endif /* PGPROXY_SQL_ANALYSIS_H */
