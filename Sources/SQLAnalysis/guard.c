/*
 * guard.c — an upper bound on how deeply a text's parse tree can nest, found without parsing.
 *
 * Why: libpg_query turns the parse tree into protobuf recursively, and protobuf-c unpacks and frees
 * it recursively, with no depth limit. A left-deep expression such as `1+1+...+1` with 5000 terms
 * is enough to overflow an 8 MB stack in protobuf_c_message_unpack (about 1 KB of stack per
 * term), and 100000 terms crash pg_query_parse_protobuf itself. The text cannot be parsed safely
 * before we know how much stack it needs, so we bound the depth from its tokens, which
 * pg_query_scan (PostgreSQL's own lexer, not recursive) gives us exactly.
 *
 * The bound: nodes of the raw parse tree span nested stretches of text, so the nodes on any
 * root-to-leaf path are made by tokens of the parenthesis groups enclosing the leaf. Within a
 * group every token can add at most a couple of levels on a path (an operator adds Node + A_Expr,
 * NOT adds Node + BoolExpr, COLLATE adds Node + CollateClause, UNION adds one SelectStmt ...),
 * except tokens that only ever make leaves or flat lists: identifiers, constants, parameters,
 * commas, dots, and AND/OR (PostgreSQL flattens `a AND b AND c` into one BoolExpr). So
 *
 *     value(group) = W_GROUP + W_TOKEN * (counted tokens directly in the group)
 *                    + max(value(inner group))
 *     bound        = W_BASE + max over statements of value(top level)
 *
 * The weights are generous: a counted token makes at most 2 levels, a group at most ~6 beyond its
 * tokens. Tests/SQLAnalysisCheck (check.c, phase "bound") measures the real depth and stack use of
 * adversarial shapes against the bound: depth stays under 0.7 x bound, stack under 650 bytes per
 * unit of bound (libpg_query 15-4.0.0, Debian 12, x86_64).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdlib.h>
#include <string.h>

#include "sa_internal.h"

#define W_TOKEN 3u
#define W_GROUP 8u
#define W_BASE 48u

typedef struct sa_group {
    uint64_t direct;     /* counted tokens directly in this group */
    uint64_t max_child;  /* largest value of a group nested in it */
} sa_group;

/* Tokens that never make more than a leaf or an element of a flat list. */
static bool token_is_flat(const PgQuery__ScanToken *token) {
    switch (token->token) {
    case PG_QUERY__TOKEN__IDENT:
    case PG_QUERY__TOKEN__UIDENT:
    case PG_QUERY__TOKEN__FCONST:
    case PG_QUERY__TOKEN__SCONST:
    case PG_QUERY__TOKEN__USCONST:
    case PG_QUERY__TOKEN__BCONST:
    case PG_QUERY__TOKEN__XCONST:
    case PG_QUERY__TOKEN__ICONST:
    case PG_QUERY__TOKEN__PARAM:
    case PG_QUERY__TOKEN__SQL_COMMENT:
    case PG_QUERY__TOKEN__C_COMMENT:
    case PG_QUERY__TOKEN__ASCII_44: /* , */
    case PG_QUERY__TOKEN__ASCII_46: /* . (qualified names and field selection are flat lists) */
    case PG_QUERY__TOKEN__AND:
    case PG_QUERY__TOKEN__OR:
        return true;
    default:
        return false;
    }
}

static uint64_t group_value(const sa_group *group, bool parenthesised) {
    return (parenthesised ? W_GROUP : 0) + W_TOKEN * group->direct + group->max_child;
}

/* Saturating max so absurd inputs cannot wrap around. */
static uint64_t umax(uint64_t a, uint64_t b) { return a > b ? a : b; }

/* 0: ok, 1: out of memory. */
static int bound_tokens(PgQuery__ScanToken *const *tokens, size_t count, uint64_t *bound) {
    size_t capacity = 64, depth = 0;
    sa_group *groups = calloc(capacity, sizeof *groups);
    if (groups == NULL) return 1;
    uint64_t best = 0;

    for (size_t i = 0; i < count; i++) {
        const PgQuery__ScanToken *token = tokens[i];
        if (token == NULL) continue;
        switch (token->token) {
        case PG_QUERY__TOKEN__ASCII_40: /* ( */
        case PG_QUERY__TOKEN__ASCII_91: /* [ */
            if (depth + 1 == capacity) {
                size_t grown = capacity * 2;
                sa_group *bigger = realloc(groups, grown * sizeof *groups);
                if (bigger == NULL) { free(groups); return 1; }
                groups = bigger;
                capacity = grown;
            }
            depth++;
            groups[depth] = (sa_group){0, 0};
            break;
        case PG_QUERY__TOKEN__ASCII_41: /* ) */
        case PG_QUERY__TOKEN__ASCII_93: /* ] */
            if (depth > 0) {
                uint64_t value = group_value(&groups[depth], true);
                depth--;
                groups[depth].max_child = umax(groups[depth].max_child, value);
            } else {
                groups[0].direct++; /* unbalanced: the parse fails; count it anyway */
            }
            break;
        case PG_QUERY__TOKEN__ASCII_59: /* ; */
            if (depth == 0) {
                best = umax(best, group_value(&groups[0], false));
                groups[0] = (sa_group){0, 0};
            }
            break;
        default:
            if (!token_is_flat(token)) groups[depth].direct++;
            break;
        }
    }
    /* Unclosed groups (the parse fails, but stay conservative). */
    while (depth > 0) {
        uint64_t value = group_value(&groups[depth], true);
        depth--;
        groups[depth].max_child = umax(groups[depth].max_child, value);
    }
    best = umax(best, group_value(&groups[0], false));
    free(groups);
    *bound = W_BASE + best;
    return 0;
}

bool sa_estimate_depth(const char *query, uint64_t *bound, char **error, int32_t *cursor) {
    *bound = 0;
    *error = NULL;
    *cursor = 0;

    PgQueryScanResult scan = pg_query_scan(query);
    if (scan.error != NULL) {
        const char *message = scan.error->message ? scan.error->message : "syntax error";
        *error = strdup(message);
        *cursor = scan.error->cursorpos;
        pg_query_free_scan_result(scan);
        return false;
    }
    PgQuery__ScanResult *result = pg_query__scan_result__unpack(
        NULL, scan.pbuf.len, (const uint8_t *)scan.pbuf.data);
    pg_query_free_scan_result(scan);
    if (result == NULL) return false; /* out of memory: error stays NULL */

    int status = bound_tokens(result->tokens, result->n_tokens, bound);
    pg_query__scan_result__free_unpacked(result, NULL);
    return status == 0;
}
