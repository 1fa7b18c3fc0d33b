/*
 * values.c — the values a one-statement text gives for columns (pgproxy_sql_column_value).
 *
 * What a sharding router needs to pick the rows a statement touches:
 *  - SELECT (plain), UPDATE, DELETE: the conditions AND-ed at the top of the WHERE clause that are
 *    `column = value`, `value = column` or `column IN (value, ...)`. A condition with a value we
 *    cannot read (UNKNOWN: an expression, a function call, another column) gives nothing, so an
 *    IN list gives either all of its members or none.
 *  - INSERT INTO rel (columns) VALUES rows: every row's value for every listed column, UNKNOWN
 *    included (DEFAULT, expressions, missing values).
 *
 * Columns are resolved against the relations the statement names at its top level: the FROM
 * items (RangeVars, also inside JOINs) and the UPDATE/DELETE/INSERT target. A qualifier names a
 * relation by its alias when it has one, else by its name with any tail of its qualification
 * ("users", "public.users"); an unqualified column belongs to the only relation, or, with several,
 * to one we cannot tell (table NULL). Subqueries, functions, CTE references and aliased JOINs in
 * FROM count as relations without a name: a column of one of them gives nothing.
 *
 * Literal locations come from the A_Const. PostgreSQL's grammar folds a minus sign into a number
 * constant (doNegate) and moves the constant's location to the sign; we step over the sign (or
 * signs, blanks, comments and parentheses: `- ( -5)`) to the digits and record `negative`.
 *
 * Recursion: only through nested ANDs and nested JOINs, one call per level of the parse tree.
 * guard.c bounds that depth and the stack we run on is sized for it (analysis.c).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdlib.h>
#include <string.h>

#include "sa_internal.h"

/* A relation the statement names at its top level. */
typedef struct sa_relation {
    const PgQuery__RangeVar *range; /* NULL: a subquery, function, CTE reference ... (no name) */
    char *name;                     /* as written (sa_relation_name), owned; NULL when range is */
} sa_relation;

typedef struct sa_values {
    const char *query;
    size_t query_length;
    const PgQuery__WithClause *with;  /* the statement's CTEs: a FROM item naming one is no table */
    sa_relation *relations;
    size_t relation_count, relation_capacity;
    pgproxy_sql_column_value *items;
    size_t count, capacity;
    int32_t groups;                   /* groups so far: the next group's number */
    bool truncated;                   /* more than PGPROXY_SQL_ANALYSIS_MAX_VALUES: stop */
    bool out_of_memory;               /* stop */
} sa_values;

/* ---- reading a value ---------------------------------------------------------------------- */

/* The two bytes at `at` are `pair`. */
static bool pair_at(const char *text, size_t length, size_t at, const char *pair) {
    return at + 1 < length && text[at] == pair[0] && text[at + 1] == pair[1];
}

/* The offset of the first byte at or after `at` that is not PostgreSQL white space or inside a
 * comment (`-- ...` to the end of the line, or slash-star ones, which nest). */
static size_t skip_blanks(const char *text, size_t length, size_t at) {
    for (;;) {
        if (at < length && strchr(" \t\n\r\f\v", text[at]) != NULL) { /* text[at] is no NUL */
            at++;
        } else if (pair_at(text, length, at, "--")) {
            while (at < length && text[at] != '\n') at++;
        } else if (pair_at(text, length, at, "/*")) {
            size_t depth = 0;
            do {
                bool opens = pair_at(text, length, at, "/*"), closes = pair_at(text, length, at, "*/");
                depth = opens ? depth + 1 : closes ? depth - 1 : depth;
                at += opens || closes ? 2 : 1;
            } while (depth > 0 && at < length);
        } else {
            return at;
        }
    }
}

