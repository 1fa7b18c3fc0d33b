/*
 * classify.c — the kind, flags and command tag of one statement.
 *
 * Command tags are the ones PostgreSQL reports (CreateCommandTag in src/backend/tcop/utility.c),
 * except "SELECT INTO" for a SelectStmt with an INTO clause (PostgreSQL reports "SELECT n").
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sa_internal.h"

#define CURSOR_OPT_HOLD 0x0020 /* parsenodes.h: WITH HOLD */

int sa_kind_rank(int32_t kind) {
    switch (kind) {
    case PGPROXY_STMT_DDL: return 5;
    case PGPROXY_STMT_WRITE: return 4;
    case PGPROXY_STMT_READ: return 3;
    case PGPROXY_STMT_TRANSACTION: return 2;
    case PGPROXY_STMT_UTILITY: return 1;
    default: return 0;
    }
}

static int32_t stronger(int32_t a, int32_t b) { return sa_kind_rank(b) > sa_kind_rank(a) ? b : a; }

static void set_command(sa_statement_class *out, const char *command) {
    snprintf(out->command, sizeof out->command, "%s", command);
}

static void set_command2(sa_statement_class *out, const char *verb, const char *object) {
    if (object != NULL)
        snprintf(out->command, sizeof out->command, "%s %s", verb, object);
    else
        snprintf(out->command, sizeof out->command, "%s", verb);
}

/* How PostgreSQL names an object type in "DROP ..." / "ALTER ..." tags; NULL when it has none. */
static const char *object_type_name(PgQuery__ObjectType type) {
    switch (type) {
    case PG_QUERY__OBJECT_TYPE__OBJECT_ACCESS_METHOD: return "ACCESS METHOD";
    case PG_QUERY__OBJECT_TYPE__OBJECT_AGGREGATE: return "AGGREGATE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_ATTRIBUTE: return "TYPE";      /* ALTER TYPE ... ATTRIBUTE */
    case PG_QUERY__OBJECT_TYPE__OBJECT_CAST: return "CAST";
    case PG_QUERY__OBJECT_TYPE__OBJECT_COLUMN: return "TABLE";        /* ALTER TABLE ... COLUMN */
    case PG_QUERY__OBJECT_TYPE__OBJECT_COLLATION: return "COLLATION";
    case PG_QUERY__OBJECT_TYPE__OBJECT_CONVERSION: return "CONVERSION";
    case PG_QUERY__OBJECT_TYPE__OBJECT_DATABASE: return "DATABASE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_DOMAIN: return "DOMAIN";
    case PG_QUERY__OBJECT_TYPE__OBJECT_DOMCONSTRAINT: return "DOMAIN";
    case PG_QUERY__OBJECT_TYPE__OBJECT_EVENT_TRIGGER: return "EVENT TRIGGER";
    case PG_QUERY__OBJECT_TYPE__OBJECT_EXTENSION: return "EXTENSION";
    case PG_QUERY__OBJECT_TYPE__OBJECT_FDW: return "FOREIGN DATA WRAPPER";
    case PG_QUERY__OBJECT_TYPE__OBJECT_FOREIGN_SERVER: return "SERVER";
    case PG_QUERY__OBJECT_TYPE__OBJECT_FOREIGN_TABLE: return "FOREIGN TABLE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_FUNCTION: return "FUNCTION";
    case PG_QUERY__OBJECT_TYPE__OBJECT_INDEX: return "INDEX";
    case PG_QUERY__OBJECT_TYPE__OBJECT_LANGUAGE: return "LANGUAGE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_LARGEOBJECT: return "LARGE OBJECT";
    case PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW: return "MATERIALIZED VIEW";
    case PG_QUERY__OBJECT_TYPE__OBJECT_OPCLASS: return "OPERATOR CLASS";
    case PG_QUERY__OBJECT_TYPE__OBJECT_OPERATOR: return "OPERATOR";
    case PG_QUERY__OBJECT_TYPE__OBJECT_OPFAMILY: return "OPERATOR FAMILY";
    case PG_QUERY__OBJECT_TYPE__OBJECT_POLICY: return "POLICY";
    case PG_QUERY__OBJECT_TYPE__OBJECT_PROCEDURE: return "PROCEDURE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_PUBLICATION: return "PUBLICATION";
    case PG_QUERY__OBJECT_TYPE__OBJECT_ROLE: return "ROLE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_ROUTINE: return "ROUTINE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_RULE: return "RULE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_SCHEMA: return "SCHEMA";
    case PG_QUERY__OBJECT_TYPE__OBJECT_SEQUENCE: return "SEQUENCE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_SUBSCRIPTION: return "SUBSCRIPTION";
    case PG_QUERY__OBJECT_TYPE__OBJECT_STATISTIC_EXT: return "STATISTICS";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TABCONSTRAINT: return "TABLE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TABLE: return "TABLE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TABLESPACE: return "TABLESPACE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TRANSFORM: return "TRANSFORM";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TRIGGER: return "TRIGGER";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TSCONFIGURATION: return "TEXT SEARCH CONFIGURATION";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TSDICTIONARY: return "TEXT SEARCH DICTIONARY";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TSPARSER: return "TEXT SEARCH PARSER";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TSTEMPLATE: return "TEXT SEARCH TEMPLATE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_TYPE: return "TYPE";
    case PG_QUERY__OBJECT_TYPE__OBJECT_USER_MAPPING: return "USER MAPPING";
    case PG_QUERY__OBJECT_TYPE__OBJECT_VIEW: return "VIEW";
    default: return NULL;
    }
}

