/*
 * merge_text.c — for the merge plan (merge.c): byte positions in a query text, from the tokens of
 * PostgreSQL's own lexer (pg_query_scan: not recursive, and string literals, quoted identifiers,
 * dollar quotes and comments are single tokens, so parentheses inside them never count); the names
 * of functions and aggregates; and the result column names PostgreSQL gives SELECT-list expressions.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sa_internal.h"

bool sa_tokens_scan(const char *query, sa_tokens *tokens) {
    memset(tokens, 0, sizeof *tokens);
    tokens->query = query;
    PgQueryScanResult scan = pg_query_scan(query);
    if (scan.error != NULL) {
        pg_query_free_scan_result(scan);
        return false;
    }
    tokens->scan = pg_query__scan_result__unpack(NULL, scan.pbuf.len, (const uint8_t *)scan.pbuf.data);
    pg_query_free_scan_result(scan);
    if (tokens->scan == NULL) return false;
    tokens->items = tokens->scan->tokens;
    tokens->count = tokens->scan->n_tokens;
    for (size_t i = 0; i < tokens->count; i++)
        if (tokens->items[i] == NULL) { /* not expected from libpg_query; keep the helpers simple */
            sa_tokens_free(tokens);
            return false;
        }
    return true;
}

void sa_tokens_free(sa_tokens *tokens) {
    if (tokens->scan != NULL) pg_query__scan_result__free_unpacked(tokens->scan, NULL);
    memset(tokens, 0, sizeof *tokens);
}

/* The index of the first token starting at or after `location` (count when none). */
static size_t first_at(const sa_tokens *tokens, int32_t location) {
    size_t low = 0, high = tokens->count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (tokens->items[middle]->start < location) low = middle + 1;
        else high = middle;
    }
    return low;
}

static bool is_comment(const PgQuery__ScanToken *token) {
    return token->token == PG_QUERY__TOKEN__SQL_COMMENT || token->token == PG_QUERY__TOKEN__C_COMMENT;
}

static bool is_word(const PgQuery__ScanToken *token) {
    return token->token == PG_QUERY__TOKEN__IDENT || token->keyword_kind != PG_QUERY__KEYWORD_KIND__NO_KEYWORD;
}

bool sa_tokens_parenthesised(const sa_tokens *tokens, int32_t location, int32_t *start, int32_t *end) {
    size_t i = first_at(tokens, location);
    /* Only the function's (dotted) name and comments may come before the '('. */
    while (i < tokens->count && tokens->items[i]->token != PG_QUERY__TOKEN__ASCII_40) {
        const PgQuery__ScanToken *token = tokens->items[i];
        if (!is_word(token) && !is_comment(token) && token->token != PG_QUERY__TOKEN__ASCII_46) return false;
        i++;
    }
    if (i == tokens->count) return false;
    *start = tokens->items[i]->start;
    size_t depth = 0;
    for (; i < tokens->count; i++) {
        PgQuery__Token kind = tokens->items[i]->token;
        if (kind == PG_QUERY__TOKEN__ASCII_40) {
            depth++;
        } else if (kind == PG_QUERY__TOKEN__ASCII_41 && --depth == 0) {
            *end = tokens->items[i]->end;
            return true;
        }
    }
    return false;
}

static char ascii_lower(char ch) { return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch; }

/* Same token text; unquoted identifiers and keywords compare as PostgreSQL folds them (ASCII). */
static bool same_token(const char *query, const PgQuery__ScanToken *a, const PgQuery__ScanToken *b) {
    int32_t length = a->end - a->start;
    if (a->token != b->token || length != b->end - b->start) return false;
    const char *x = query + a->start, *y = query + b->start;
    if (!is_word(a) || x[0] == '"') return memcmp(x, y, (size_t)length) == 0;
    for (int32_t i = 0; i < length; i++)
        if (ascii_lower(x[i]) != ascii_lower(y[i])) return false;
    return true;
}

