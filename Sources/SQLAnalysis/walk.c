/*
 * walk.c — a generic walk over libpg_query's protobuf parse tree.
 *
 * The tree is walked with protobuf-c reflection rather than per-node-type code: for every message
 * we look at each message-typed field of its descriptor, repeated ones (count at the quantifier
 * offset), oneof members (the active member's id is stored at the quantifier offset) and plain
 * ones. The few node types we care about are recognised by their descriptor. The walk is
 * iterative (an explicit stack on the heap), so a deep tree cannot overflow the C stack here.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdlib.h>
#include <string.h>

#include "sa_internal.h"

/* How many distinct names we keep while walking; the result keeps the first 64 in text order. */
#define SA_COLLECT_LIMIT (4 * PGPROXY_SQL_ANALYSIS_MAX_NAMES)

typedef struct sa_frame {
    const ProtobufCMessage *message;
    bool via_node;             /* reached as the member of a Node (e.g. a FROM item), not a typed field */
} sa_frame;

typedef struct sa_stack {
    sa_frame *frames;
    size_t count;
    size_t capacity;
} sa_stack;

static bool stack_push(sa_stack *stack, const ProtobufCMessage *message, bool via_node) {
    if (stack->count == stack->capacity) {
        size_t grown = stack->capacity ? stack->capacity * 2 : 64;
        sa_frame *frames = realloc(stack->frames, grown * sizeof *frames);
        if (frames == NULL) return false;
        stack->frames = frames;
        stack->capacity = grown;
    }
    stack->frames[stack->count++] = (sa_frame){message, via_node};
    return true;
}

/* The field's value inside `message`, typed. */
#define FIELD_AT(message, offset, type) (*(type const *)((const char *)(message) + (offset)))

