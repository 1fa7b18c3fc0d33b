// block_drop: an example pgproxy routing plugin in C. See README.md next to this file.
//
//  - Refuses DROP TABLE for one user (SQLSTATE 42501), counting what it refused.
//  - Sends a statement carrying the comment `/* route: replica */` to a replica, when no
//    earlier plugin in the chain decided the role.
//  - Answers `SHOW BLOCK_DROP` itself with the user and the number of statements refused.
//
// Settings (the `config` table of its `[[plugins]]` entry):
//    user     required: whose DROP TABLE statements are refused
//    message  optional: the error message sent instead of the default one
//
// Everything that needs memory is prepared in `init`; `route` only reads the instance, copies
// into the decision and bumps an atomic counter, so it is safe on every event loop at once and
// never allocates.
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgproxy_plugin.h"

#define BLOCK_DROP_NAME "block_drop"

typedef struct block_drop {
    const pgproxy_host_api *host;
    char *user;                       // NUL-terminated copy; user_len excludes the NUL
    size_t user_len;
    char message[sizeof(((pgproxy_route_decision *)0)->error_message)];
    atomic_uint_fast64_t blocked;     // statements refused since init
} block_drop;

// ---- small string helpers (pointer + length, never NUL-terminated) ----

static int str_equals(pgproxy_str s, const char *literal, size_t literal_len) {
    return s.len == literal_len && (literal_len == 0 || memcmp(s.ptr, literal, literal_len) == 0);
}

static char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static int is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// Matches `word` (lower-case ASCII) at text[*at], ignoring case; advances *at on success.
static int match_word(const char *text, size_t len, size_t *at, const char *word) {
    size_t i = *at;
    for (; *word != '\0'; word++, i++) {
        if (i >= len || ascii_lower(text[i]) != *word) return 0;
    }
    *at = i;
    return 1;
}

static size_t skip_blanks(const char *text, size_t len, size_t at) {
    while (at < len && is_blank(text[at])) at++;
    return at;
}

// ---- what route looks for ----

static int is_drop_table(const pgproxy_route_context *context) {
    static const char tag[] = "DROP TABLE";
    for (size_t i = 0; i < context->command_count; i++) {
        if (str_equals(context->commands[i], tag, sizeof(tag) - 1)) return 1;
    }
    return 0;
}

// True when the text holds the comment `/* route: replica */` (any case, any blanks inside
// the comment). A plain scan: it does not know about string literals, so the same characters
// inside a quoted string count too. Good enough for a hint the application writes on purpose.
static int has_replica_comment(pgproxy_str query) {
    const char *text = query.ptr;
    size_t len = query.len;
    for (size_t i = 0; i + 1 < len; i++) {
        if (text[i] != '/' || text[i + 1] != '*') continue;
        size_t at = skip_blanks(text, len, i + 2);
        if (!match_word(text, len, &at, "route")) continue;
        at = skip_blanks(text, len, at);
        if (!match_word(text, len, &at, ":")) continue;
        at = skip_blanks(text, len, at);
        if (!match_word(text, len, &at, "replica")) continue;
        at = skip_blanks(text, len, at);
        if (match_word(text, len, &at, "*/")) return 1;
    }
    return 0;
}

// `SHOW BLOCK_DROP`, any case, blanks around the words, optional trailing `;` and blanks.
static int is_show_block_drop(pgproxy_str query) {
    const char *text = query.ptr;
    size_t len = query.len;
    size_t at = skip_blanks(text, len, 0);
    if (!match_word(text, len, &at, "show")) return 0;
    size_t words = at;
    at = skip_blanks(text, len, at);
    if (at == words) return 0; // "SHOWBLOCK_DROP"
    if (!match_word(text, len, &at, "block_drop")) return 0;
    while (at < len && (is_blank(text[at]) || text[at] == ';')) at++;
    return at == len;
}

// ---- the vtable functions ----

__attribute__((format(printf, 3, 4)))
static void set_error(char *error, size_t error_len, const char *format, ...) {
    if (error == NULL || error_len == 0) return;
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(error, error_len, format, arguments);
    va_end(arguments);
}