/* ---- statements with a fixed kind and tag ------------------------------------------------ */

typedef struct sa_fixed {
    const ProtobufCMessageDescriptor *descriptor;
    int32_t kind;
    uint32_t flags;
    const char *command;
} sa_fixed;

#define DDL(name, tag) {&pg_query__##name##__descriptor, PGPROXY_STMT_DDL, 0, tag}
#define WRITE(name, tag, flags) {&pg_query__##name##__descriptor, PGPROXY_STMT_WRITE, flags, tag}
#define UTILITY(name, tag, flags) {&pg_query__##name##__descriptor, PGPROXY_STMT_UTILITY, flags, tag}

static const sa_fixed fixed_statements[] = {
    WRITE(insert_stmt, "INSERT", 0),
    WRITE(update_stmt, "UPDATE", 0),
    WRITE(delete_stmt, "DELETE", 0),
    WRITE(merge_stmt, "MERGE", 0),
    WRITE(truncate_stmt, "TRUNCATE TABLE", 0),
    WRITE(lock_stmt, "LOCK TABLE", PGPROXY_FLAG_LOCKING),
    WRITE(do_stmt, "DO", 0),
    WRITE(call_stmt, "CALL", 0),
    WRITE(notify_stmt, "NOTIFY", 0),
    WRITE(execute_stmt, "EXECUTE", 0),       /* runs a prepared statement we cannot see */
    WRITE(check_point_stmt, "CHECKPOINT", 0),

    UTILITY(variable_show_stmt, "SHOW", 0),
    UTILITY(listen_stmt, "LISTEN", PGPROXY_FLAG_SESSION_STATE),
    UTILITY(unlisten_stmt, "UNLISTEN", PGPROXY_FLAG_SESSION_STATE),
    UTILITY(prepare_stmt, "PREPARE", PGPROXY_FLAG_SESSION_STATE),
    UTILITY(load_stmt, "LOAD", 0),
    UTILITY(constraints_set_stmt, "SET CONSTRAINTS", 0),

    DDL(create_schema_stmt, "CREATE SCHEMA"),
    DDL(create_domain_stmt, "CREATE DOMAIN"),
    DDL(alter_domain_stmt, "ALTER DOMAIN"),
    DDL(create_table_space_stmt, "CREATE TABLESPACE"),
    DDL(drop_table_space_stmt, "DROP TABLESPACE"),
    DDL(alter_table_space_options_stmt, "ALTER TABLESPACE"),
    DDL(create_extension_stmt, "CREATE EXTENSION"),
    DDL(alter_extension_stmt, "ALTER EXTENSION"),
    DDL(alter_extension_contents_stmt, "ALTER EXTENSION"),
    DDL(create_fdw_stmt, "CREATE FOREIGN DATA WRAPPER"),
    DDL(alter_fdw_stmt, "ALTER FOREIGN DATA WRAPPER"),
    DDL(create_foreign_server_stmt, "CREATE SERVER"),
    DDL(alter_foreign_server_stmt, "ALTER SERVER"),
    DDL(create_user_mapping_stmt, "CREATE USER MAPPING"),
    DDL(alter_user_mapping_stmt, "ALTER USER MAPPING"),
    DDL(drop_user_mapping_stmt, "DROP USER MAPPING"),
    DDL(create_foreign_table_stmt, "CREATE FOREIGN TABLE"),
    DDL(import_foreign_schema_stmt, "IMPORT FOREIGN SCHEMA"),
    DDL(comment_stmt, "COMMENT"),
    DDL(sec_label_stmt, "SECURITY LABEL"),
    DDL(alter_default_privileges_stmt, "ALTER DEFAULT PRIVILEGES"),
    DDL(composite_type_stmt, "CREATE TYPE"),
    DDL(create_enum_stmt, "CREATE TYPE"),
    DDL(create_range_stmt, "CREATE TYPE"),
    DDL(alter_enum_stmt, "ALTER TYPE"),
    DDL(index_stmt, "CREATE INDEX"),
    DDL(rule_stmt, "CREATE RULE"),
    DDL(alter_seq_stmt, "ALTER SEQUENCE"),
    DDL(createdb_stmt, "CREATE DATABASE"),
    DDL(alter_database_stmt, "ALTER DATABASE"),
    DDL(alter_database_refresh_coll_stmt, "ALTER DATABASE"),
    DDL(alter_database_set_stmt, "ALTER DATABASE"),
    DDL(dropdb_stmt, "DROP DATABASE"),
    DDL(cluster_stmt, "CLUSTER"),
    DDL(reindex_stmt, "REINDEX"),
    DDL(refresh_mat_view_stmt, "REFRESH MATERIALIZED VIEW"),
    DDL(alter_system_stmt, "ALTER SYSTEM"),
    DDL(create_transform_stmt, "CREATE TRANSFORM"),
    DDL(create_trig_stmt, "CREATE TRIGGER"),
    DDL(create_event_trig_stmt, "CREATE EVENT TRIGGER"),
    DDL(alter_event_trig_stmt, "ALTER EVENT TRIGGER"),
    DDL(create_plang_stmt, "CREATE LANGUAGE"),
    DDL(create_role_stmt, "CREATE ROLE"),
    DDL(alter_role_stmt, "ALTER ROLE"),
    DDL(alter_role_set_stmt, "ALTER ROLE"),
    DDL(drop_role_stmt, "DROP ROLE"),
    DDL(drop_owned_stmt, "DROP OWNED"),
    DDL(reassign_owned_stmt, "REASSIGN OWNED"),
    DDL(create_conversion_stmt, "CREATE CONVERSION"),
    DDL(create_cast_stmt, "CREATE CAST"),
    DDL(create_op_class_stmt, "CREATE OPERATOR CLASS"),
    DDL(create_op_family_stmt, "CREATE OPERATOR FAMILY"),
    DDL(alter_op_family_stmt, "ALTER OPERATOR FAMILY"),
    DDL(alter_operator_stmt, "ALTER OPERATOR"),
    DDL(alter_type_stmt, "ALTER TYPE"),
    DDL(alter_tsdictionary_stmt, "ALTER TEXT SEARCH DICTIONARY"),
    DDL(alter_tsconfiguration_stmt, "ALTER TEXT SEARCH CONFIGURATION"),
    DDL(create_policy_stmt, "CREATE POLICY"),
    DDL(alter_policy_stmt, "ALTER POLICY"),
    DDL(create_am_stmt, "CREATE ACCESS METHOD"),
    DDL(create_publication_stmt, "CREATE PUBLICATION"),
    DDL(alter_publication_stmt, "ALTER PUBLICATION"),
    DDL(create_subscription_stmt, "CREATE SUBSCRIPTION"),
    DDL(alter_subscription_stmt, "ALTER SUBSCRIPTION"),
    DDL(drop_subscription_stmt, "DROP SUBSCRIPTION"),
    DDL(create_stats_stmt, "CREATE STATISTICS"),
    DDL(alter_stats_stmt, "ALTER STATISTICS"),
    DDL(alter_collation_stmt, "ALTER COLLATION"),
};