const ProtobufCMessage *sa_node_inner(const ProtobufCMessage *node) {
    if (node == NULL || node->descriptor != &pg_query__node__descriptor) return NULL;
    const ProtobufCMessageDescriptor *descriptor = node->descriptor;
    /* Node is one oneof: find any member to learn where the case is stored. */
    for (unsigned i = 0; i < descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &descriptor->fields[i];
        if (!(field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) continue;
        uint32_t active = FIELD_AT(node, field->quantifier_offset, uint32_t);
        if (active == 0) return NULL;
        const ProtobufCFieldDescriptor *member =
            protobuf_c_message_descriptor_get_field(descriptor, active);
        if (member == NULL || member->type != PROTOBUF_C_TYPE_MESSAGE) return NULL;
        return FIELD_AT(node, member->offset, ProtobufCMessage *);
    }
    return NULL;
}

/*
 * Pushes the message-typed children of `message`, last field first so that they are visited in
 * field order.
 */
static bool push_children(sa_stack *stack, const ProtobufCMessage *message) {
    const ProtobufCMessageDescriptor *descriptor = message->descriptor;

    /* Node, the wrapper around every node, is one oneof of ~240 members: go straight to the
     * active member instead of looking at every field (the walk's hot path). */
    if (descriptor == &pg_query__node__descriptor) {
        const ProtobufCMessage *child = sa_node_inner(message);
        return child == NULL || stack_push(stack, child, true);
    }

    for (unsigned i = descriptor->n_fields; i-- > 0;) {
        const ProtobufCFieldDescriptor *field = &descriptor->fields[i];

        if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            /* Members of one oneof share the case slot. Take the run of adjacent members that
             * ends here, visit the active member when it lies in this run, and skip the run. */
            unsigned low = i;
            while (low > 0 && (descriptor->fields[low - 1].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                   descriptor->fields[low - 1].quantifier_offset == field->quantifier_offset)
                low--;
            uint32_t active = FIELD_AT(message, field->quantifier_offset, uint32_t);
            const ProtobufCFieldDescriptor *member =
                active ? protobuf_c_message_descriptor_get_field(descriptor, active) : NULL;
            if (member != NULL && member >= &descriptor->fields[low] && member <= field &&
                member->type == PROTOBUF_C_TYPE_MESSAGE) {
                const ProtobufCMessage *child = FIELD_AT(message, member->offset, ProtobufCMessage *);
                if (child != NULL && !stack_push(stack, child, false)) return false;
            }
            i = low;
            continue;
        }
        if (field->type != PROTOBUF_C_TYPE_MESSAGE) continue;

        if (field->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t count = FIELD_AT(message, field->quantifier_offset, size_t);
            ProtobufCMessage *const *items = FIELD_AT(message, field->offset, ProtobufCMessage *const *);
            if (items == NULL) continue;
            for (size_t j = count; j-- > 0;) {
                if (items[j] != NULL && !stack_push(stack, items[j], false)) return false;
            }
        } else {
            const ProtobufCMessage *child = FIELD_AT(message, field->offset, ProtobufCMessage *);
            if (child != NULL && !stack_push(stack, child, false)) return false;
        }
    }
    return true;
}

/* ---- names ------------------------------------------------------------------------------- */

/* Appends `part` to the growing dotted name in *buffer (malloc'ed). */
static bool append_part(char **buffer, size_t *length, const char *part, bool lowercase) {
    size_t part_length = strlen(part);
    size_t needed = *length + (*length ? 1 : 0) + part_length + 1;
    char *grown = realloc(*buffer, needed);
    if (grown == NULL) return false;
    *buffer = grown;
    if (*length) grown[(*length)++] = '.';
    for (size_t i = 0; i < part_length; i++) {
        char ch = part[i];
        /* ASCII only, like PostgreSQL's identifier folding; independent of the C locale. */
        if (lowercase && ch >= 'A' && ch <= 'Z') ch = (char)(ch - 'A' + 'a');
        grown[(*length)++] = ch;
    }
    grown[*length] = '\0';
    return true;
}

char *sa_relation_name(const PgQuery__RangeVar *range, bool *oom) {
    *oom = false;
    if (range == NULL || !nonempty(range->relname)) return NULL;
    char *name = NULL;
    size_t length = 0;
    bool ok = (!nonempty(range->catalogname) || append_part(&name, &length, range->catalogname, false)) &&
              (!nonempty(range->schemaname) || append_part(&name, &length, range->schemaname, false)) &&
              append_part(&name, &length, range->relname, false);
    if (!ok) {
        free(name);
        *oom = true;
        return NULL;
    }
    return name;
}

static bool add_relation(sa_collector *collector, const PgQuery__RangeVar *range, bool via_node) {
    bool oom;
    char *name = sa_relation_name(range, &oom);
    if (name == NULL) return !oom;
    /* An unqualified FROM item may be a reference to a CTE: decided when the statement ends. */
    bool candidate = via_node && !nonempty(range->schemaname) && !nonempty(range->catalogname);
    return sa_names_add(&collector->tables, name, range->location, candidate, SA_COLLECT_LIMIT);
}

/* The dotted name made of a list of String nodes, or NULL (also when empty). */
static char *dotted_name(PgQuery__Node *const *parts, size_t count, bool lowercase, bool *oom) {
    char *name = NULL;
    size_t length = 0;
    *oom = false;
    for (size_t i = 0; i < count; i++) {
        if (parts[i] == NULL || parts[i]->node_case != PG_QUERY__NODE__NODE_STRING) continue;
        const PgQuery__String *part = parts[i]->string;
        if (part == NULL || !nonempty(part->sval)) continue;
        if (!append_part(&name, &length, part->sval, lowercase)) {
            free(name);
            *oom = true;
            return NULL;
        }
    }
    return name;
}

static bool add_function(sa_collector *collector, const PgQuery__FuncCall *call) {
    PgQuery__Node *const *parts = call->funcname;
    size_t count = call->n_funcname;
    /* SQL-syntax calls (EXTRACT(...), POSITION(...), x AT TIME ZONE y ...) come out of the grammar
     * as pg_catalog.<name>; report them as written, unqualified. */
    if (call->funcformat == PG_QUERY__COERCION_FORM__COERCE_SQL_SYNTAX && count == 2) {
        parts++;
        count--;
    }
    bool oom;
    char *name = dotted_name(parts, count, true, &oom);
    if (name == NULL) return !oom;
    return sa_names_add(&collector->functions, name, call->location, false, SA_COLLECT_LIMIT);
}

static bool add_cte(sa_collector *collector, const PgQuery__CommonTableExpr *cte) {
    if (!nonempty(cte->ctename)) return true;
    char *name = strdup(cte->ctename);
    if (name == NULL) return false;
    return sa_names_add(&collector->ctes, name, cte->location, false, SA_COLLECT_LIMIT);
}

bool sa_collect_drop_relations(sa_collector *collector, const ProtobufCMessage *stmt,
                               int32_t location) {
    if (stmt == NULL || stmt->descriptor != &pg_query__drop_stmt__descriptor) return true;
    const PgQuery__DropStmt *drop = (const PgQuery__DropStmt *)stmt;
    switch (drop->remove_type) {
    case PG_QUERY__OBJECT_TYPE__OBJECT_TABLE:
    case PG_QUERY__OBJECT_TYPE__OBJECT_VIEW:
    case PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW:
    case PG_QUERY__OBJECT_TYPE__OBJECT_SEQUENCE:
    case PG_QUERY__OBJECT_TYPE__OBJECT_INDEX:
    case PG_QUERY__OBJECT_TYPE__OBJECT_FOREIGN_TABLE:
        break;
    default:
        return true;
    }
    for (size_t i = 0; i < drop->n_objects; i++) {
        const PgQuery__Node *object = drop->objects[i];
        if (object == NULL || object->node_case != PG_QUERY__NODE__NODE_LIST || object->list == NULL)
            continue;
        bool oom;
        char *name = dotted_name(object->list->items, object->list->n_items, false, &oom);
        if (oom) return false;
        if (name != NULL &&
            !sa_names_add(&collector->tables, name, location, false, SA_COLLECT_LIMIT))
            return false;
    }
    return true;
}

/* ---- the walk ---------------------------------------------------------------------------- */

static bool visit(sa_collector *collector, const sa_frame *frame, sa_facts *facts, bool *skip_children) {
    const ProtobufCMessage *message = frame->message;
    const ProtobufCMessageDescriptor *descriptor = message->descriptor;

    if (descriptor == &pg_query__range_var__descriptor)
        return add_relation(collector, (const PgQuery__RangeVar *)message, frame->via_node);
    if (descriptor == &pg_query__func_call__descriptor) {
        facts->has_function_call = true;
        return add_function(collector, (const PgQuery__FuncCall *)message);
    }
    if (descriptor == &pg_query__insert_stmt__descriptor ||
        descriptor == &pg_query__update_stmt__descriptor ||
        descriptor == &pg_query__delete_stmt__descriptor ||
        descriptor == &pg_query__merge_stmt__descriptor) {
        facts->has_dml = true;
        return true;
    }
    if (descriptor == &pg_query__locking_clause__descriptor) {
        facts->has_locking = true;
        *skip_children = true; /* FOR UPDATE OF a: `a` names a FROM item, not another relation */
        return true;
    }
    if (descriptor == &pg_query__common_table_expr__descriptor)
        return add_cte(collector, (const PgQuery__CommonTableExpr *)message);
    return true;
}

bool sa_walk_statement(sa_collector *collector, const ProtobufCMessage *root, sa_facts *facts) {
    memset(facts, 0, sizeof *facts);
    if (root == NULL) return true;

    sa_stack stack = {0};
    bool ok = stack_push(&stack, root, false);
    while (ok && stack.count > 0) {
        sa_frame frame = stack.frames[--stack.count];
        bool skip_children = false;
        ok = visit(collector, &frame, facts, &skip_children) &&
             (skip_children || push_children(&stack, frame.message));
    }
    free(stack.frames);
    return ok;
}

bool sa_walk(const ProtobufCMessage *root, sa_visitor visit, void *context) {
    if (root == NULL) return true;
    sa_stack stack = {0};
    bool ok = stack_push(&stack, root, false);
    while (ok && stack.count > 0) {
        const ProtobufCMessage *message = stack.frames[--stack.count].message;
        bool skip_children = false;
        ok = visit(message, context, &skip_children) && (skip_children || push_children(&stack, message));
    }
    free(stack.frames);
    return ok;
}
