/*
 * merge.c — pgproxy_sql_merge_plan_make: how to merge the answers of several shards to one SELECT.
 *
 * The same statement runs on every shard; pgproxy merges the rows. That gives the right answer
 * when each SELECT-list item is a column (rows pass through, grouped or sorted), or one of the
 * five aggregates whose partial answers combine (count and sum add up, min/max of the minima and
 * maxima, avg from hidden sums and counts), and when ORDER BY, GROUP BY, DISTINCT, LIMIT and
 * OFFSET name things the merge can redo on the rows. Everything else is refused with a sentence.
 *
 * The parse runs through sa_parse_guarded (analysis.c), on a stack sized for the tree; the checks
 * here look at a bounded number of levels or walk iteratively (sa_walk), and text positions come
 * from the lexer's tokens (merge_text.c).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sa_internal.h"

typedef struct sa_merge {
    pgproxy_sql_merge_plan *plan;
    const PgQuery__SelectStmt *select;
    sa_tokens tokens;
    const ProtobufCMessage *top;   /* while checking one item: the call at its top, if any */
    bool top_is_aggregate;
    bool has_star;                 /* a STAR target: result columns are more than the targets */
    bool out_of_memory;
} sa_merge;

/* Sets the refusal (the first one wins) from a printf format. Returns false, to stop. */
static bool refuse(sa_merge *m, const char *format, ...) {
    if (m->plan->refusal != NULL || m->out_of_memory) return false;
    va_list arguments;
    va_start(arguments, format);
    char *message = NULL;
    if (vasprintf(&message, format, arguments) < 0) {
        message = NULL;
        m->out_of_memory = true;
    }
    va_end(arguments);
    m->plan->refusal = message;
    return false;
}

static bool stopped(const sa_merge *m) { return m->plan->refusal != NULL || m->out_of_memory; }

static bool no_memory(sa_merge *m) {
    m->out_of_memory = true;
    return false;
}

/* ---- calls in the SELECT list and ORDER BY ----------------------------------------------- */

/* Refuses what cannot be merged in one call: windows, other aggregates, DISTINCT/ORDER BY/FILTER/
 * WITHIN GROUP, and one of the five anywhere but at the top of the item. */
static bool check_call(sa_merge *m, const PgQuery__FuncCall *call) {
    char name[256];
    sa_function_name(call, name, sizeof name);
    int kind = sa_aggregate_kind(call);
    if (call->over != NULL)
        return refuse(m, "window functions (%s(...) OVER ...) cannot be merged across shards", name);
    if (kind == PGPROXY_SQL_TARGET_OTHER)
        return refuse(m, "the aggregate %s cannot be merged across shards (only count, sum, min, max and avg can)",
                      name);
    if (call->agg_within_group) return refuse(m, "%s(...) WITHIN GROUP cannot be merged across shards", name);
    if (call->agg_distinct) return refuse(m, "%s(DISTINCT ...) cannot be merged across shards", name);
    if (call->n_agg_order > 0) return refuse(m, "ORDER BY inside %s(...) cannot be merged across shards", name);
    if (call->agg_filter != NULL) return refuse(m, "%s(...) FILTER (...) cannot be merged across shards", name);
    if (kind < 0 && call->agg_star)
        return refuse(m, "the aggregate %s(*) cannot be merged across shards (only count, sum, min, max and avg "
                         "can)", name);
    if (kind >= 0 && (const ProtobufCMessage *)call != m->top)
        return m->top_is_aggregate
                   ? refuse(m, "an aggregate inside another aggregate (%s) cannot be merged across shards", name)
                   : refuse(m, "%s(...) inside an expression or a subquery cannot be merged across shards "
                               "(only as a whole SELECT-list item)", name);
    return true;
}

static bool visit_item(const ProtobufCMessage *message, void *context, bool *skip_children) {
    (void)skip_children;
    return !IS(message, func_call) || check_call(context, (const PgQuery__FuncCall *)message);
}

