// test_harness: loads a block_drop build the way pgproxy does (dlopen, the entry symbol, the ABI
// check, init with settings) and drives `route` with hand-made contexts and a fake host whose
// result builder records what the plugin sends. Exits 0 only when every check passes.
//
//     ./test_harness ./libblock_drop.so
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgproxy_plugin.h"

// ---- checks ----

static int checks;
static int failures;

#define CHECK(condition, ...) check((condition), __FILE__, __LINE__, #condition, __VA_ARGS__)

__attribute__((format(printf, 5, 6)))
static void check(int ok, const char *file, int line, const char *expression, const char *format, ...) {
    checks++;
    if (ok) return;
    failures++;
    fprintf(stderr, "FAIL %s:%d: %s: ", file, line, expression);
    va_list arguments;
    va_start(arguments, format);
    vfprintf(stderr, format, arguments);
    va_end(arguments);
    fputc('\n', stderr);
}

// A pgproxy_str over a literal, without its NUL.
#define S(literal) ((pgproxy_str){(literal), sizeof(literal) - 1})

// ---- counting allocations (glibc): route must not allocate ----

#if defined(__GLIBC__)
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);

static atomic_long allocations;

// The plugin's malloc/calloc/realloc calls bind to these (the executable comes first in the
// global symbol lookup); they count and hand over to glibc's allocator, so free stays glibc's.
void *malloc(size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_malloc(size);
}
void *calloc(size_t count, size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_calloc(count, size);
}
void *realloc(void *pointer, size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_realloc(pointer, size);
}
#define COUNTS_ALLOCATIONS 1
static long allocation_count(void) { return atomic_load(&allocations); }
#else
#define COUNTS_ALLOCATIONS 0
static long allocation_count(void) { return 0; }
#endif

// ---- the fake host ----

// The host owns the builder's layout; to the plugin it is opaque.
struct pgproxy_result_builder {
    int columns;
    char column[8][32];
    int rows;
    size_t row_width[4];
    char row[4][8][32];
    char tag[32];
    int calls;
};

static void copy_str(char *out, size_t out_size, pgproxy_str s) {
    size_t n = s.len < out_size - 1 ? s.len : out_size - 1;
    memcpy(out, s.ptr, n);
    out[n] = '\0';
}

static void reset_builder(pgproxy_result_builder *builder) {
    memset(builder, 0, sizeof(*builder));
}

static void fake_add_column(pgproxy_result_builder *builder, pgproxy_str name) {
    builder->calls++;
    if (builder->columns < 8) copy_str(builder->column[builder->columns], 32, name);
    builder->columns++;
}

static void fake_add_row(pgproxy_result_builder *builder, const pgproxy_str *values, size_t count) {
    builder->calls++;
    if (builder->rows < 4) {
        builder->row_width[builder->rows] = count;
        for (size_t i = 0; i < count && i < 8; i++) copy_str(builder->row[builder->rows][i], 32, values[i]);
    }
    builder->rows++;
}

static void fake_set_tag(pgproxy_result_builder *builder, pgproxy_str tag) {
    builder->calls++;
    copy_str(builder->tag, sizeof(builder->tag), tag);
}

static char last_log[256];
static int last_log_level = -1;
static int log_calls;

static void fake_log(int32_t level, pgproxy_str message) {
    log_calls++;
    last_log_level = level;
    copy_str(last_log, sizeof(last_log), message);
}

static const pgproxy_host_api host = {
    .abi_version = PGPROXY_PLUGIN_ABI_VERSION,
    .log = fake_log,
    .result_add_column = fake_add_column,
    .result_add_row = fake_add_row,
    .result_set_tag = fake_set_tag,
};

// ---- contexts and decisions ----

static const pgproxy_str drop_table[] = {S("DROP TABLE")};
static const pgproxy_str select_then_drop[] = {S("SELECT"), S("DROP TABLE")};
static const pgproxy_str drop_index[] = {S("DROP INDEX")};
static const pgproxy_str select_only[] = {S("SELECT")};
static const pgproxy_str show_only[] = {S("SHOW")};

