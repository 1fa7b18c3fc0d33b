/*
 * analysis.c — pgproxy_sql_analyze: parse with libpg_query, walk, classify, summarise.
 *
 *   1. Bound the parse tree's depth from the tokens (guard.c). libpg_query and protobuf-c recurse
 *      once per tree level with no limit; a text that could nest deeper than a small bound is
 *      parsed on a helper thread whose stack is sized for the bound (virtual memory; only what
 *      the recursion touches is used). A text beyond SA_MAX_DEPTH_BOUND is refused.
 *   2. pg_query_parse_protobuf, then pg_query__parse_result__unpack (sa_parse_guarded, which
 *      merge.c uses too).
 *   3. Per statement: walk the tree generically (walk.c), classify it (classify.c).
 *   4. Combine: kind = the strongest, flags = the union, names sorted by where they first appear.
 *   5. A text of one statement: the values it gives for columns (values.c).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sa_internal.h"

/* ---- name lists -------------------------------------------------------------------------- */

bool sa_names_add(sa_names *list, char *name, int32_t location, bool cte_candidate, size_t limit) {
    for (size_t i = 0; i < list->count; i++) {
        sa_name *existing = &list->items[i];
        if (strcmp(existing->name, name) != 0) continue;
        if ((uint32_t)location < (uint32_t)existing->location) existing->location = location;
        if (!cte_candidate) existing->cte_candidate = false;
        free(name);
        return true;
    }
    if (list->count >= limit) {
        free(name);
        return true;
    }
    if (list->count == list->capacity) {
        size_t grown = list->capacity ? list->capacity * 2 : 8;
        sa_name *items = realloc(list->items, grown * sizeof *items);
        if (items == NULL) {
            free(name);
            return false;
        }
        list->items = items;
        list->capacity = grown;
    }
    list->items[list->count++] = (sa_name){name, location, cte_candidate};
    return true;
}

void sa_names_free(sa_names *list) {
    for (size_t i = 0; i < list->count; i++) free(list->items[i].name);
    free(list->items);
    memset(list, 0, sizeof *list);
}

static bool names_contain(const sa_names *list, const char *name) {
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->items[i].name, name) == 0) return true;
    return false;
}

/* At the end of a statement: drop FROM items that name one of its CTEs, keep the others. */
static void resolve_cte_candidates(sa_collector *collector) {
    sa_names *tables = &collector->tables;
    size_t kept = 0;
    for (size_t i = 0; i < tables->count; i++) {
        sa_name entry = tables->items[i];
        if (entry.cte_candidate && names_contain(&collector->ctes, entry.name)) {
            free(entry.name);
            continue;
        }
        entry.cte_candidate = false;
        tables->items[kept++] = entry;
    }
    tables->count = kept;
    sa_names_free(&collector->ctes);
}

/* Stable sort by first location (unknown locations, -1, last), then hand over at most `limit`. */
static bool export_names(sa_names *list, size_t limit, char ***out_items, size_t *out_count) {
    for (size_t i = 1; i < list->count; i++) {
        sa_name entry = list->items[i];
        size_t j = i;
        while (j > 0 && (uint32_t)list->items[j - 1].location > (uint32_t)entry.location) {
            list->items[j] = list->items[j - 1];
            j--;
        }
        list->items[j] = entry;
    }
    size_t count = list->count < limit ? list->count : limit;
    if (count == 0) return true;
    char **items = calloc(count, sizeof *items);
    if (items == NULL) return false;
    for (size_t i = 0; i < count; i++) {
        items[i] = list->items[i].name;
        list->items[i].name = NULL;
    }
    for (size_t i = count; i < list->count; i++) free(list->items[i].name);
    list->count = 0;
    *out_items = items;
    *out_count = count;
    return true;
}

/* ---- results ----------------------------------------------------------------------------- */

static void free_strings(char **items, size_t count) {
    if (items == NULL) return;
    for (size_t i = 0; i < count; i++) free(items[i]);
    free(items);
}

void pgproxy_sql_analysis_free(pgproxy_sql_analysis *analysis) {
    if (analysis == NULL) return;
    free_strings(analysis->commands, analysis->command_count);
    free_strings(analysis->tables, analysis->table_count);
    free_strings(analysis->functions, analysis->function_count);
    free(analysis->error);
    free(analysis->parse_tree);
    sa_free_values(analysis->values, analysis->value_count);
    memset(analysis, 0, sizeof *analysis);
}

/* Resets `out` to "could not analyse", taking over `message` (may be NULL). */
static int fail_owned(pgproxy_sql_analysis *out, int status, char *message, int32_t cursor) {
    pgproxy_sql_analysis_free(out);
    out->kind = PGPROXY_STMT_UNKNOWN;
    out->flags = PGPROXY_FLAG_PARSE_ERROR;
    out->error = message;
    out->error_cursor = cursor > 0 ? cursor : 0;
    return status;
}

static int fail(pgproxy_sql_analysis *out, int status, const char *message, int32_t cursor) {
    return fail_owned(out, status, strdup(message), cursor);
}