/* Checks every call under `node`, whose top (after COLLATE) is `top`. */
static bool check_item(sa_merge *m, const PgQuery__Node *node, const ProtobufCMessage *top) {
    m->top = IS(top, func_call) ? top : NULL;
    m->top_is_aggregate = m->top != NULL && sa_aggregate_kind((const PgQuery__FuncCall *)top) >= 0;
    if (!sa_walk((const ProtobufCMessage *)node, visit_item, m) && !stopped(m)) no_memory(m);
    return !stopped(m);
}

/* ---- the SELECT list ----------------------------------------------------------------------- */

static bool add_targets(sa_merge *m, const PgQuery__SelectStmt *select) {
    pgproxy_sql_merge_plan *plan = m->plan;
    if (select->n_target_list == 0) return true;
    plan->targets = calloc(select->n_target_list, sizeof *plan->targets);
    if (plan->targets == NULL) return no_memory(m);
    for (size_t i = 0; i < select->n_target_list; i++) {
        const ProtobufCMessage *item = inner(select->target_list[i]);
        if (!IS(item, res_target)) return refuse(m, "this SELECT list cannot be merged across shards");
        const PgQuery__ResTarget *target = (const PgQuery__ResTarget *)item;
        const ProtobufCMessage *value = inner(target->val);
        if (!check_item(m, target->val, value)) return false;

        pgproxy_sql_target *out = &plan->targets[plan->target_count++];
        *out = (pgproxy_sql_target){PGPROXY_SQL_TARGET_OTHER, NULL, -1, -1};
        if (IS(value, column_ref)) {
            const PgQuery__ColumnRef *ref = (const PgQuery__ColumnRef *)value;
            const ProtobufCMessage *last = ref->n_fields ? inner(ref->fields[ref->n_fields - 1]) : NULL;
            out->kind = IS(last, a__star) ? PGPROXY_SQL_TARGET_STAR : PGPROXY_SQL_TARGET_COLUMN;
        } else if (IS(value, func_call) && sa_aggregate_kind((const PgQuery__FuncCall *)value) >= 0) {
            const PgQuery__FuncCall *call = (const PgQuery__FuncCall *)value;
            out->kind = sa_aggregate_kind(call);
            if (!sa_tokens_parenthesised(&m->tokens, call->location, &out->arg_start, &out->arg_end))
                return refuse(m, "the arguments of an aggregate could not be located in the text, so it cannot be "
                                 "merged across shards");
        }
        if (out->kind == PGPROXY_SQL_TARGET_STAR) {
            m->has_star = true;
            continue;
        }
        out->name = strdup(nonempty(target->name) ? target->name : sa_figure_name(target->val));
        if (out->name == NULL) return no_memory(m);
    }
    return true;
}

/* ---- ORDER BY and GROUP BY ----------------------------------------------------------------- */

static bool same_fields(const PgQuery__ColumnRef *a, const PgQuery__ColumnRef *b) {
    if (a->n_fields != b->n_fields) return false;
    for (size_t i = 0; i < a->n_fields; i++) {
        const char *x = string_of(a->fields[i]), *y = string_of(b->fields[i]);
        if (x == NULL || y == NULL || strcmp(x, y) != 0) return false;
    }
    return true;
}

/*
 * A qualified `q.name` names an input column; the merge finds it by its result name. Safe when the
 * SELECT-list items named `name` are none, or one that is `name` or `q.name` itself (not another
 * table's `name`, not another expression AS name).
 */
static bool name_is_ambiguous(const sa_merge *m, const PgQuery__ColumnRef *ref, const char *name) {
    size_t named = 0;
    bool same = false;
    for (size_t i = 0; i < m->plan->target_count && i < m->select->n_target_list; i++) {
        if (m->plan->targets[i].name == NULL || strcmp(m->plan->targets[i].name, name) != 0) continue;
        named++;
        const PgQuery__ResTarget *target = (const PgQuery__ResTarget *)inner(m->select->target_list[i]);
        const ProtobufCMessage *value = inner(target->val);
        const PgQuery__ColumnRef *column = IS(value, column_ref) ? (const PgQuery__ColumnRef *)value : NULL;
        const char *last = column != NULL && column->n_fields > 0
                               ? string_of(column->fields[column->n_fields - 1]) : NULL;
        same = last != NULL && strcmp(last, name) == 0 && (column->n_fields == 1 || same_fields(column, ref));
    }
    return named > 1 || (named == 1 && !same);
}