static pgproxy_route_context make_context(const char *query, const char *user,
                                          const pgproxy_str *commands, size_t command_count) {
    pgproxy_route_context context;
    memset(&context, 0, sizeof(context));
    context.query = (pgproxy_str){query, strlen(query)};
    context.kind = PGPROXY_STMT_READ;
    context.commands = commands;
    context.command_count = command_count;
    context.user = (pgproxy_str){user, strlen(user)};
    context.database = S("app");
    context.shard_hint = PGPROXY_SHARD_UNDECIDED;
    context.role_hint = PGPROXY_ROLE_UNDECIDED;
    return context;
}

// What pgproxy hands the first plugin of the chain: every field undecided.
static pgproxy_route_decision undecided(void) {
    pgproxy_route_decision decision;
    memset(&decision, 0, sizeof(decision));
    decision.action = PGPROXY_ACTION_CONTINUE;
    decision.shard = PGPROXY_SHARD_UNDECIDED;
    decision.role = PGPROXY_ROLE_UNDECIDED;
    decision.backend_id = PGPROXY_BACKEND_UNDECIDED;
    return decision;
}

static int untouched(const pgproxy_route_decision *decision) {
    pgproxy_route_decision fresh = undecided();
    return memcmp(decision, &fresh, sizeof(fresh)) == 0;
}

// ---- the plugin under test ----

static const pgproxy_plugin_vtable *plugin;

static void *init_with(const pgproxy_setting *settings, size_t count, char *error, size_t error_len) {
    return plugin->init(&host, settings, count, error, error_len);
}

static void test_vtable(void) {
    CHECK((plugin->abi_version >> 16) == PGPROXY_PLUGIN_ABI_MAJOR, "abi major %u", plugin->abi_version >> 16);
    CHECK(plugin->abi_version == PGPROXY_PLUGIN_ABI_VERSION, "abi_version 0x%x", plugin->abi_version);
    CHECK(plugin->name != NULL && strcmp(plugin->name, "block_drop") == 0, "name %s", plugin->name);
    CHECK(plugin->init != NULL && plugin->route != NULL && plugin->fini != NULL, "init/route/fini set");
    CHECK(plugin->on_event == NULL, "on_event is optional and unused");
    CHECK(plugin->wants_parse_tree == 0, "wants_parse_tree %d", plugin->wants_parse_tree);
}

