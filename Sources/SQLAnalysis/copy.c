/*
 * copy.c — pgproxy_sql_copy_from_make: what pgproxy needs to split COPY FROM STDIN rows among shards.
 *
 * The target relation, the column list, and how the data is read: format, delimiter, quote,
 * escape, NULL string and header, with PostgreSQL 15's defaults (ProcessCopyOptions) filled in.
 * Options that change which values are NULL per column (FORCE_NULL, FORCE_NOT_NULL) and data in
 * another encoding than UTF-8 are refused: pgproxy reads the key of each row itself and must read
 * it as the server will.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sa_internal.h"

static bool copy_refuse(pgproxy_sql_copy_from *out, const char *format, ...) {
    if (out->refusal != NULL) return false;
    va_list arguments;
    va_start(arguments, format);
    char *message = NULL;
    if (vasprintf(&message, format, arguments) < 0) message = NULL;
    va_end(arguments);
    out->refusal = message != NULL ? message : strdup("out of memory");
    return false;
}

/* An option's value as PostgreSQL's defGetString reads it; NULL for none or another node. */
static const char *option_string(const PgQuery__DefElem *option, char *number, size_t size) {
    const PgQuery__Node *arg = option->arg;
    if (arg == NULL) return NULL;
    switch (arg->node_case) {
    case PG_QUERY__NODE__NODE_STRING: return arg->string != NULL ? arg->string->sval : NULL;
    case PG_QUERY__NODE__NODE_INTEGER:
        snprintf(number, size, "%d", arg->integer != NULL ? arg->integer->ival : 0);
        return number;
    case PG_QUERY__NODE__NODE_FLOAT: return arg->float_ != NULL ? arg->float_->fval : NULL;
    case PG_QUERY__NODE__NODE_BOOLEAN: return arg->boolean != NULL && arg->boolean->boolval ? "true" : "false";
    default: return NULL;
    }
}

/* One byte given for DELIMITER, QUOTE or ESCAPE; false (refused) otherwise. */
static bool one_byte(pgproxy_sql_copy_from *out, const PgQuery__DefElem *option, int32_t *into) {
    char number[32];
    const char *value = option_string(option, number, sizeof number);
    if (value == NULL || strlen(value) != 1) {
        return copy_refuse(out, "COPY %s must be a single one-byte character", option->defname);
    }
    *into = (unsigned char)value[0];
    return true;
}

/* HEADER's value as defGetCopyHeaderChoice reads it: 0 false, 1 true or MATCH, -1 invalid. */
static int header_choice(const PgQuery__DefElem *option) {
    const PgQuery__Node *arg = option->arg;
    if (arg == NULL) return 1;
    if (arg->node_case == PG_QUERY__NODE__NODE_INTEGER) {
        int value = arg->integer != NULL ? arg->integer->ival : 0;
        return value == 0 ? 0 : value == 1 ? 1 : -1;
    }
    char number[32];
    const char *value = option_string(option, number, sizeof number);
    if (value == NULL) return -1;
    if (!strcasecmp(value, "true") || !strcasecmp(value, "on") || !strcasecmp(value, "match")) return 1;
    if (!strcasecmp(value, "false") || !strcasecmp(value, "off")) return 0;
    return -1;
}

static bool is_utf8(const char *name) {
    return !strcasecmp(name, "utf8") || !strcasecmp(name, "utf-8") || !strcasecmp(name, "unicode");
}

static bool read_options(pgproxy_sql_copy_from *out, const PgQuery__CopyStmt *copy) {
    bool delimiter = false, quote = false, escape = false;
    const char *null_string = NULL;
    for (size_t i = 0; i < copy->n_options; i++) {
        const PgQuery__Node *node = copy->options[i];
        if (node == NULL || node->node_case != PG_QUERY__NODE__NODE_DEF_ELEM || node->def_elem == NULL) continue;
        const PgQuery__DefElem *option = node->def_elem;
        const char *name = option->defname != NULL ? option->defname : "";
        char number[32];
        if (!strcmp(name, "format")) {
            const char *value = option_string(option, number, sizeof number);
            if (value != NULL && !strcmp(value, "text")) out->format = PGPROXY_SQL_COPY_TEXT;
            else if (value != NULL && !strcmp(value, "csv")) out->format = PGPROXY_SQL_COPY_CSV;
            else if (value != NULL && !strcmp(value, "binary")) out->format = PGPROXY_SQL_COPY_BINARY;
            else return copy_refuse(out, "COPY format \"%s\" not recognized", value != NULL ? value : "");
        } else if (!strcmp(name, "delimiter")) {
            if (!one_byte(out, option, &out->delimiter)) return false;
            delimiter = true;
        } else if (!strcmp(name, "quote")) {
            if (!one_byte(out, option, &out->quote)) return false;
            quote = true;
        } else if (!strcmp(name, "escape")) {
            if (!one_byte(out, option, &out->escape)) return false;
            escape = true;
        } else if (!strcmp(name, "null")) {
            null_string = option_string(option, number, sizeof number);
            if (null_string == NULL) return copy_refuse(out, "COPY NULL needs a string");
            if (!(out->null_string = strdup(null_string))) return copy_refuse(out, "out of memory");
        } else if (!strcmp(name, "header")) {
            int choice = header_choice(option);
            if (choice < 0) return copy_refuse(out, "HEADER requires a Boolean value or \"match\"");
            out->header = choice;
        } else if (!strcmp(name, "force_null") || !strcmp(name, "force_not_null")) {
            return copy_refuse(out, "%s is not supported when pgproxy splits COPY rows among shards",
                               !strcmp(name, "force_null") ? "FORCE_NULL" : "FORCE_NOT_NULL");
        } else if (!strcmp(name, "encoding")) {
            const char *value = option_string(option, number, sizeof number);
            if (value == NULL || !is_utf8(value)) {
                return copy_refuse(out, "pgproxy reads the keys of COPY data as UTF-8; ENCODING '%s' is not supported when it splits rows among shards",
                                   value != NULL ? value : "");
            }
        }
        /* freeze, force_quote (COPY TO only) and anything PostgreSQL refuses: the shards say. */
    }
    bool csv = out->format == PGPROXY_SQL_COPY_CSV;
    if (!delimiter) out->delimiter = csv ? ',' : '\t';
    if (!quote) out->quote = '"';
    if (!escape) out->escape = out->quote;
    if (null_string == NULL && !(out->null_string = strdup(csv ? "" : "\\N"))) return copy_refuse(out, "out of memory");
    return true;
}