/* A 1-based position (an integer constant) or a column reference's last field, into `key`. */
static bool column_or_position(sa_merge *m, const ProtobufCMessage *value, pgproxy_sql_sort_key *key,
                               const char *clause, bool *matched) {
    *matched = true;
    if (IS(value, a__const)) {
        const PgQuery__AConst *constant = (const PgQuery__AConst *)value;
        if (constant->isnull || constant->val_case != PG_QUERY__A__CONST__VAL_IVAL || constant->ival == NULL)
            return refuse(m, "%s a constant other than a position cannot be merged across shards", clause);
        int32_t position = constant->ival->ival;
        if (position < 1 || (!m->has_star && (size_t)position > m->plan->target_count))
            return refuse(m, "%s position %d is not in the SELECT list and cannot be merged across shards", clause,
                          (int)position);
        key->position = position;
        return true;
    }
    if (IS(value, column_ref)) {
        const PgQuery__ColumnRef *ref = (const PgQuery__ColumnRef *)value;
        const char *name = ref->n_fields ? string_of(ref->fields[ref->n_fields - 1]) : NULL;
        if (name == NULL) return refuse(m, "%s a whole row (t.*) cannot be merged across shards", clause);
        const char *qualifier = ref->n_fields > 1 ? string_of(ref->fields[ref->n_fields - 2]) : NULL;
        if (ref->n_fields > 1 && name_is_ambiguous(m, ref, name))
            return refuse(m, "%s %s.%s cannot be merged across shards: the SELECT list has another column named "
                             "\"%s\"", clause, qualifier ? qualifier : "?", name, name);
        key->name = strdup(name);
        return key->name != NULL || no_memory(m);
    }
    *matched = false;
    return true;
}

static bool is_bytewise(const PgQuery__CollateClause *collate) {
    const char *name = collate->n_collname ? string_of(collate->collname[collate->n_collname - 1]) : NULL;
    return name != NULL && (!strcmp(name, "C") || !strcmp(name, "POSIX") || !strcmp(name, "ucs_basic"));
}

/* The SELECT-list item that is the same aggregate over the same argument text, 1-based; or 0. */
static int32_t matching_aggregate(const sa_merge *m, const PgQuery__FuncCall *call) {
    int32_t start, end;
    if (!sa_tokens_parenthesised(&m->tokens, call->location, &start, &end)) return 0;
    int kind = sa_aggregate_kind(call);
    for (size_t i = 0; i < m->plan->target_count; i++) {
        const pgproxy_sql_target *target = &m->plan->targets[i];
        if (target->kind == kind &&
            sa_tokens_same(&m->tokens, start, end, target->arg_start, target->arg_end))
            return (int32_t)(i + 1);
    }
    return 0;
}

static bool add_sort_key(sa_merge *m, const PgQuery__SortBy *sort, pgproxy_sql_sort_key *key) {
    const ProtobufCMessage *value = inner(sort->node);
    bool collated = IS(value, collate_clause);
    if (collated) key->bytewise = is_bytewise((const PgQuery__CollateClause *)value);
    if (collated && !key->bytewise)
        return refuse(m, "ORDER BY with a COLLATE other than \"C\" or \"POSIX\" cannot be merged across shards");
    while (IS(value, collate_clause)) value = inner(((const PgQuery__CollateClause *)value)->arg);
    if (!check_item(m, sort->node, value)) return false;
    if (collated && IS(value, a__const)) value = NULL; /* `1 COLLATE "C"` is an expression, no position */

    if (sort->sortby_dir == PG_QUERY__SORT_BY_DIR__SORTBY_DESC) key->descending = 1;
    if (sort->sortby_dir == PG_QUERY__SORT_BY_DIR__SORTBY_USING) {
        const char *op = sort->n_use_op ? string_of(sort->use_op[sort->n_use_op - 1]) : NULL;
        const char *schema = sort->n_use_op == 2 ? string_of(sort->use_op[0]) : NULL;
        bool plain = sort->n_use_op == 1 || (schema != NULL && strcmp(schema, "pg_catalog") == 0);
        if (!plain || op == NULL || (strcmp(op, "<") != 0 && strcmp(op, ">") != 0))
            return refuse(m, "ORDER BY ... USING %s cannot be merged across shards (only < and > can)",
                          op ? op : "?");
        key->descending = op[0] == '>';
    }
    key->nulls_first = sort->sortby_nulls == PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_FIRST ? 1
                       : sort->sortby_nulls == PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_LAST ? 0
                                                                                          : key->descending;
    bool matched;
    if (!column_or_position(m, value, key, "ORDER BY", &matched)) return false;
    if (matched) return true;
    if (IS(value, func_call) && sa_aggregate_kind((const PgQuery__FuncCall *)value) >= 0) {
        key->position = matching_aggregate(m, (const PgQuery__FuncCall *)value);
        if (key->position > 0) return true;
        char name[256];
        sa_function_name((const PgQuery__FuncCall *)value, name, sizeof name);
        return refuse(m, "ORDER BY %s(...) cannot be merged across shards unless the same %s(...) is in the "
                         "SELECT list", name, name);
    }
    return refuse(m, "ORDER BY an expression cannot be merged across shards (only columns, positions and "
                     "aggregates of the SELECT list can)");
}