/* For node types not known here: "FooBarStmt" -> "FOO BAR"; DDL when it creates/alters/drops. */
static void classify_unknown(const ProtobufCMessageDescriptor *descriptor, sa_statement_class *out) {
    const char *name = descriptor->name ? descriptor->name : "";
    size_t length = strlen(name);
    if (length > 4 && strcmp(name + length - 4, "Stmt") == 0) length -= 4;
    size_t j = 0;
    for (size_t i = 0; i < length && j + 2 < sizeof out->command; i++) {
        char ch = name[i];
        if (ch >= 'A' && ch <= 'Z' && i > 0 && j > 0 && out->command[j - 1] != ' ') out->command[j++] = ' ';
        out->command[j++] = (char)(ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch);
    }
    out->command[j] = '\0';
    bool ddl = strncmp(name, "Create", 6) == 0 || strncmp(name, "Alter", 5) == 0 ||
               strncmp(name, "Drop", 4) == 0 || strncmp(name, "Define", 6) == 0;
    out->kind = ddl ? PGPROXY_STMT_DDL : PGPROXY_STMT_UTILITY;
}

/* ---- helpers ----------------------------------------------------------------------------- */

static bool is_temp(const PgQuery__RangeVar *range) {
    return range != NULL && range->relpersistence != NULL && range->relpersistence[0] == 't';
}