/* ---- summarising a parse tree ------------------------------------------------------------ */

static int summarise(const PgQuery__ParseResult *tree, const char *query, pgproxy_sql_analysis *out) {
    sa_collector collector = {0};
    size_t statements = tree->n_stmts;

    if (statements > 0) {
        out->commands = calloc(statements, sizeof *out->commands);
        if (out->commands == NULL) return fail(out, PGPROXY_SQL_ANALYSIS_NO_MEMORY, "out of memory", 0);
    }
    for (size_t i = 0; i < statements; i++) {
        const PgQuery__RawStmt *raw = tree->stmts[i];
        const ProtobufCMessage *node = raw ? (const ProtobufCMessage *)raw->stmt : NULL;
        const ProtobufCMessage *stmt = sa_node_inner(node);
        int32_t location = raw ? raw->stmt_location : 0;

        sa_facts facts;
        if (!sa_walk_statement(&collector, node, &facts) ||
            !sa_collect_drop_relations(&collector, stmt, location)) {
            collector.out_of_memory = true;
            break;
        }
        resolve_cte_candidates(&collector);

        sa_statement_class statement_class;
        sa_classify_statement(stmt, &facts, &statement_class);
        if (facts.has_function_call) statement_class.flags |= PGPROXY_FLAG_FUNCTION_CALL;
        if (sa_kind_rank(statement_class.kind) > sa_kind_rank(out->kind)) out->kind = statement_class.kind;
        out->flags |= statement_class.flags;

        out->commands[i] = strdup(statement_class.command);
        if (out->commands[i] == NULL) {
            collector.out_of_memory = true;
            break;
        }
        out->command_count = i + 1;
    }
    out->statement_count = (int32_t)(statements > INT32_MAX ? INT32_MAX : statements);

    if (!collector.out_of_memory &&
        (!export_names(&collector.tables, PGPROXY_SQL_ANALYSIS_MAX_NAMES, &out->tables, &out->table_count) ||
         !export_names(&collector.functions, PGPROXY_SQL_ANALYSIS_MAX_NAMES, &out->functions,
                       &out->function_count)))
        collector.out_of_memory = true;
    if (!collector.out_of_memory && statements == 1 && tree->stmts[0] != NULL &&
        !sa_collect_values(sa_node_inner((const ProtobufCMessage *)tree->stmts[0]->stmt), query, out))
        collector.out_of_memory = true;

    sa_names_free(&collector.tables);
    sa_names_free(&collector.functions);
    sa_names_free(&collector.ctes);
    if (collector.out_of_memory) return fail(out, PGPROXY_SQL_ANALYSIS_NO_MEMORY, "out of memory", 0);
    return PGPROXY_SQL_ANALYSIS_OK;
}

/* ---- parsing where it is safe (shared with merge.c) --------------------------------------- */

/* Sets the failure of a guarded parse: `message` copied (NULL when even that fails). */
static int parse_failed(sa_parse_failure *failure, int status, const char *message, int32_t cursor) {
    free(failure->message);
    failure->failed = true;
    failure->message = message != NULL ? strdup(message) : NULL;
    failure->cursor = cursor > 0 ? cursor : 0;
    return status;
}

/* Parses, unpacks and hands the tree to `consume`; needs stack for the whole depth of the tree. */
static int parse_and_consume(const char *query, sa_tree_consumer consume, void *context,
                             sa_parse_failure *failure) {
    PgQueryProtobufParseResult parsed = pg_query_parse_protobuf(query);
    if (parsed.error != NULL) {
        const char *message = parsed.error->message ? parsed.error->message : "syntax error";
        int status = parse_failed(failure, PGPROXY_SQL_ANALYSIS_PARSE_ERROR, message, parsed.error->cursorpos);
        pg_query_free_protobuf_parse_result(parsed);
        return status;
    }
    PgQuery__ParseResult *tree = pg_query__parse_result__unpack(
        NULL, parsed.parse_tree.len, (const uint8_t *)parsed.parse_tree.data);
    int status = tree == NULL
        ? parse_failed(failure, PGPROXY_SQL_ANALYSIS_NO_MEMORY, "could not unpack the parse tree", 0)
        : consume(tree, (const uint8_t *)parsed.parse_tree.data, parsed.parse_tree.len, context);
    if (tree != NULL) pg_query__parse_result__free_unpacked(tree, NULL);
    pg_query_free_protobuf_parse_result(parsed);
    return status;
}

typedef struct sa_job {
    const char *query;
    sa_tree_consumer consume;
    void *context;
    sa_parse_failure *failure;
    int status;
} sa_job;

static void *run_job(void *argument) {
    sa_job *job = argument;
    job->status = parse_and_consume(job->query, job->consume, job->context, job->failure);
    return NULL;
}

/* Runs the job on a short-lived thread whose stack (`stack_size` bytes + a guard page) is mapped
 * for it. */