static bool add_group_key(sa_merge *m, const PgQuery__Node *item, pgproxy_sql_sort_key *key) {
    const ProtobufCMessage *value = inner(item);
    if (IS(value, grouping_set))
        return refuse(m, "GROUPING SETS, ROLLUP, CUBE and GROUP BY () cannot be merged across shards");
    bool matched;
    if (!column_or_position(m, value, key, "GROUP BY", &matched)) return false;
    if (matched) return true;
    return refuse(m, "GROUP BY an expression cannot be merged across shards (only columns and positions can)");
}

static bool add_keys(sa_merge *m, const PgQuery__SelectStmt *select) {
    pgproxy_sql_merge_plan *plan = m->plan;
    if (select->n_group_clause > 0) {
        plan->group_by = calloc(select->n_group_clause, sizeof *plan->group_by);
        if (plan->group_by == NULL) return no_memory(m);
        for (size_t i = 0; i < select->n_group_clause; i++)
            if (!add_group_key(m, select->group_clause[i], &plan->group_by[plan->group_count++])) return false;
    }
    if (select->n_sort_clause > 0) {
        plan->sort = calloc(select->n_sort_clause, sizeof *plan->sort);
        if (plan->sort == NULL) return no_memory(m);
        for (size_t i = 0; i < select->n_sort_clause; i++) {
            const ProtobufCMessage *item = inner(select->sort_clause[i]);
            if (!IS(item, sort_by)) return refuse(m, "this ORDER BY cannot be merged across shards");
            if (!add_sort_key(m, (const PgQuery__SortBy *)item, &plan->sort[plan->sort_count++])) return false;
        }
    }
    return true;
}

/* ---- LIMIT and OFFSET ---------------------------------------------------------------------- */

/* `node` as a LIMIT/OFFSET value: *value (-1 for NULL) and the literal's range (-1/-1 if none). */
static bool limit_value(sa_merge *m, const PgQuery__Node *node, const char *clause, int64_t *value,
                        int32_t *start, int32_t *end) {
    const ProtobufCMessage *message = inner(node);
    if (!IS(message, a__const))
        return refuse(m, "%s with a parameter or an expression cannot be merged across shards (only an integer "
                         "constant can)", clause);
    const PgQuery__AConst *constant = (const PgQuery__AConst *)message;
    if (constant->isnull) return true;
    if (constant->val_case == PG_QUERY__A__CONST__VAL_IVAL && constant->ival != NULL) {
        *value = constant->ival->ival;
    } else if (constant->val_case == PG_QUERY__A__CONST__VAL_FVAL && constant->fval != NULL &&
               nonempty(constant->fval->fval)) {
        /* integers beyond 32 bits come as Float: take plain digits that fit 64 bits */
        const char *digits = constant->fval->fval;
        if (digits[0] == '-') return refuse(m, "a negative %s cannot be merged across shards", clause);
        int64_t number = 0;
        for (const char *p = digits; *p != '\0'; p++) {
            if (*p < '0' || *p > '9')
                return refuse(m, "%s %s cannot be merged across shards (only an integer constant can)", clause,
                              digits);
            if (number > (INT64_MAX - (*p - '0')) / 10)
                return refuse(m, "%s %s is out of range and cannot be merged across shards", clause, digits);
            number = number * 10 + (*p - '0');
        }
        *value = number;
    } else {
        return refuse(m, "%s with a constant that is not an integer cannot be merged across shards", clause);
    }
    if (*value < 0) return refuse(m, "a negative %s cannot be merged across shards", clause);
    if (constant->location < 0) return true; /* FETCH FIRST ROW ONLY: 1, not in the text */
    if (!sa_tokens_number(&m->tokens, constant->location, start, end))
        return refuse(m, "%s written other than as a plain number cannot be merged across shards", clause);
    return true;
}