/* The next token at index >= *i that is no comment and lies before `end`, or NULL. */
static const PgQuery__ScanToken *next_code(const sa_tokens *tokens, size_t *i, int32_t end) {
    while (*i < tokens->count && tokens->items[*i]->start < end) {
        const PgQuery__ScanToken *token = tokens->items[(*i)++];
        if (!is_comment(token)) return token;
    }
    return NULL;
}

bool sa_tokens_same(const sa_tokens *tokens, int32_t a_start, int32_t a_end, int32_t b_start, int32_t b_end) {
    size_t i = first_at(tokens, a_start), j = first_at(tokens, b_start);
    for (;;) {
        const PgQuery__ScanToken *a = next_code(tokens, &i, a_end), *b = next_code(tokens, &j, b_end);
        if (a == NULL || b == NULL) return a == b;
        if (!same_token(tokens->query, a, b)) return false;
    }
}

/* A token that ends a SELECT list at parenthesis depth 0. */
static bool ends_select_list(PgQuery__Token kind) {
    switch (kind) {
    case PG_QUERY__TOKEN__FROM:
    case PG_QUERY__TOKEN__INTO:
    case PG_QUERY__TOKEN__WHERE:
    case PG_QUERY__TOKEN__GROUP_P:
    case PG_QUERY__TOKEN__HAVING:
    case PG_QUERY__TOKEN__WINDOW:
    case PG_QUERY__TOKEN__ORDER:
    case PG_QUERY__TOKEN__LIMIT:
    case PG_QUERY__TOKEN__OFFSET:
    case PG_QUERY__TOKEN__FETCH:
    case PG_QUERY__TOKEN__FOR:
    case PG_QUERY__TOKEN__UNION:
    case PG_QUERY__TOKEN__INTERSECT:
    case PG_QUERY__TOKEN__EXCEPT:
    case PG_QUERY__TOKEN__ASCII_59: /* ; */
        return true;
    default:
        return false;
    }
}

int32_t sa_tokens_select_list_end(const sa_tokens *tokens, int32_t location) {
    const PgQuery__ScanToken *last = NULL;
    size_t depth = 0;
    for (size_t i = first_at(tokens, location); i < tokens->count; i++) {
        const PgQuery__ScanToken *token = tokens->items[i];
        if (is_comment(token)) continue;
        PgQuery__Token kind = token->token;
        /* Not a clause: a column label (`AS from`), IS [NOT] DISTINCT FROM, WITHIN GROUP. */
        bool after_word = last != NULL && (last->token == PG_QUERY__TOKEN__AS ||
                                           last->token == PG_QUERY__TOKEN__DISTINCT ||
                                           last->token == PG_QUERY__TOKEN__WITHIN);
        if (depth == 0 && !after_word && ends_select_list(kind)) break;
        if (kind == PG_QUERY__TOKEN__ASCII_40 || kind == PG_QUERY__TOKEN__ASCII_91) {
            depth++;
        } else if (kind == PG_QUERY__TOKEN__ASCII_41 || kind == PG_QUERY__TOKEN__ASCII_93) {
            if (depth == 0) break; /* the end of a parenthesised SELECT */
            depth--;
        }
        last = token;
    }
    return last != NULL ? last->end : -1;
}

bool sa_tokens_number(const sa_tokens *tokens, int32_t location, int32_t *start, int32_t *end) {
    size_t i = first_at(tokens, location);
    if (location < 0 || i == tokens->count || tokens->items[i]->start != location) return false;
    /* The grammar folds `- 5` (and `- -5`) into one constant located at the first sign. */
    const PgQuery__ScanToken *token = tokens->items[i++];
    while (token->token == PG_QUERY__TOKEN__ASCII_45 || token->token == PG_QUERY__TOKEN__ASCII_43) {
        token = next_code(tokens, &i, INT32_MAX);
        if (token == NULL) return false;
    }
    if (token->token != PG_QUERY__TOKEN__ICONST && token->token != PG_QUERY__TOKEN__FCONST) return false;
    *start = location;
    *end = token->end;
    return true;
}