static void test_init_refusals(void) {
    char error[256];

    memset(error, 'x', sizeof(error));
    CHECK(init_with(NULL, 0, error, sizeof(error)) == NULL, "init without settings must fail");
    CHECK(strstr(error, "'user'") != NULL && strstr(error, "required") != NULL, "error: %s", error);

    pgproxy_setting empty_user[] = {{S("user"), S("")}};
    CHECK(init_with(empty_user, 1, error, sizeof(error)) == NULL, "init with user = \"\" must fail");
    CHECK(strstr(error, "'user'") != NULL && strstr(error, "empty") != NULL, "error: %s", error);

    pgproxy_setting only_message[] = {{S("message"), S("no")}};
    CHECK(init_with(only_message, 1, error, sizeof(error)) == NULL, "init with message but no user must fail");
    CHECK(strstr(error, "'user'") != NULL, "error: %s", error);

    pgproxy_setting unknown[] = {{S("user"), S("app")}, {S("usr"), S("app")}};
    CHECK(init_with(unknown, 2, error, sizeof(error)) == NULL, "unknown key must fail");
    CHECK(strstr(error, "'usr'") != NULL, "error names the key: %s", error);

    pgproxy_setting twice[] = {{S("user"), S("app")}, {S("user"), S("other")}};
    CHECK(init_with(twice, 2, error, sizeof(error)) == NULL, "a key given twice must fail");
    CHECK(strstr(error, "'user'") != NULL && strstr(error, "twice") != NULL, "error: %s", error);

    pgproxy_setting empty_message[] = {{S("user"), S("app")}, {S("message"), S("")}};
    CHECK(init_with(empty_message, 2, error, sizeof(error)) == NULL, "message = \"\" must fail");
    CHECK(strstr(error, "'message'") != NULL, "error: %s", error);

    static char long_message[300];
    memset(long_message, 'm', sizeof(long_message));
    pgproxy_setting too_long[] = {{S("user"), S("app")}, {S("message"), {long_message, sizeof(long_message)}}};
    CHECK(init_with(too_long, 2, error, sizeof(error)) == NULL, "a 300-byte message must fail");
    CHECK(strstr(error, "255") != NULL, "error: %s", error);

    // A host of another major version is refused by the plugin too.
    pgproxy_host_api future = host;
    future.abi_version = (uint32_t)(PGPROXY_PLUGIN_ABI_MAJOR + 1) << 16;
    pgproxy_setting good[] = {{S("user"), S("app")}};
    CHECK(plugin->init(&future, good, 1, error, sizeof(error)) == NULL, "host ABI 2.0 must be refused");
    CHECK(strstr(error, "ABI") != NULL, "error: %s", error);

    // The reason is cut to the buffer and stays NUL-terminated; no buffer at all is fine too.
    char small[8];
    memset(small, 'x', sizeof(small));
    CHECK(init_with(NULL, 0, small, sizeof(small)) == NULL, "init without settings must fail");
    CHECK(memchr(small, '\0', sizeof(small)) != NULL, "short error buffer is NUL-terminated");
    CHECK(init_with(NULL, 0, NULL, 0) == NULL, "init without an error buffer must fail quietly");
}

static void test_init_reads_lengths(void) {
    // Keys and values are pointer + length: the bytes after them must not matter.
    static const char keys[] = "username";   // "user" is its first 4 bytes
    static const char values[] = "appendix"; // "app" is its first 3 bytes
    pgproxy_setting settings[] = {{{keys, 4}, {values, 3}}};
    char error[256] = "";
    void *instance = init_with(settings, 1, error, sizeof(error));
    CHECK(instance != NULL, "init with user = \"app\" (not NUL-terminated): %s", error);
    if (instance == NULL) return;

    pgproxy_route_context context = make_context("DROP TABLE t", "app", drop_table, 1);
    pgproxy_route_decision decision = undecided();
    pgproxy_result_builder builder;
    reset_builder(&builder);
    plugin->route(instance, &context, &decision, &builder);
    CHECK(decision.action == PGPROXY_ACTION_BLOCK, "action %d", decision.action);
    plugin->fini(instance);
}