static bool add_limits(sa_merge *m, const PgQuery__SelectStmt *select) {
    pgproxy_sql_merge_plan *plan = m->plan;
    if (select->limit_option == PG_QUERY__LIMIT_OPTION__LIMIT_OPTION_WITH_TIES)
        return refuse(m, "FETCH ... WITH TIES cannot be merged across shards");
    if (select->limit_count != NULL &&
        !limit_value(m, select->limit_count, "LIMIT", &plan->limit, &plan->limit_start, &plan->limit_end))
        return false;
    if (select->limit_offset != NULL &&
        !limit_value(m, select->limit_offset, "OFFSET", &plan->offset, &plan->offset_start, &plan->offset_end))
        return false;
    if (plan->limit >= 0 && plan->limit_start < 0 && plan->offset > 0)
        return refuse(m, "FETCH FIRST ROW ONLY together with OFFSET cannot be merged across shards "
                         "(FETCH FIRST 1 ROW ONLY can)");
    return true;
}

/* ---- the statement ------------------------------------------------------------------------- */

static bool visit_statement(const ProtobufCMessage *message, void *context, bool *skip_children) {
    (void)skip_children;
    if (IS(message, locking_clause)) return refuse(context, "FOR UPDATE/SHARE cannot be merged across shards");
    if (IS(message, with_clause))
        return refuse(context, "WITH (common table expressions) cannot be merged across shards");
    return true;
}

static const char *set_operation(PgQuery__SetOperation op) {
    switch (op) {
    case PG_QUERY__SET_OPERATION__SETOP_UNION: return "UNION";
    case PG_QUERY__SET_OPERATION__SETOP_INTERSECT: return "INTERSECT";
    case PG_QUERY__SET_OPERATION__SETOP_EXCEPT: return "EXCEPT";
    default: return NULL;
    }
}

static bool plan_select(sa_merge *m, const PgQuery__SelectStmt *select) {
    pgproxy_sql_merge_plan *plan = m->plan;
    m->select = select;
    const char *op = set_operation(select->op);
    if (op != NULL) return refuse(m, "%s cannot be merged across shards", op);
    if (select->n_values_lists > 0) return refuse(m, "VALUES cannot be merged across shards");
    if (select->into_clause != NULL) return refuse(m, "SELECT INTO cannot be merged across shards");
    if (!sa_walk(&select->base, visit_statement, m)) return stopped(m) ? false : no_memory(m);
    if (select->having_clause != NULL) return refuse(m, "HAVING cannot be merged across shards");
    if (select->n_distinct_clause > 0) {
        if (select->n_distinct_clause > 1 || inner(select->distinct_clause[0]) != NULL)
            return refuse(m, "DISTINCT ON cannot be merged across shards");
        plan->distinct = 1;
    }
    if (!add_targets(m, select)) return false;

    bool aggregates = select->n_group_clause > 0;
    for (size_t i = 0; i < plan->target_count; i++)
        aggregates = aggregates || (plan->targets[i].kind >= PGPROXY_SQL_TARGET_COUNT &&
                                    plan->targets[i].kind <= PGPROXY_SQL_TARGET_AVG);
    for (size_t i = 0; aggregates && i < plan->target_count; i++) {
        const pgproxy_sql_target *target = &plan->targets[i];
        if (target->kind == PGPROXY_SQL_TARGET_STAR || target->kind == PGPROXY_SQL_TARGET_OTHER)
            return refuse(m, "with aggregates or GROUP BY, the SELECT-list item %s%s%s cannot be merged across "
                             "shards (only columns and count, sum, min, max and avg can)",
                          target->name ? "\"" : "", target->name ? target->name : "*", target->name ? "\"" : "");
    }
    if (!add_keys(m, select) || !add_limits(m, select)) return false;
    if (select->n_target_list > 0) {
        const ProtobufCMessage *last = inner(select->target_list[select->n_target_list - 1]);
        plan->targets_end = sa_tokens_select_list_end(&m->tokens, ((const PgQuery__ResTarget *)last)->location);
    }
    return true;
}