/* ---- names --------------------------------------------------------------------------------- */

void sa_function_name(const PgQuery__FuncCall *call, char *buffer, size_t size) {
    size_t length = 0;
    buffer[0] = '\0';
    for (size_t i = 0; i < call->n_funcname && length + 1 < size; i++) {
        const char *part = string_of(call->funcname[i]);
        int written = snprintf(buffer + length, size - length, "%s%s", i ? "." : "", part ? part : "?");
        if (written < 0) break;
        length += (size_t)written;
    }
}

static const char *const five_aggregates[] = {"count", "sum", "min", "max", "avg"};

/* Aggregates of PostgreSQL that do not merge (prefixes end with '*'). */
static const char *const other_aggregates[] = {
    "array_agg", "string_agg", "json_agg", "jsonb_agg", "json_object_agg", "jsonb_object_agg",
    "json_arrayagg", "json_objectagg", "bool_and", "bool_or", "every", "bit_and", "bit_or", "bit_xor",
    "stddev*", "variance*", "var_pop", "var_samp", "corr", "covar_*", "regr_*", "percentile_*", "mode",
    "xmlagg", "range_agg", "range_intersect_agg", "any_value", NULL};

int sa_aggregate_kind(const PgQuery__FuncCall *call) {
    size_t count = call->n_funcname;
    const char *last = count ? string_of(call->funcname[count - 1]) : NULL;
    if (last == NULL) return -1;
    const char *schema = count == 2 ? string_of(call->funcname[0]) : NULL;
    bool catalog = count == 1 || (schema != NULL && strcmp(schema, "pg_catalog") == 0);
    for (int i = 0; i < 5; i++)
        if (strcmp(last, five_aggregates[i]) == 0)
            return catalog ? PGPROXY_SQL_TARGET_COUNT + i : PGPROXY_SQL_TARGET_OTHER;
    for (const char *const *name = other_aggregates; *name != NULL; name++) {
        size_t length = strlen(*name);
        bool prefix = (*name)[length - 1] == '*';
        if (prefix ? strncmp(last, *name, length - 1) == 0 : strcmp(last, *name) == 0)
            return PGPROXY_SQL_TARGET_OTHER;
    }
    return -1;
}

/* ---- result column names ----------------------------------------------------------------- */

/* SQL-value functions (CURRENT_DATE ...) by op, as FigureColname names them. */
static const char *const value_function_names[] = {
    NULL, "current_date", "current_time", "current_time", "current_timestamp", "current_timestamp",
    "localtime", "localtime", "localtimestamp", "localtimestamp", "current_role", "current_user", "user",
    "session_user", "current_catalog", "current_schema"};
static const char *const xml_names[] = {NULL, "xmlconcat", "xmlelement", "xmlforest", "xmlparse", "xmlpi",
                                        "xmlroot", "xmlserialize", NULL};

/* The last String among `items` (ignoring '*' and subscripts), or NULL. */
static const char *last_string(PgQuery__Node *const *items, size_t count) {
    const char *found = NULL;
    for (size_t i = 0; i < count; i++)
        if (string_of(items[i]) != NULL) found = string_of(items[i]);
    return found;
}

/* Iteratively: each case looks into at most one child. A cast or CASE gives a weak name (its type,
 * "case") that a strong name found inside replaces; a scalar subquery's name replaces all. */