// Decimal digits of `value` into `out` (at least 20 bytes); returns how many. No libc, no heap.
static size_t format_u64(uint64_t value, char *out) {
    char reversed[20];
    size_t n = 0;
    do {
        reversed[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    for (size_t i = 0; i < n; i++) out[i] = reversed[n - 1 - i];
    return n;
}

static void *block_drop_init(const pgproxy_host_api *host, const pgproxy_setting *settings, size_t count,
                             char *error, size_t error_len) {
    if (host == NULL || (host->abi_version >> 16) != PGPROXY_PLUGIN_ABI_MAJOR) {
        set_error(error, error_len, "block_drop: built for plugin ABI %d.%d, the host's major version is %u",
                  PGPROXY_PLUGIN_ABI_MAJOR, PGPROXY_PLUGIN_ABI_MINOR, host == NULL ? 0u : (unsigned)(host->abi_version >> 16));
        return NULL;
    }

    const pgproxy_str *user = NULL;
    const pgproxy_str *message = NULL;
    for (size_t i = 0; i < count; i++) {
        const pgproxy_str *key = &settings[i].key;
        const pgproxy_str **slot;
        if (str_equals(*key, "user", 4)) {
            slot = &user;
        } else if (str_equals(*key, "message", 7)) {
            slot = &message;
        } else {
            set_error(error, error_len, "block_drop: unknown setting '%.*s' (known: user, message)",
                      (int)key->len, key->ptr);
            return NULL;
        }
        if (*slot != NULL) {
            set_error(error, error_len, "block_drop: setting '%.*s' given twice", (int)key->len, key->ptr);
            return NULL;
        }
        *slot = &settings[i].value;
    }

    if (user == NULL || user->len == 0) {
        set_error(error, error_len, "block_drop: setting 'user' %s: the user whose DROP TABLE statements are refused",
                  user == NULL ? "is required" : "must not be empty");
        return NULL;
    }
    if (memchr(user->ptr, '\0', user->len) != NULL) {
        set_error(error, error_len, "block_drop: setting 'user' must not contain a NUL byte");
        return NULL;
    }

    block_drop *instance = calloc(1, sizeof(*instance));
    if (instance == NULL) {
        set_error(error, error_len, "block_drop: out of memory");
        return NULL;
    }
    instance->host = host;
    instance->user_len = user->len;
    instance->user = malloc(user->len + 1);
    if (instance->user == NULL) {
        free(instance);
        set_error(error, error_len, "block_drop: out of memory");
        return NULL;
    }
    memcpy(instance->user, user->ptr, user->len);
    instance->user[user->len] = '\0';
    atomic_init(&instance->blocked, 0);

    // The message is built once here, so route only copies it.
    const char *problem = NULL;
    if (message != NULL) {
        if (message->len == 0) {
            problem = "block_drop: setting 'message' must not be empty";
        } else if (memchr(message->ptr, '\0', message->len) != NULL) {
            problem = "block_drop: setting 'message' must not contain a NUL byte";
        } else if (message->len >= sizeof(instance->message)) {
            problem = "block_drop: setting 'message' is longer than 255 bytes";
        } else {
            memcpy(instance->message, message->ptr, message->len);
            instance->message[message->len] = '\0';
        }
    } else {
        int written = snprintf(instance->message, sizeof(instance->message),
                               "DROP TABLE is not allowed for user \"%s\" (block_drop plugin)", instance->user);
        if (written < 0 || (size_t)written >= sizeof(instance->message)) {
            problem = "block_drop: setting 'user' is too long for the error message";
        }
    }
    if (problem != NULL) {
        set_error(error, error_len, "%s", problem);
        free(instance->user);
        free(instance);
        return NULL;
    }

    if (host->log != NULL) {
        char line[160];
        int written = snprintf(line, sizeof(line), "block_drop: refusing DROP TABLE for user \"%s\"",
                               instance->user);
        if (written > 0) {
            pgproxy_str text = {line, (size_t)written < sizeof(line) ? (size_t)written : sizeof(line) - 1};
            host->log(PGPROXY_LOG_INFO, text);
        }
    }
    return instance;
}

static void block_drop_route(void *opaque, const pgproxy_route_context *context,
                             pgproxy_route_decision *decision, pgproxy_result_builder *builder) {
    block_drop *instance = opaque;

    if (str_equals(context->user, instance->user, instance->user_len) && is_drop_table(context)) {
        atomic_fetch_add_explicit(&instance->blocked, 1, memory_order_relaxed);
        decision->action = PGPROXY_ACTION_BLOCK;
        memcpy(decision->error_sqlstate, "42501", 6);
        memcpy(decision->error_message, instance->message, sizeof(decision->error_message));
        return;
    }

    if (is_show_block_drop(context->query)) {
        const pgproxy_host_api *host = instance->host;
        char count[20];
        size_t count_len = format_u64(atomic_load_explicit(&instance->blocked, memory_order_relaxed), count);
        const pgproxy_str row[2] = {
            {instance->user, instance->user_len},
            {count, count_len},
        };
        host->result_add_column(builder, (pgproxy_str){"user", 4});
        host->result_add_column(builder, (pgproxy_str){"blocked", 7});
        host->result_add_row(builder, row, 2);
        host->result_set_tag(builder, (pgproxy_str){"SHOW", 4});
        decision->action = PGPROXY_ACTION_INTERCEPT;
        return;
    }

    if (decision->role == PGPROXY_ROLE_UNDECIDED && has_replica_comment(context->query)) {
        decision->role = PGPROXY_ROLE_REPLICA;
    }
}

static void block_drop_fini(void *opaque) {
    block_drop *instance = opaque;
    if (instance == NULL) return;
    free(instance->user);
    free(instance);
}

static const pgproxy_plugin_vtable block_drop_vtable = {
    .abi_version = PGPROXY_PLUGIN_ABI_VERSION,
    .name = BLOCK_DROP_NAME,
    .init = block_drop_init,
    .route = block_drop_route,
    .on_event = NULL, // this plugin learns nothing from events
    .fini = block_drop_fini,
    .wants_parse_tree = 0,
};

__attribute__((visibility("default"))) const pgproxy_plugin_vtable *pgproxy_plugin_entry(void);

__attribute__((visibility("default"))) const pgproxy_plugin_vtable *pgproxy_plugin_entry(void) {
    return &block_drop_vtable;
}