static void test_block(void *instance) {
    pgproxy_result_builder builder;
    reset_builder(&builder);

    pgproxy_route_context context = make_context("DROP TABLE accounts", "app", drop_table, 1);
    context.kind = PGPROXY_STMT_DDL;
    pgproxy_route_decision decision = undecided();
    plugin->route(instance, &context, &decision, &builder);
    CHECK(decision.action == PGPROXY_ACTION_BLOCK, "DROP TABLE by app: action %d", decision.action);
    CHECK(strcmp(decision.error_sqlstate, "42501") == 0, "sqlstate %s", decision.error_sqlstate);
    CHECK(strcmp(decision.error_message, "DROP TABLE is not allowed for user \"app\" (block_drop plugin)") == 0,
          "message %s", decision.error_message);
    CHECK(decision.role == PGPROXY_ROLE_UNDECIDED && decision.shard == PGPROXY_SHARD_UNDECIDED &&
              decision.backend_id == PGPROXY_BACKEND_UNDECIDED,
          "a block leaves the target alone");
    CHECK(builder.calls == 0, "a block builds no rows");

    // Several statements in one Query: any DROP TABLE among them.
    context = make_context("SELECT 1; DROP TABLE accounts", "app", select_then_drop, 2);
    decision = undecided();
    plugin->route(instance, &context, &decision, &builder);
    CHECK(decision.action == PGPROXY_ACTION_BLOCK, "SELECT; DROP TABLE: action %d", decision.action);

    // Inside a transaction too.
    context = make_context("DROP TABLE accounts", "app", drop_table, 1);
    context.in_transaction = 1;
    context.extended = 1;
    decision = undecided();
    plugin->route(instance, &context, &decision, &builder);
    CHECK(decision.action == PGPROXY_ACTION_BLOCK, "DROP TABLE in a transaction: action %d", decision.action);

    // Other users, other commands: nothing decided.
    const char *other_users[] = {"admin", "ap", "app2", "APP", ""};
    for (size_t i = 0; i < sizeof(other_users) / sizeof(other_users[0]); i++) {
        context = make_context("DROP TABLE accounts", other_users[i], drop_table, 1);
        decision = undecided();
        plugin->route(instance, &context, &decision, &builder);
        CHECK(untouched(&decision), "DROP TABLE by \"%s\" must pass", other_users[i]);
    }
    context = make_context("DROP INDEX accounts_pkey", "app", drop_index, 1);
    decision = undecided();
    plugin->route(instance, &context, &decision, &builder);
    CHECK(untouched(&decision), "DROP INDEX by app must pass");

    // The tag is what counts, not the text.
    context = make_context("SELECT 'DROP TABLE x'", "app", select_only, 1);
    decision = undecided();
    plugin->route(instance, &context, &decision, &builder);
    CHECK(untouched(&decision), "a SELECT mentioning DROP TABLE must pass");

    context = make_context("DROP TABLE accounts", "app", NULL, 0);
    decision = undecided();
    plugin->route(instance, &context, &decision, &builder);
    CHECK(untouched(&decision), "no commands (nothing parsed): nothing to block");
}

static void test_replica_comment(void *instance) {
    pgproxy_result_builder builder;
    reset_builder(&builder);

    const char *hinted[] = {
        "SELECT * FROM accounts /* route: replica */",
        "/* route: replica */ SELECT 1",
        "SELECT 1 /*route:replica*/",
        "SELECT 1 /*  Route :  REPLICA  */",
    };
    for (size_t i = 0; i < sizeof(hinted) / sizeof(hinted[0]); i++) {
        pgproxy_route_context context = make_context(hinted[i], "reader", select_only, 1);
        pgproxy_route_decision decision = undecided();
        plugin->route(instance, &context, &decision, &builder);
        CHECK(decision.role == PGPROXY_ROLE_REPLICA, "%s: role %d", hinted[i], decision.role);
        CHECK(decision.action == PGPROXY_ACTION_CONTINUE, "%s: action %d", hinted[i], decision.action);
        CHECK(decision.shard == PGPROXY_SHARD_UNDECIDED && decision.backend_id == PGPROXY_BACKEND_UNDECIDED,
              "%s: only the role is decided", hinted[i]);
    }

    const char *not_hinted[] = {
        "SELECT 1",
        "SELECT 1 /* route: primary */",
        "SELECT 1 /* route: replica",
        "SELECT 1 /* router: replica */",
        "SELECT 1 -- route: replica",
    };
    for (size_t i = 0; i < sizeof(not_hinted) / sizeof(not_hinted[0]); i++) {
        pgproxy_route_context context = make_context(not_hinted[i], "reader", select_only, 1);
        pgproxy_route_decision decision = undecided();
        plugin->route(instance, &context, &decision, &builder);
        CHECK(untouched(&decision), "%s: nothing decided", not_hinted[i]);
    }

    // An earlier plugin's role stands.
    pgproxy_route_context context = make_context("SELECT 1 /* route: replica */", "reader", select_only, 1);
    pgproxy_route_decision decision = undecided();
    decision.role = PGPROXY_ROLE_PRIMARY;
    plugin->route(instance, &context, &decision, &builder);
    CHECK(decision.role == PGPROXY_ROLE_PRIMARY, "a decided role is kept: %d", decision.role);

    // Only `len` bytes are the query: a comment after them does not count.
    static const char buffer[] = "SELECT 1 /* route: replica */";
    context = make_context("", "reader", select_only, 1);
    context.query = (pgproxy_str){buffer, 8};
    decision = undecided();
    plugin->route(instance, &context, &decision, &builder);
    CHECK(decision.role == PGPROXY_ROLE_UNDECIDED, "bytes past query.len are ignored: role %d", decision.role);

    CHECK(builder.calls == 0, "no rows built: %d calls", builder.calls);
}