static void fill(pgproxy_sql_copy_from *out, const PgQuery__CopyStmt *copy) {
    if (!copy->is_from) {
        copy_refuse(out, "COPY TO is not split among shards (only COPY FROM STDIN is)");
        return;
    }
    bool oom = false;
    out->table = sa_relation_name(copy->relation, &oom);
    if (out->table == NULL) {
        copy_refuse(out, oom ? "out of memory" : "COPY FROM names no table");
        return;
    }
    if (nonempty(copy->relation->schemaname) && !(out->schema_name = strdup(copy->relation->schemaname))) {
        copy_refuse(out, "out of memory");
        return;
    }
    if (!(out->relation_name = strdup(copy->relation->relname))) {
        copy_refuse(out, "out of memory");
        return;
    }
    out->from_stdin = !copy->is_program && !nonempty(copy->filename);
    if (copy->n_attlist > 0) {
        out->columns = calloc(copy->n_attlist, sizeof *out->columns);
        if (out->columns == NULL) {
            copy_refuse(out, "out of memory");
            return;
        }
        for (size_t i = 0; i < copy->n_attlist; i++) {
            const char *name = string_of(copy->attlist[i]);
            if (name == NULL || !(out->columns[out->column_count++] = strdup(name))) {
                copy_refuse(out, name == NULL ? "a COPY column list entry is not a column name" : "out of memory");
                return;
            }
        }
    }
    read_options(out, copy);
}

void pgproxy_sql_copy_from_free(pgproxy_sql_copy_from *copy) {
    if (copy == NULL) return;
    for (size_t i = 0; copy->columns != NULL && i < copy->column_count; i++) free(copy->columns[i]);
    free(copy->columns);
    free(copy->refusal);
    free(copy->table);
    free(copy->schema_name);
    free(copy->relation_name);
    free(copy->null_string);
    memset(copy, 0, sizeof *copy);
}

/* After a refusal only `refusal` is kept. */
static void keep_refusal_only(pgproxy_sql_copy_from *out) {
    char *refusal = out->refusal;
    out->refusal = NULL;
    pgproxy_sql_copy_from_free(out);
    out->refusal = refusal;
}

static int consume_copy(const PgQuery__ParseResult *tree, const uint8_t *bytes, size_t length, void *context) {
    (void)bytes;
    (void)length;
    pgproxy_sql_copy_from *out = context;
    const ProtobufCMessage *stmt = tree->n_stmts == 1 && tree->stmts[0] != NULL
                                       ? sa_node_inner((const ProtobufCMessage *)tree->stmts[0]->stmt) : NULL;
    if (tree->n_stmts != 1) {
        copy_refuse(out, "a COPY split among shards must be the only statement of its query");
    } else if (!IS(stmt, copy_stmt)) {
        copy_refuse(out, "the statement is not COPY");
    } else {
        fill(out, (const PgQuery__CopyStmt *)stmt);
    }
    if (out->refusal != NULL) keep_refusal_only(out);
    return out->refusal != NULL && !strcmp(out->refusal, "out of memory") ? PGPROXY_SQL_ANALYSIS_NO_MEMORY
                                                                          : PGPROXY_SQL_ANALYSIS_OK;
}

int pgproxy_sql_copy_from_make(const char *query, pgproxy_sql_copy_from *out) {
    if (out == NULL) return PGPROXY_SQL_ANALYSIS_INVALID;
    memset(out, 0, sizeof *out);
    if (query == NULL) {
        out->refusal = strdup("query is NULL");
        return PGPROXY_SQL_ANALYSIS_INVALID;
    }
    sa_parse_failure failure;
    int status = sa_parse_guarded(query, consume_copy, out, &failure);
    if (failure.failed) {
        pgproxy_sql_copy_from_free(out);
        out->refusal = failure.message != NULL ? failure.message : strdup("out of memory");
    }
    return status;
}