/* ---- entry points -------------------------------------------------------------------------- */

static void reset_plan(pgproxy_sql_merge_plan *plan, bool keep_refusal) {
    char *refusal = keep_refusal ? plan->refusal : NULL;
    if (keep_refusal) plan->refusal = NULL;
    pgproxy_sql_merge_plan_free(plan);
    plan->refusal = refusal;
    plan->limit = -1;
    plan->limit_start = plan->limit_end = plan->offset_start = plan->offset_end = plan->targets_end = -1;
}

void pgproxy_sql_merge_plan_free(pgproxy_sql_merge_plan *plan) {
    if (plan == NULL) return;
    for (size_t i = 0; plan->targets != NULL && i < plan->target_count; i++) free(plan->targets[i].name);
    for (size_t i = 0; plan->sort != NULL && i < plan->sort_count; i++) free(plan->sort[i].name);
    for (size_t i = 0; plan->group_by != NULL && i < plan->group_count; i++) free(plan->group_by[i].name);
    free(plan->targets);
    free(plan->sort);
    free(plan->group_by);
    free(plan->refusal);
    memset(plan, 0, sizeof *plan);
}

typedef struct sa_merge_job {
    const char *query;
    pgproxy_sql_merge_plan *plan;
} sa_merge_job;

static int consume_plan(const PgQuery__ParseResult *tree, const uint8_t *bytes, size_t length, void *context) {
    (void)bytes;
    (void)length;
    sa_merge_job *job = context;
    sa_merge m = {.plan = job->plan};
    const ProtobufCMessage *stmt = tree->n_stmts == 1 && tree->stmts[0] != NULL
                                       ? sa_node_inner((const ProtobufCMessage *)tree->stmts[0]->stmt) : NULL;
    if (tree->n_stmts != 1) {
        refuse(&m, tree->n_stmts == 0 ? "an empty query cannot be merged across shards"
                                      : "several statements in one query cannot be merged across shards");
    } else if (!IS(stmt, select_stmt)) {
        sa_statement_class statement_class;
        sa_classify_statement(stmt, &(sa_facts){0}, &statement_class);
        refuse(&m, "%s cannot be merged across shards (only SELECT can)", statement_class.command);
    } else if (!sa_tokens_scan(job->query, &m.tokens)) {
        m.out_of_memory = true;
    } else {
        plan_select(&m, (const PgQuery__SelectStmt *)stmt);
    }
    sa_tokens_free(&m.tokens);
    if (m.out_of_memory) {
        reset_plan(job->plan, false);
        job->plan->refusal = strdup("out of memory");
        return PGPROXY_SQL_ANALYSIS_NO_MEMORY;
    }
    if (job->plan->refusal != NULL) reset_plan(job->plan, true);
    return PGPROXY_SQL_ANALYSIS_OK;
}

int pgproxy_sql_merge_plan_make(const char *query, pgproxy_sql_merge_plan *out) {
    if (out == NULL) return PGPROXY_SQL_ANALYSIS_INVALID;
    memset(out, 0, sizeof *out); /* like pgproxy_sql_analyze: `out` is not freed first */
    reset_plan(out, false);
    if (query == NULL) {
        out->refusal = strdup("query is NULL");
        return PGPROXY_SQL_ANALYSIS_INVALID;
    }
    sa_merge_job job = {query, out};
    sa_parse_failure failure;
    int status = sa_parse_guarded(query, consume_plan, &job, &failure);
    if (failure.failed) {
        reset_plan(out, false);
        out->refusal = failure.message != NULL ? failure.message : strdup("out of memory");
    }
    return status;
}