static void expect_show(void *instance, const char *query, const char *user, const char *blocked) {
    pgproxy_result_builder builder;
    reset_builder(&builder);
    pgproxy_route_context context = make_context(query, "someone", show_only, 1);
    context.kind = PGPROXY_STMT_UTILITY;
    pgproxy_route_decision decision = undecided();
    plugin->route(instance, &context, &decision, &builder);
    CHECK(decision.action == PGPROXY_ACTION_INTERCEPT, "%s: action %d", query, decision.action);
    CHECK(builder.columns == 2 && strcmp(builder.column[0], "user") == 0 && strcmp(builder.column[1], "blocked") == 0,
          "%s: columns %d (%s, %s)", query, builder.columns, builder.column[0], builder.column[1]);
    CHECK(builder.rows == 1 && builder.row_width[0] == 2, "%s: %d rows", query, builder.rows);
    CHECK(strcmp(builder.row[0][0], user) == 0, "%s: user %s", query, builder.row[0][0]);
    CHECK(strcmp(builder.row[0][1], blocked) == 0, "%s: blocked %s, expected %s", query, builder.row[0][1], blocked);
    CHECK(strcmp(builder.tag, "SHOW") == 0, "%s: tag %s", query, builder.tag);
}

static void test_show(void *instance, const char *user, const char *blocked) {
    const char *forms[] = {
        "SHOW BLOCK_DROP", "show block_drop", "SHOW BLOCK_DROP;", "  Show\tBlock_Drop ; \n", "SHOW  BLOCK_DROP;;",
    };
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) expect_show(instance, forms[i], user, blocked);

    const char *others[] = {
        "SHOW BLOCK_DROPS", "SHOW BLOCK_DROP x", "SHOWBLOCK_DROP", "SHOW BLOCK", "SELECT 'SHOW BLOCK_DROP'",
        "SHOW BLOCK_DROP; SELECT 1", "", "SHOW",
    };
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        pgproxy_result_builder builder;
        reset_builder(&builder);
        pgproxy_route_context context = make_context(others[i], "someone", show_only, 1);
        pgproxy_route_decision decision = undecided();
        plugin->route(instance, &context, &decision, &builder);
        CHECK(untouched(&decision) && builder.calls == 0, "\"%s\" is not intercepted", others[i]);
    }
}

static void test_configured_message(void) {
    pgproxy_setting settings[] = {{S("message"), S("ask a DBA")}, {S("user"), S("etl")}};
    char error[256] = "";
    void *instance = init_with(settings, 2, error, sizeof(error));
    CHECK(instance != NULL, "init with message: %s", error);
    if (instance == NULL) return;

    pgproxy_result_builder builder;
    reset_builder(&builder);
    pgproxy_route_context context = make_context("DROP TABLE staging", "etl", drop_table, 1);
    pgproxy_route_decision decision = undecided();
    plugin->route(instance, &context, &decision, &builder);
    CHECK(decision.action == PGPROXY_ACTION_BLOCK, "action %d", decision.action);
    CHECK(strcmp(decision.error_message, "ask a DBA") == 0, "message %s", decision.error_message);
    CHECK(strcmp(decision.error_sqlstate, "42501") == 0, "sqlstate %s", decision.error_sqlstate);
    test_show(instance, "etl", "1");
    plugin->fini(instance);
}