/* The truth of a DefElem's argument as PostgreSQL's defGetBoolean reads it; `fallback` when the
 * argument is something defGetBoolean would reject. */
static bool def_boolean(const PgQuery__DefElem *def, bool fallback) {
    const ProtobufCMessage *arg = inner(def->arg);
    if (arg == NULL) return true; /* "EXPLAIN (ANALYZE)" */
    if (arg->descriptor == &pg_query__integer__descriptor) {
        int32_t value = ((const PgQuery__Integer *)arg)->ival;
        return value == 0 ? false : value == 1 ? true : fallback;
    }
    if (arg->descriptor == &pg_query__boolean__descriptor) return ((const PgQuery__Boolean *)arg)->boolval;
    if (arg->descriptor == &pg_query__string__descriptor) {
        const char *text = ((const PgQuery__String *)arg)->sval;
        if (text == NULL) return fallback;
        if (strcasecmp(text, "true") == 0 || strcasecmp(text, "on") == 0) return true;
        if (strcasecmp(text, "false") == 0 || strcasecmp(text, "off") == 0) return false;
        return fallback;
    }
    if (arg->descriptor == &pg_query__a__const__descriptor) {
        const PgQuery__AConst *constant = (const PgQuery__AConst *)arg;
        if (constant->val_case == PG_QUERY__A__CONST__VAL_IVAL && constant->ival != NULL)
            return constant->ival->ival != 0;
        if (constant->val_case == PG_QUERY__A__CONST__VAL_BOOLVAL && constant->boolval != NULL)
            return constant->boolval->boolval;
        return fallback;
    }
    return fallback;
}

/* The value of the last option named `name` in a list of DefElem nodes; `absent` when none. */
static bool option_boolean(PgQuery__Node *const *options, size_t count, const char *name,
                           bool absent, bool fallback) {
    bool value = absent;
    for (size_t i = 0; i < count; i++) {
        const ProtobufCMessage *option = inner(options[i]);
        if (option == NULL || option->descriptor != &pg_query__def_elem__descriptor) continue;
        const PgQuery__DefElem *def = (const PgQuery__DefElem *)option;
        if (def->defname != NULL && strcmp(def->defname, name) == 0) value = def_boolean(def, fallback);
    }
    return value;
}

/* The INTO clause of a SELECT (it sits on the leftmost SELECT of a set operation). */
static const PgQuery__IntoClause *select_into(const PgQuery__SelectStmt *select) {
    while (select != NULL) {
        if (select->into_clause != NULL) return select->into_clause;
        select = select->larg;
    }
    return NULL;
}

/* A statement that runs a query: locking clauses and data-modifying parts make it a write. */
static void apply_query_facts(const sa_facts *facts, sa_statement_class *out) {
    if (facts->has_locking) {
        out->flags |= PGPROXY_FLAG_LOCKING;
        out->kind = stronger(out->kind, PGPROXY_STMT_WRITE);
    }
    if (facts->has_dml) out->kind = stronger(out->kind, PGPROXY_STMT_WRITE);
}