const char *sa_figure_name(const PgQuery__Node *node) {
    const char *weak = NULL;
    for (;;) {
        const ProtobufCMessage *message = inner(node);
        if (message == NULL) break;
        if (IS(message, column_ref)) {
            const PgQuery__ColumnRef *ref = (const PgQuery__ColumnRef *)message;
            const char *name = last_string(ref->fields, ref->n_fields);
            if (name != NULL) return name;
            break;
        }
        if (IS(message, a__indirection)) {
            const PgQuery__AIndirection *indirection = (const PgQuery__AIndirection *)message;
            const char *name = last_string(indirection->indirection, indirection->n_indirection);
            if (name != NULL) return name;
            node = indirection->arg;
        } else if (IS(message, func_call)) {
            const PgQuery__FuncCall *call = (const PgQuery__FuncCall *)message;
            const char *name = call->n_funcname ? string_of(call->funcname[call->n_funcname - 1]) : NULL;
            if (name != NULL) return name;
            break;
        } else if (IS(message, a__expr)) {
            if (((const PgQuery__AExpr *)message)->kind == PG_QUERY__A__EXPR__KIND__AEXPR_NULLIF) return "nullif";
            break;
        } else if (IS(message, type_cast)) {
            const PgQuery__TypeCast *cast = (const PgQuery__TypeCast *)message;
            if (weak == NULL && cast->type_name != NULL)
                weak = last_string(cast->type_name->names, cast->type_name->n_names);
            node = cast->arg;
        } else if (IS(message, collate_clause)) {
            node = ((const PgQuery__CollateClause *)message)->arg;
        } else if (IS(message, case_expr)) {
            if (weak == NULL) weak = "case";
            node = ((const PgQuery__CaseExpr *)message)->defresult;
        } else if (IS(message, sub_link)) {
            const PgQuery__SubLink *link = (const PgQuery__SubLink *)message;
            if (link->sub_link_type == PG_QUERY__SUB_LINK_TYPE__EXISTS_SUBLINK) return "exists";
            if (link->sub_link_type == PG_QUERY__SUB_LINK_TYPE__ARRAY_SUBLINK) return "array";
            if (link->sub_link_type != PG_QUERY__SUB_LINK_TYPE__EXPR_SUBLINK) break;
            /* (SELECT x ...): the name of the subquery's first column, "?column?" at worst */
            const ProtobufCMessage *sub = inner(link->subselect);
            const PgQuery__SelectStmt *select = IS(sub, select_stmt) ? (const PgQuery__SelectStmt *)sub : NULL;
            while (select != NULL && select->larg != NULL) select = select->larg;
            if (select != NULL && select->n_values_lists > 0) return "column1";
            const ProtobufCMessage *first = select && select->n_target_list ? inner(select->target_list[0]) : NULL;
            if (!IS(first, res_target)) return "?column?";
            const PgQuery__ResTarget *target = (const PgQuery__ResTarget *)first;
            if (nonempty(target->name)) return target->name;
            weak = NULL;
            node = target->val;
        } else if (IS(message, grouping_func)) {
            return "grouping";
        } else if (IS(message, a__array_expr)) {
            return "array";
        } else if (IS(message, row_expr)) {
            return "row";
        } else if (IS(message, coalesce_expr)) {
            return "coalesce";
        } else if (IS(message, min_max_expr)) {
            PgQuery__MinMaxOp op = ((const PgQuery__MinMaxExpr *)message)->op;
            if (op == PG_QUERY__MIN_MAX_OP__IS_GREATEST) return "greatest";
            if (op == PG_QUERY__MIN_MAX_OP__IS_LEAST) return "least";
            break;
        } else if (IS(message, sqlvalue_function)) {
            unsigned op = (unsigned)((const PgQuery__SQLValueFunction *)message)->op;
            if (op < sizeof value_function_names / sizeof *value_function_names && value_function_names[op])
                return value_function_names[op];
            break;
        } else if (IS(message, xml_expr)) {
            unsigned op = (unsigned)((const PgQuery__XmlExpr *)message)->op;
            if (op < sizeof xml_names / sizeof *xml_names && xml_names[op]) return xml_names[op];
            break;
        } else if (IS(message, xml_serialize)) {
            return "xmlserialize";
        } else {
            break;
        }
    }
    return weak != NULL ? weak : "?column?";
}