// ---- route from several threads at once, as on pgproxy's event loops ----

enum { THREADS = 4, ROUNDS = 20000 };

static void *route_many(void *instance) {
    pgproxy_result_builder builder;
    reset_builder(&builder);
    int wrong = 0;
    for (int i = 0; i < ROUNDS; i++) {
        pgproxy_route_context context = make_context("DROP TABLE t", "app", drop_table, 1);
        pgproxy_route_decision decision = undecided();
        plugin->route(instance, &context, &decision, &builder);
        if (decision.action != PGPROXY_ACTION_BLOCK) wrong++;
        context = make_context("SELECT 1 /* route: replica */", "app", select_only, 1);
        decision = undecided();
        plugin->route(instance, &context, &decision, &builder);
        if (decision.role != PGPROXY_ROLE_REPLICA) wrong++;
    }
    return (void *)(long)wrong;
}

static void test_threads(void *instance, unsigned long long already_blocked) {
    pthread_t threads[THREADS];
    int started = 0;
    for (; started < THREADS; started++) {
        if (pthread_create(&threads[started], NULL, route_many, instance) != 0) break;
    }
    CHECK(started == THREADS, "started %d of %d threads", started, THREADS);
    long wrong = 0;
    for (int i = 0; i < started; i++) {
        void *result;
        pthread_join(threads[i], &result);
        wrong += (long)result;
    }
    CHECK(wrong == 0, "%ld wrong decisions under concurrency", wrong);
    char expected[32];
    snprintf(expected, sizeof(expected), "%llu", already_blocked + (unsigned long long)started * ROUNDS);
    expect_show(instance, "SHOW BLOCK_DROP", "app", expected);
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "./libblock_drop.so";
    void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        fprintf(stderr, "FAIL dlopen %s: %s\n", path, dlerror());
        return 1;
    }
    pgproxy_plugin_entry_fn entry;
    *(void **)&entry = dlsym(library, PGPROXY_PLUGIN_ENTRY_SYMBOL);
    if (entry == NULL) {
        fprintf(stderr, "FAIL dlsym %s: %s\n", PGPROXY_PLUGIN_ENTRY_SYMBOL, dlerror());
        return 1;
    }
    plugin = entry();
    if (plugin == NULL) {
        fprintf(stderr, "FAIL %s returned NULL\n", PGPROXY_PLUGIN_ENTRY_SYMBOL);
        return 1;
    }

    test_vtable();
    test_init_refusals();
    test_init_reads_lengths();
    test_configured_message();

    pgproxy_setting settings[] = {{S("user"), S("app")}};
    char error[256] = "";
    log_calls = 0;
    void *instance = init_with(settings, 1, error, sizeof(error));
    CHECK(instance != NULL, "init with user = \"app\": %s", error);
    if (instance == NULL) goto done;
    CHECK(log_calls == 1 && last_log_level == PGPROXY_LOG_INFO && strstr(last_log, "\"app\"") != NULL,
          "init logs once through the host: %d calls, \"%s\"", log_calls, last_log);

    expect_show(instance, "SHOW BLOCK_DROP", "app", "0");

    long before = allocation_count();
    test_block(instance); // 3 blocks
    test_replica_comment(instance);
    test_show(instance, "app", "3");
    long allocated = allocation_count() - before;
    CHECK(allocated == 0, "route allocated %ld times", allocated);

    test_threads(instance, 3);
    plugin->fini(instance);

done:
    dlclose(library);
    printf("block_drop: %d checks, %d failed%s\n", checks, failures,
           COUNTS_ALLOCATIONS ? "" : " (allocation check skipped: not glibc)");
    return failures == 0 ? 0 : 1;
}