static int run_on_helper_thread(sa_job *job, size_t stack_size) {
    long page_size = sysconf(_SC_PAGESIZE);
    size_t page = page_size > 0 ? (size_t)page_size : 4096;
    size_t usable = (stack_size + page - 1) / page * page;
    size_t total = usable + page; /* one guard page below the stack */

    int map_flags = MAP_PRIVATE | MAP_ANONYMOUS;
#ifdef MAP_NORESERVE
    map_flags |= MAP_NORESERVE; /* reserve address space only; pages come as the stack grows */
#endif
#ifdef MAP_STACK
    map_flags |= MAP_STACK;
#endif
    void *memory = mmap(NULL, total, PROT_READ | PROT_WRITE, map_flags, -1, 0);
    if (memory == MAP_FAILED)
        return parse_failed(job->failure, PGPROXY_SQL_ANALYSIS_NO_MEMORY,
                            "no memory for a stack to analyse this query", 0);
    if (mprotect(memory, page, PROT_NONE) != 0) {
        munmap(memory, total);
        return parse_failed(job->failure, PGPROXY_SQL_ANALYSIS_NO_MEMORY,
                            "could not set up a stack to analyse this query", 0);
    }

    job->status = PGPROXY_SQL_ANALYSIS_NO_MEMORY;
    pthread_attr_t attributes;
    pthread_t thread = 0;
    bool started = false;
    if (pthread_attr_init(&attributes) == 0) {
        if (pthread_attr_setstack(&attributes, (char *)memory + page, usable) == 0)
            started = pthread_create(&thread, &attributes, run_job, job) == 0;
        pthread_attr_destroy(&attributes);
    }
    if (started) pthread_join(thread, NULL);
    munmap(memory, total);
    if (!started)
        return parse_failed(job->failure, PGPROXY_SQL_ANALYSIS_NO_MEMORY,
                            "could not start a thread to analyse this query", 0);
    return job->status;
}

int sa_parse_guarded(const char *query, sa_tree_consumer consume, void *context, sa_parse_failure *failure) {
    memset(failure, 0, sizeof *failure);
    uint64_t bound;
    char *error;
    int32_t cursor;
    if (!sa_estimate_depth(query, &bound, &error, &cursor)) {
        if (error == NULL) return parse_failed(failure, PGPROXY_SQL_ANALYSIS_NO_MEMORY, "out of memory", 0);
        failure->failed = true;
        failure->message = error;
        failure->cursor = cursor > 0 ? cursor : 0;
        return PGPROXY_SQL_ANALYSIS_PARSE_ERROR;
    }
    if (bound <= SA_INLINE_MAX_BOUND) return parse_and_consume(query, consume, context, failure);
    if (bound > SA_MAX_DEPTH_BOUND)
        return parse_failed(failure, PGPROXY_SQL_ANALYSIS_TOO_COMPLEX,
                            "query too deeply nested or too long to analyse", 0);
    sa_job job = {query, consume, context, failure, PGPROXY_SQL_ANALYSIS_NO_MEMORY};
    return run_on_helper_thread(&job, SA_STACK_BASE + (size_t)bound * SA_STACK_PER_LEVEL);
}

/* ---- entry point ------------------------------------------------------------------------- */

typedef struct sa_analysis_job {
    const char *query;
    pgproxy_sql_analysis *out;
    bool keep_tree;
} sa_analysis_job;

/* Summarises the tree (keeping the protobuf bytes when asked). */
static int consume_analysis(const PgQuery__ParseResult *tree, const uint8_t *bytes, size_t length, void *context) {
    sa_analysis_job *job = context;
    uint8_t *copy = NULL;
    if (job->keep_tree) {
        copy = malloc(length > 0 ? length : 1);
        if (copy == NULL) return fail(job->out, PGPROXY_SQL_ANALYSIS_NO_MEMORY, "out of memory", 0);
        if (length > 0) memcpy(copy, bytes, length);
    }
    int status = summarise(tree, job->query, job->out);
    if (status == PGPROXY_SQL_ANALYSIS_OK && copy != NULL) {
        job->out->parse_tree = copy;
        job->out->parse_tree_len = length;
    } else {
        free(copy);
    }
    return status;
}

static int analyze(const char *query, pgproxy_sql_analysis *out, bool keep_tree) {
    if (out == NULL) return PGPROXY_SQL_ANALYSIS_INVALID;
    memset(out, 0, sizeof *out);
    if (query == NULL) return fail(out, PGPROXY_SQL_ANALYSIS_INVALID, "query is NULL", 0);

    sa_analysis_job job = {query, out, keep_tree};
    sa_parse_failure failure;
    int status = sa_parse_guarded(query, consume_analysis, &job, &failure);
    if (failure.failed) {
        if (failure.message == NULL) return fail(out, status, "out of memory", 0);
        return fail_owned(out, status, failure.message, failure.cursor);
    }
    return status;
}

int pgproxy_sql_analyze(const char *query, pgproxy_sql_analysis *out) { return analyze(query, out, false); }

int pgproxy_sql_analyze_with_tree(const char *query, pgproxy_sql_analysis *out) { return analyze(query, out, true); }
