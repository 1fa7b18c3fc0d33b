/*
 * pgproxy_sql_analysis.h — what the routing layer needs to know about a SQL text.
 *
 * Parses the text with libpg_query (the PostgreSQL 15 parser) and summarises it: the kind of
 * statement (combined over all statements of a multi-statement text), facts as PGPROXY_FLAG_*
 * bits, the command tag of every statement, and the relations and functions it names.
 *
 * Meant for a routing-cache miss: clarity over speed. It never crashes on any input: a text whose
 * parse tree could be deep enough to overflow the caller's stack is parsed on a helper thread
 * with a stack sized for it; a text beyond any reasonable depth is refused like a parse error.
 *
 * Thread-safe: any number of threads may call pgproxy_sql_analyze at once.
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

typedef struct pgproxy_sql_analysis {
    int32_t kind;            /* pgproxy_statement_kind, combined over all statements */
    uint32_t flags;          /* PGPROXY_FLAG_* union */
    int32_t statement_count;
    char **commands; size_t command_count;   /* one command tag per statement, e.g. "SELECT", "DROP TABLE" */
    char **tables; size_t table_count;       /* distinct relations (RangeVar): "schema.rel" or "rel" */
    char **functions; size_t function_count; /* distinct FuncCall names, lowercase, dotted if qualified */
    char *error;             /* parse error message (NUL-terminated) or NULL */
    int32_t error_cursor;    /* 1-based position of the parse error, 0 if none */
} pgproxy_sql_analysis;

/*
 * Analyses `query` (NUL-terminated). Returns PGPROXY_SQL_ANALYSIS_OK, or nonzero when the query
 * cannot be analysed (then kind = PGPROXY_STMT_UNKNOWN, flags = PGPROXY_FLAG_PARSE_ERROR,
 * statement_count = 0 and `error` is set). `out` must be freed with pgproxy_sql_analysis_free
 * either way (it is safe to free a zero-filled struct, and to free twice).
 */
int pgproxy_sql_analyze(const char *query, pgproxy_sql_analysis *out);

void pgproxy_sql_analysis_free(pgproxy_sql_analysis *analysis);

#ifdef __cplusplus
}
#endif

#endif /* PGPROXY_SQL_ANALYSIS_H */