static void classify_transaction(const PgQuery__TransactionStmt *stmt, sa_statement_class *out) {
    out->kind = PGPROXY_STMT_TRANSACTION;
    switch (stmt->kind) {
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_BEGIN:
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_START:
        set_command(out, stmt->kind == PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_BEGIN
                             ? "BEGIN" : "START TRANSACTION");
        out->flags |= PGPROXY_FLAG_BEGIN;
        /* BEGIN READ ONLY: DefElem transaction_read_only = A_Const 1 (READ WRITE gives 0). */
        if (option_boolean(stmt->options, stmt->n_options, "transaction_read_only", false, false))
            out->flags |= PGPROXY_FLAG_READ_ONLY_BEGIN;
        break;
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT:
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK:
        set_command(out, stmt->kind == PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT
                             ? "COMMIT" : "ROLLBACK");
        out->flags |= PGPROXY_FLAG_END;
        if (stmt->chain) out->flags |= PGPROXY_FLAG_BEGIN; /* AND CHAIN opens the next one */
        break;
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_SAVEPOINT: set_command(out, "SAVEPOINT"); break;
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_RELEASE: set_command(out, "RELEASE"); break;
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK_TO: set_command(out, "ROLLBACK"); break;
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_PREPARE:
        set_command(out, "PREPARE TRANSACTION");
        out->flags |= PGPROXY_FLAG_END;
        break;
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT_PREPARED:
        set_command(out, "COMMIT PREPARED");
        out->flags |= PGPROXY_FLAG_END;
        break;
    case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK_PREPARED:
        set_command(out, "ROLLBACK PREPARED");
        out->flags |= PGPROXY_FLAG_END;
        break;
    default: set_command(out, "TRANSACTION"); break;
    }
}

/* ---- the classifier ---------------------------------------------------------------------- */