/* A byte of an identifier or keyword (PostgreSQL's ident_cont, bytes of UTF-8 sequences included). */
static bool is_word_byte(char ch) {
    unsigned char byte = (unsigned char)ch;
    return (byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') || (byte >= '0' && byte <= '9') ||
           byte == '_' || byte == '$' || byte >= 0x80;
}

/*
 * Where a literal A_Const at `location` starts. At a minus sign it is a number whose sign the
 * grammar folded in: step over the signs (each flips `negative`), blanks and opening parentheses
 * to its first digit or '.'. N'...' is lexed as the type name NCHAR and a string located at its
 * quote: step back to the N (unless it ends a word: `json'{}'`). False when the location is no use.
 */
static bool locate_literal(const sa_values *values, int32_t location, int32_t *start, int32_t *negative) {
    const char *text = values->query;
    size_t length = values->query_length;
    if (location < 0 || (size_t)location >= length) return false;
    size_t at = (size_t)location;
    bool minus = false;
    if (text[at] == '-') {
        for (;;) {
            at = skip_blanks(text, length, at);
            if (at < length && text[at] == '-') {
                minus = !minus;
                at++;
            } else if (at < length && text[at] == '(') {
                at++;
            } else {
                break;
            }
        }
        if (at >= length || !((text[at] >= '0' && text[at] <= '9') || text[at] == '.')) return false;
    } else if (text[at] == '\'' && at > 0 && (text[at - 1] == 'N' || text[at - 1] == 'n') &&
               (at == 1 || !is_word_byte(text[at - 2]))) {
        at--;
    }
    *start = (int32_t)at;
    *negative = minus ? 1 : 0;
    return true;
}

/* `node` as a value (table, column, group and row not set): casts of a constant or a parameter
 * are looked through; anything that is not one is UNKNOWN. */
static pgproxy_sql_column_value read_value(const sa_values *values, const PgQuery__Node *node) {
    pgproxy_sql_column_value value = {.kind = PGPROXY_SQL_VALUE_UNKNOWN, .location = -1};
    while (node != NULL && node->node_case == PG_QUERY__NODE__NODE_TYPE_CAST && node->type_cast != NULL)
        node = node->type_cast->arg;
    if (node == NULL) return value;

    if (node->node_case == PG_QUERY__NODE__NODE_PARAM_REF && node->param_ref != NULL) {
        value.kind = PGPROXY_SQL_VALUE_PARAM;
        value.param = node->param_ref->number;
    } else if (node->node_case == PG_QUERY__NODE__NODE_A_CONST && node->a_const != NULL) {
        const PgQuery__AConst *constant = node->a_const;
        if (constant->isnull)
            value.kind = PGPROXY_SQL_VALUE_NULL;
        else if (locate_literal(values, constant->location, &value.location, &value.negative))
            value.kind = PGPROXY_SQL_VALUE_LITERAL;
    }
    return value;
}

/* ---- collecting values ------------------------------------------------------------------- */

/* Room for `extra` more values; false (and the reason recorded) when we must stop. */
static bool reserve(sa_values *values, size_t extra) {
    if (extra > PGPROXY_SQL_ANALYSIS_MAX_VALUES - values->count) {
        values->truncated = true;
        return false;
    }
    size_t needed = values->count + extra;
    if (needed <= values->capacity) return true;
    size_t grown = values->capacity ? values->capacity : 8;
    while (grown < needed) grown *= 2;
    if (grown > PGPROXY_SQL_ANALYSIS_MAX_VALUES) grown = PGPROXY_SQL_ANALYSIS_MAX_VALUES;
    pgproxy_sql_column_value *items = realloc(values->items, grown * sizeof *items);
    if (items == NULL) {
        values->out_of_memory = true;
        return false;
    }
    values->items = items;
    values->capacity = grown;
    return true;
}

/* Appends `value` for table.column (table may be NULL) in room made by reserve(). */
static bool add_value(sa_values *values, const char *table, const char *column, int32_t row,
                      pgproxy_sql_column_value value) {
    value.table = table != NULL ? strdup(table) : NULL;
    value.column = strdup(column);
    if (value.column == NULL || (table != NULL && value.table == NULL)) {
        free(value.table);
        free(value.column);
        values->out_of_memory = true;
        return false;
    }
    value.group = values->groups;
    value.row = row;
    values->items[values->count++] = value;
    return true;
}

void sa_free_values(pgproxy_sql_column_value *values, size_t count) {
    if (values == NULL) return;
    for (size_t i = 0; i < count; i++) {
        free(values[i].table);
        free(values[i].column);
    }
    free(values);
}

/* ---- relations --------------------------------------------------------------------------- */

static bool is_cte_name(const sa_values *values, const char *name) {
    const PgQuery__WithClause *with = values->with;
    for (size_t i = 0; with != NULL && i < with->n_ctes; i++) {
        const PgQuery__Node *node = with->ctes[i];
        if (node != NULL && node->node_case == PG_QUERY__NODE__NODE_COMMON_TABLE_EXPR &&
            node->common_table_expr != NULL && nonempty(node->common_table_expr->ctename) &&
            strcmp(node->common_table_expr->ctename, name) == 0)
            return true;
    }
    return false;
}

/* Adds a relation; `range` NULL (or naming a CTE) for one without a name. */
static bool add_relation(sa_values *values, const PgQuery__RangeVar *range) {
    if (values->relation_count == values->relation_capacity) {
        size_t grown = values->relation_capacity ? values->relation_capacity * 2 : 4;
        sa_relation *relations = realloc(values->relations, grown * sizeof *relations);
        if (relations == NULL) {
            values->out_of_memory = true;
            return false;
        }
        values->relations = relations;
        values->relation_capacity = grown;
    }
    sa_relation relation = {NULL, NULL};
    bool unqualified = range != NULL && !nonempty(range->schemaname) && !nonempty(range->catalogname);
    if (range != NULL && !(unqualified && nonempty(range->relname) && is_cte_name(values, range->relname))) {
        bool oom;
        relation.name = sa_relation_name(range, &oom);
        if (oom) {
            values->out_of_memory = true;
            return false;
        }
        if (relation.name != NULL) relation.range = range;
    }
    values->relations[values->relation_count++] = relation;
    return true;
}

/* Adds the relations of a FROM item: a RangeVar (bare or TABLESAMPLE'd), the sides of a JOIN
 * without an alias; anything else is one relation without a name. */
static bool add_from_item(sa_values *values, const PgQuery__Node *item) {
    if (item == NULL) return true;
    switch (item->node_case) {
    case PG_QUERY__NODE__NODE_RANGE_VAR:
        return add_relation(values, item->range_var);
    case PG_QUERY__NODE__NODE_RANGE_TABLE_SAMPLE: {
        const PgQuery__Node *sampled = item->range_table_sample ? item->range_table_sample->relation : NULL;
        bool named = sampled != NULL && sampled->node_case == PG_QUERY__NODE__NODE_RANGE_VAR;
        return add_relation(values, named ? sampled->range_var : NULL);
    }
    case PG_QUERY__NODE__NODE_JOIN_EXPR: {
        const PgQuery__JoinExpr *join = item->join_expr;
        if (join == NULL || join->alias != NULL) return add_relation(values, NULL); /* (a JOIN b) AS j hides a, b */
        return add_from_item(values, join->larg) && add_from_item(values, join->rarg);
    }
    default:
        return add_relation(values, NULL);
    }
}

/* Whether the qualifier parts (String nodes) name `relation`: its alias, or else the last parts of
 * its written name ("users" and "public.users" both name public.users). */
static bool relation_matches(const sa_relation *relation, PgQuery__Node *const *qualifier, size_t count) {
    const PgQuery__RangeVar *range = relation->range;
    if (range == NULL) return false;
    if (range->alias != NULL && nonempty(range->alias->aliasname))
        return count == 1 && strcmp(range->alias->aliasname, string_of(qualifier[0])) == 0;
    const char *parts[3];
    size_t part_count = 0;
    if (nonempty(range->catalogname)) parts[part_count++] = range->catalogname;
    if (nonempty(range->schemaname)) parts[part_count++] = range->schemaname;
    parts[part_count++] = range->relname;
    if (count > part_count) return false;
    for (size_t i = 0; i < count; i++)
        if (strcmp(parts[part_count - count + i], string_of(qualifier[i])) != 0) return false;
    return true;
}

/*
 * The column a ColumnRef names and the relation it belongs to (*table: its name, NULL when we
 * cannot tell which). False when it is no column of a relation with a name (`t.*`, a CTE's column,
 * a qualifier that names nothing here).
 */
static bool resolve_column(const sa_values *values, const PgQuery__ColumnRef *ref, const char **column,
                           const char **table) {
    size_t count = ref->n_fields;
    if (count == 0) return false;
    for (size_t i = 0; i < count; i++)
        if (!nonempty(string_of(ref->fields[i]))) return false;
    *column = string_of(ref->fields[count - 1]);
    if (count == 1) {
        *table = values->relation_count == 1 ? values->relations[0].name : NULL;
        return values->relation_count != 1 || *table != NULL;
    }
    const sa_relation *found = NULL;
    size_t matches = 0;
    for (size_t i = 0; i < values->relation_count; i++) {
        if (!relation_matches(&values->relations[i], ref->fields, count - 1)) continue;
        found = &values->relations[i];
        matches++;
    }
    *table = matches == 1 ? found->name : NULL;
    return matches > 0;
}

/* ---- WHERE conditions -------------------------------------------------------------------- */

static const PgQuery__ColumnRef *column_ref(const PgQuery__Node *node) {
    return node != NULL && node->node_case == PG_QUERY__NODE__NODE_COLUMN_REF ? node->column_ref : NULL;
}

/* The operator is the bare "=" (not OPERATOR(pg_catalog.=), not the "<>" of NOT IN). */
static bool is_equals(const PgQuery__AExpr *expr) {
    const char *name = expr->n_name == 1 ? string_of(expr->name[0]) : NULL;
    return name != NULL && strcmp(name, "=") == 0;
}

/* One condition: `ref` equals one of `items`. Nothing when a member is UNKNOWN. */
static bool add_condition_group(sa_values *values, const PgQuery__ColumnRef *ref, PgQuery__Node *const *items,
                                size_t count) {
    const char *column, *table;
    if (count == 0 || !resolve_column(values, ref, &column, &table)) return true;
    for (size_t i = 0; i < count; i++)
        if (read_value(values, items[i]).kind == PGPROXY_SQL_VALUE_UNKNOWN) return true;
    if (!reserve(values, count)) return false;
    for (size_t i = 0; i < count; i++)
        if (!add_value(values, table, column, 0, read_value(values, items[i]))) return false;
    values->groups++;
    return true;
}

static bool add_condition(sa_values *values, const PgQuery__Node *node) {
    if (node == NULL || node->node_case != PG_QUERY__NODE__NODE_A_EXPR || node->a_expr == NULL) return true;
    const PgQuery__AExpr *expr = node->a_expr;
    if (!is_equals(expr)) return true;

    if (expr->kind == PG_QUERY__A__EXPR__KIND__AEXPR_OP) {
        PgQuery__Node *value = expr->rexpr;
        const PgQuery__ColumnRef *ref = column_ref(expr->lexpr);
        if (ref == NULL) {
            ref = column_ref(expr->rexpr);
            value = expr->lexpr;
        }
        return ref == NULL || add_condition_group(values, ref, &value, 1);
    }
    if (expr->kind == PG_QUERY__A__EXPR__KIND__AEXPR_IN) {
        const PgQuery__ColumnRef *ref = column_ref(expr->lexpr);
        const PgQuery__Node *list = expr->rexpr;
        if (ref == NULL || list == NULL || list->node_case != PG_QUERY__NODE__NODE_LIST || list->list == NULL)
            return true;
        return add_condition_group(values, ref, list->list->items, list->list->n_items);
    }
    return true;
}

/* The conditions AND-ed at the top of a WHERE clause, through nested ANDs only. */
static bool add_conjunction(sa_values *values, const PgQuery__Node *node) {
    if (node != NULL && node->node_case == PG_QUERY__NODE__NODE_BOOL_EXPR && node->bool_expr != NULL &&
        node->bool_expr->boolop == PG_QUERY__BOOL_EXPR_TYPE__AND_EXPR) {
        for (size_t i = 0; i < node->bool_expr->n_args; i++)
            if (!add_conjunction(values, node->bool_expr->args[i])) return false;
        return true;
    }
    return add_condition(values, node);
}

/* ---- statements -------------------------------------------------------------------------- */

/* SELECT/UPDATE/DELETE: the target (UPDATE/DELETE; a table even when a CTE has its name), the
 * FROM/USING items, then the WHERE clause. */
static bool collect_where(sa_values *values, const PgQuery__WithClause *with, const PgQuery__RangeVar *target,
                          PgQuery__Node *const *from, size_t from_count, const PgQuery__Node *where) {
    if (target != NULL && !add_relation(values, target)) return false;
    values->with = with;
    for (size_t i = 0; i < from_count; i++)
        if (!add_from_item(values, from[i])) return false;
    return add_conjunction(values, where);
}

/* One group per listed column, one value per VALUES row. A column with a subscript or field
 * (`arr[1]`, `point.x`) gets UNKNOWN values: they are not the column's value. */
static bool collect_insert_rows(sa_values *values, const PgQuery__InsertStmt *insert,
                                const PgQuery__SelectStmt *rows, const char *table) {
    size_t columns = insert->n_cols, row_count = rows->n_values_lists;
    /* no overflow: both counts are bounded by the length of the text */
    if (!reserve(values, columns * row_count)) return false;
    for (size_t c = 0; c < columns; c++) {
        const PgQuery__Node *target = insert->cols[c];
        const PgQuery__ResTarget *column =
            target != NULL && target->node_case == PG_QUERY__NODE__NODE_RES_TARGET ? target->res_target : NULL;
        if (column == NULL || !nonempty(column->name)) continue;
        for (size_t r = 0; r < row_count; r++) {
            const PgQuery__Node *row = rows->values_lists[r];
            const PgQuery__List *items =
                row != NULL && row->node_case == PG_QUERY__NODE__NODE_LIST ? row->list : NULL;
            const PgQuery__Node *item = items != NULL && c < items->n_items ? items->items[c] : NULL;
            pgproxy_sql_column_value value = read_value(values, column->n_indirection > 0 ? NULL : item);
            if (!add_value(values, table, column->name, (int32_t)r, value)) return false;
        }
        values->groups++;
    }
    return true;
}

static bool collect_insert(sa_values *values, const PgQuery__InsertStmt *insert) {
    const PgQuery__Node *source = insert->select_stmt;
    const PgQuery__SelectStmt *rows =
        source != NULL && source->node_case == PG_QUERY__NODE__NODE_SELECT_STMT ? source->select_stmt : NULL;
    /* VALUES ... LIMIT/OFFSET would not insert every row. */
    if (insert->n_cols == 0 || rows == NULL || rows->n_values_lists == 0 || rows->limit_count != NULL ||
        rows->limit_offset != NULL)
        return true;
    bool oom;
    char *table = sa_relation_name(insert->relation, &oom);
    if (table == NULL) {
        values->out_of_memory = oom;
        return !oom;
    }
    bool ok = collect_insert_rows(values, insert, rows, table);
    free(table);
    return ok;
}

bool sa_collect_values(const ProtobufCMessage *stmt, const char *query, pgproxy_sql_analysis *out) {
    if (stmt == NULL || query == NULL) return true;
    sa_values values = {.query = query, .query_length = strlen(query)};
    const ProtobufCMessageDescriptor *descriptor = stmt->descriptor;
    /* Each collector stops early (returns false) with the reason in values.truncated or
     * values.out_of_memory. */
    if (descriptor == &pg_query__select_stmt__descriptor) {
        const PgQuery__SelectStmt *select = (const PgQuery__SelectStmt *)stmt;
        if (select->op == PG_QUERY__SET_OPERATION__SETOP_NONE && select->n_values_lists == 0)
            collect_where(&values, select->with_clause, NULL, select->from_clause, select->n_from_clause,
                          select->where_clause);
    } else if (descriptor == &pg_query__update_stmt__descriptor) {
        const PgQuery__UpdateStmt *update = (const PgQuery__UpdateStmt *)stmt;
        collect_where(&values, update->with_clause, update->relation, update->from_clause, update->n_from_clause,
                      update->where_clause);
    } else if (descriptor == &pg_query__delete_stmt__descriptor) {
        const PgQuery__DeleteStmt *removal = (const PgQuery__DeleteStmt *)stmt;
        collect_where(&values, removal->with_clause, removal->relation, removal->using_clause,
                      removal->n_using_clause, removal->where_clause);
    } else if (descriptor == &pg_query__insert_stmt__descriptor) {
        collect_insert(&values, (const PgQuery__InsertStmt *)stmt);
    }

    for (size_t i = 0; i < values.relation_count; i++) free(values.relations[i].name);
    free(values.relations);
    if (values.out_of_memory || values.truncated) {
        sa_free_values(values.items, values.count);
        out->values_truncated = values.out_of_memory ? 0 : 1;
        return !values.out_of_memory;
    }
    out->values = values.items;
    out->value_count = values.count;
    return true;
}