/* `depth` guards the EXPLAIN/DECLARE recursion (at most two levels in valid SQL). */
static void classify(const ProtobufCMessage *stmt, const sa_facts *facts, sa_statement_class *out,
                     int depth) {
    out->kind = PGPROXY_STMT_UNKNOWN;
    out->flags = 0;
    out->command[0] = '\0';
    if (stmt == NULL || depth > 8) {
        out->kind = PGPROXY_STMT_UTILITY;
        set_command(out, "???");
        return;
    }
    const ProtobufCMessageDescriptor *d = stmt->descriptor;

    if (d == &pg_query__select_stmt__descriptor) {
        const PgQuery__IntoClause *into = select_into((const PgQuery__SelectStmt *)stmt);
        if (into != NULL) {
            out->kind = PGPROXY_STMT_DDL;
            set_command(out, "SELECT INTO");
            if (is_temp(into->rel)) out->flags |= PGPROXY_FLAG_SESSION_STATE;
        } else {
            out->kind = PGPROXY_STMT_READ;
            set_command(out, "SELECT");
        }
        apply_query_facts(facts, out);
    } else if (d == &pg_query__copy_stmt__descriptor) {
        const PgQuery__CopyStmt *copy = (const PgQuery__CopyStmt *)stmt;
        set_command(out, "COPY");
        if (copy->is_from) {
            out->kind = PGPROXY_STMT_WRITE;
            out->flags |= PGPROXY_FLAG_COPY_FROM;
        } else {
            out->kind = PGPROXY_STMT_READ;
            out->flags |= PGPROXY_FLAG_COPY_TO;
            apply_query_facts(facts, out);
        }
    } else if (d == &pg_query__transaction_stmt__descriptor) {
        classify_transaction((const PgQuery__TransactionStmt *)stmt, out);
    } else if (d == &pg_query__explain_stmt__descriptor) {
        const PgQuery__ExplainStmt *explain = (const PgQuery__ExplainStmt *)stmt;
        out->kind = PGPROXY_STMT_UTILITY;
        /* EXPLAIN ANALYZE runs the statement: then it is as strong as what it runs. An option
         * value PostgreSQL would reject counts as ANALYZE, to stay on the safe side. */
        if (option_boolean(explain->options, explain->n_options, "analyze", false, true)) {
            sa_statement_class inner_class;
            classify(inner(explain->query), facts, &inner_class, depth + 1);
            if (inner_class.kind == PGPROXY_STMT_WRITE || inner_class.kind == PGPROXY_STMT_DDL) {
                out->kind = inner_class.kind;
                out->flags |= inner_class.flags;
            }
        }
        set_command(out, "EXPLAIN");
    } else if (d == &pg_query__declare_cursor_stmt__descriptor) {
        const PgQuery__DeclareCursorStmt *declare = (const PgQuery__DeclareCursorStmt *)stmt;
        sa_statement_class inner_class;
        classify(inner(declare->query), facts, &inner_class, depth + 1);
        out->kind = declare->query != NULL ? inner_class.kind : PGPROXY_STMT_UTILITY;
        out->flags |= inner_class.flags;
        if (declare->options & CURSOR_OPT_HOLD) out->flags |= PGPROXY_FLAG_SESSION_STATE;
        set_command(out, "DECLARE CURSOR");
    } else if (d == &pg_query__create_table_as_stmt__descriptor) {
        const PgQuery__CreateTableAsStmt *create = (const PgQuery__CreateTableAsStmt *)stmt;
        out->kind = PGPROXY_STMT_DDL;
        if (create->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW)
            set_command(out, "CREATE MATERIALIZED VIEW");
        else
            set_command(out, create->is_select_into ? "SELECT INTO" : "CREATE TABLE AS");
        if (create->into != NULL && is_temp(create->into->rel)) out->flags |= PGPROXY_FLAG_SESSION_STATE;
        apply_query_facts(facts, out);
    } else if (d == &pg_query__create_stmt__descriptor) {
        out->kind = PGPROXY_STMT_DDL;
        set_command(out, "CREATE TABLE");
        if (is_temp(((const PgQuery__CreateStmt *)stmt)->relation)) out->flags |= PGPROXY_FLAG_SESSION_STATE;
    } else if (d == &pg_query__view_stmt__descriptor) {
        out->kind = PGPROXY_STMT_DDL;
        set_command(out, "CREATE VIEW");
        if (is_temp(((const PgQuery__ViewStmt *)stmt)->view)) out->flags |= PGPROXY_FLAG_SESSION_STATE;
    } else if (d == &pg_query__create_seq_stmt__descriptor) {
        out->kind = PGPROXY_STMT_DDL;
        set_command(out, "CREATE SEQUENCE");
        if (is_temp(((const PgQuery__CreateSeqStmt *)stmt)->sequence)) out->flags |= PGPROXY_FLAG_SESSION_STATE;
    } else if (d == &pg_query__create_function_stmt__descriptor) {
        out->kind = PGPROXY_STMT_DDL;
        set_command(out, ((const PgQuery__CreateFunctionStmt *)stmt)->is_procedure
                             ? "CREATE PROCEDURE" : "CREATE FUNCTION");
    } else if (d == &pg_query__drop_stmt__descriptor) {
        out->kind = PGPROXY_STMT_DDL;
        set_command2(out, "DROP", object_type_name(((const PgQuery__DropStmt *)stmt)->remove_type));
    } else if (d == &pg_query__alter_table_stmt__descriptor) {
        out->kind = PGPROXY_STMT_DDL;
        set_command2(out, "ALTER", object_type_name(((const PgQuery__AlterTableStmt *)stmt)->objtype));
    } else if (d == &pg_query__rename_stmt__descriptor) {
        const PgQuery__RenameStmt *rename = (const PgQuery__RenameStmt *)stmt;
        out->kind = PGPROXY_STMT_DDL;
        set_command2(out, "ALTER", object_type_name(rename->rename_type == PG_QUERY__OBJECT_TYPE__OBJECT_COLUMN
                                                        ? rename->relation_type : rename->rename_type));
    } else if (d == &pg_query__alter_object_schema_stmt__descriptor) {
        out->kind = PGPROXY_STMT_DDL;
        set_command2(out, "ALTER", object_type_name(((const PgQuery__AlterObjectSchemaStmt *)stmt)->object_type));
    } else if (d == &pg_query__alter_owner_stmt__descriptor) {
        out->kind = PGPROXY_STMT_DDL;
        set_command2(out, "ALTER", object_type_name(((const PgQuery__AlterOwnerStmt *)stmt)->object_type));
    } else if (d == &pg_query__alter_object_depends_stmt__descriptor) {
        out->kind = PGPROXY_STMT_DDL;
        set_command2(out, "ALTER", object_type_name(((const PgQuery__AlterObjectDependsStmt *)stmt)->object_type));
    } else if (d == &pg_query__alter_table_move_all_stmt__descriptor) {
        out->kind = PGPROXY_STMT_DDL;
        set_command2(out, "ALTER", object_type_name(((const PgQuery__AlterTableMoveAllStmt *)stmt)->objtype));
    } else if (d == &pg_query__alter_function_stmt__descriptor) {
        PgQuery__ObjectType type = ((const PgQuery__AlterFunctionStmt *)stmt)->objtype;
        out->kind = PGPROXY_STMT_DDL;
        set_command(out, type == PG_QUERY__OBJECT_TYPE__OBJECT_PROCEDURE ? "ALTER PROCEDURE"
                         : type == PG_QUERY__OBJECT_TYPE__OBJECT_ROUTINE ? "ALTER ROUTINE"
                                                                         : "ALTER FUNCTION");
    } else if (d == &pg_query__define_stmt__descriptor) {
        out->kind = PGPROXY_STMT_DDL;
        set_command2(out, "CREATE", object_type_name(((const PgQuery__DefineStmt *)stmt)->kind));
    } else if (d == &pg_query__grant_stmt__descriptor) {
        out->kind = PGPROXY_STMT_DDL;
        set_command(out, ((const PgQuery__GrantStmt *)stmt)->is_grant ? "GRANT" : "REVOKE");
    } else if (d == &pg_query__grant_role_stmt__descriptor) {
        out->kind = PGPROXY_STMT_DDL;
        set_command(out, ((const PgQuery__GrantRoleStmt *)stmt)->is_grant ? "GRANT ROLE" : "REVOKE ROLE");
    } else if (d == &pg_query__vacuum_stmt__descriptor) {
        out->kind = PGPROXY_STMT_DDL;
        set_command(out, ((const PgQuery__VacuumStmt *)stmt)->is_vacuumcmd ? "VACUUM" : "ANALYZE");
    } else if (d == &pg_query__variable_set_stmt__descriptor) {
        const PgQuery__VariableSetStmt *set = (const PgQuery__VariableSetStmt *)stmt;
        bool reset = set->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET ||
                     set->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET_ALL;
        out->kind = PGPROXY_STMT_UTILITY;
        set_command(out, reset ? "RESET" : "SET");
        /* SET LOCAL and SET TRANSACTION ... last until the transaction ends. */
        bool transaction_scoped = set->is_local ||
            (set->name != NULL && strncmp(set->name, "TRANSACTION", 11) == 0);
        if (!transaction_scoped) out->flags |= PGPROXY_FLAG_SESSION_STATE;
    } else if (d == &pg_query__discard_stmt__descriptor) {
        out->kind = PGPROXY_STMT_UTILITY;
        switch (((const PgQuery__DiscardStmt *)stmt)->target) {
        case PG_QUERY__DISCARD_MODE__DISCARD_PLANS: set_command(out, "DISCARD PLANS"); break;
        case PG_QUERY__DISCARD_MODE__DISCARD_SEQUENCES: set_command(out, "DISCARD SEQUENCES"); break;
        case PG_QUERY__DISCARD_MODE__DISCARD_TEMP: set_command(out, "DISCARD TEMP"); break;
        default: set_command(out, "DISCARD ALL"); break;
        }
    } else if (d == &pg_query__deallocate_stmt__descriptor) {
        const char *name = ((const PgQuery__DeallocateStmt *)stmt)->name;
        out->kind = PGPROXY_STMT_UTILITY;
        set_command(out, name != NULL && name[0] != '\0' ? "DEALLOCATE" : "DEALLOCATE ALL");
    } else if (d == &pg_query__fetch_stmt__descriptor) {
        out->kind = PGPROXY_STMT_UTILITY;
        set_command(out, ((const PgQuery__FetchStmt *)stmt)->ismove ? "MOVE" : "FETCH");
    } else if (d == &pg_query__close_portal_stmt__descriptor) {
        const char *name = ((const PgQuery__ClosePortalStmt *)stmt)->portalname;
        out->kind = PGPROXY_STMT_UTILITY;
        set_command(out, name != NULL && name[0] != '\0' ? "CLOSE CURSOR" : "CLOSE CURSOR ALL");
    } else {
        size_t count = sizeof fixed_statements / sizeof fixed_statements[0];
        size_t i = 0;
        while (i < count && fixed_statements[i].descriptor != d) i++;
        if (i < count) {
            out->kind = fixed_statements[i].kind;
            out->flags |= fixed_statements[i].flags;
            set_command(out, fixed_statements[i].command);
            if (out->kind == PGPROXY_STMT_WRITE && facts->has_locking)
                out->flags |= PGPROXY_FLAG_LOCKING; /* INSERT ... SELECT ... FOR UPDATE */
        } else {
            classify_unknown(d, out);
        }
    }
}

void sa_classify_statement(const ProtobufCMessage *stmt, const sa_facts *facts,
                           sa_statement_class *out) {
    classify(stmt, facts, out, 0);
}
