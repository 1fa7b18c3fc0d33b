/*
 * check_merge.c — checks pgproxy_sql_merge_plan_make: accepted SELECTs with their targets (kind,
 * name, the text of an aggregate's argument range), ORDER BY and GROUP BY keys, DISTINCT, LIMIT and
 * OFFSET (values and the text of their ranges) and the text before targets_end; refused statements
 * with a word the refusal must hold; errors. check.c also runs merge_invariants on its random,
 * mutated, deep and threaded inputs.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgproxy_sql_analysis.h"
#include "check_merge.h"

typedef struct { int kind; const char *name; const char *arg; } want_target;           /* kind -1 ends */
typedef struct { const char *name; int position, descending, nulls_first, bytewise; } want_key; /* position -1 ends */

typedef struct {
    const char *sql;
    const want_target *targets;
    const want_key *sort, *group;
    int distinct;
    long long limit, offset;
    const char *limit_text, *offset_text; /* NULL: the range is -1/-1 */
    const char *before_end;               /* the text just before targets_end; NULL: -1 */
} merge_case;

#define TG(...) ((const want_target[]){__VA_ARGS__, {-1, NULL, NULL}})
#define KEYS(...) ((const want_key[]){__VA_ARGS__, {NULL, -1, 0, 0, 0}})
#define NO_KEYS ((const want_key[]){{NULL, -1, 0, 0, 0}})
#define COL(n) {PGPROXY_SQL_TARGET_COLUMN, n, NULL}
#define STAR {PGPROXY_SQL_TARGET_STAR, NULL, NULL}
#define OTH(n) {PGPROXY_SQL_TARGET_OTHER, n, NULL}
#define AGG(k, n, a) {PGPROXY_SQL_TARGET_##k, n, a}
#define ASC(n) {n, 0, 0, 0, 0}
#define DESC(n) {n, 0, 1, 1, 0}
#define POS(p) {NULL, p, 0, 0, 0}
#define POSD(p) {NULL, p, 1, 1, 0}
#define NOLIMIT -1, 0, NULL, NULL

static const merge_case accepted[] = {
    {"SELECT a, avg(b) FROM t", TG(COL("a"), AGG(AVG, "avg", "(b)")), NO_KEYS, NO_KEYS, 0, NOLIMIT, "SELECT a, avg(b)"},
    {"SELECT * FROM t", TG(STAR), NO_KEYS, NO_KEYS, 0, NOLIMIT, "SELECT *"},
    {"SELECT t.*, u.x AS y, u.z FROM t JOIN u ON true", TG(STAR, COL("y"), COL("z")), NO_KEYS, NO_KEYS, 0, NOLIMIT,
     "u.z"},
    {"SELECT count(*), sum(x), min(x), max(x), avg(x) FROM t",
     TG(AGG(COUNT, "count", "(*)"), AGG(SUM, "sum", "(x)"), AGG(MIN, "min", "(x)"), AGG(MAX, "max", "(x)"),
        AGG(AVG, "avg", "(x)")), NO_KEYS, NO_KEYS, 0, NOLIMIT, "avg(x)"},
    {"SELECT pg_catalog.count /* ( */ (*) AS n, Sum( x + 1 ), COUNT(ALL y), max(')' || \"b)\"), min($$)$$), "
     "avg(-- )\n (x)) FROM t",
     TG(AGG(COUNT, "n", "(*)"), AGG(SUM, "sum", "( x + 1 )"), AGG(COUNT, "count", "(ALL y)"),
        AGG(MAX, "max", "(')' || \"b)\")"), AGG(MIN, "min", "($$)$$)"), AGG(AVG, "avg", "(-- )\n (x))")),
     NO_KEYS, NO_KEYS, 0, NOLIMIT, "(x))"},
    {"SELECT a, count(*) FROM t GROUP BY a ORDER BY count(*) DESC, a LIMIT 10",
     TG(COL("a"), AGG(COUNT, "count", "(*)")), KEYS(POSD(2), ASC("a")), KEYS(ASC("a")), 0, 10, 0, "10", NULL,
     "count(*)"},
    {"SELECT a, sum(b) AS s FROM t GROUP BY 1 ORDER BY sum( b ) NULLS FIRST, SUM(B) DESC NULLS LAST, s",
     TG(COL("a"), AGG(SUM, "s", "(b)")), KEYS({NULL, 2, 0, 1, 0}, {NULL, 2, 1, 0, 0}, ASC("s")), KEYS(POS(1)), 0,
     NOLIMIT, "AS s"},
    {"SELECT max(x), max(y) FROM t ORDER BY max(y) COLLATE \"C\", max (x)",
     TG(AGG(MAX, "max", "(x)"), AGG(MAX, "max", "(y)")), KEYS({NULL, 2, 0, 0, 1}, POS(1)), NO_KEYS, 0, NOLIMIT,
     "max(y)"},
    {"SELECT name FROM t ORDER BY name COLLATE \"C\" DESC, name COLLATE pg_catalog.\"POSIX\", "
     "name COLLATE ucs_basic NULLS FIRST",
     TG(COL("name")), KEYS({"name", 0, 1, 1, 1}, {"name", 0, 0, 0, 1}, {"name", 0, 0, 1, 1}), NO_KEYS,
     0, NOLIMIT, "SELECT name"},
    {"SELECT a FROM t ORDER BY a USING >, b USING <, c USING OPERATOR(pg_catalog.>) NULLS LAST, 1 DESC",
     TG(COL("a")), KEYS(DESC("a"), ASC("b"), {"c", 0, 1, 0, 0}, POSD(1)), NO_KEYS, 0, NOLIMIT, "SELECT a"},
    {"SELECT *, a FROM t ORDER BY 5, t.b", TG(STAR, COL("a")), KEYS(POS(5), ASC("b")), NO_KEYS, 0, NOLIMIT, "*, a"},
    {"SELECT DISTINCT a, b FROM t", TG(COL("a"), COL("b")), NO_KEYS, NO_KEYS, 1, NOLIMIT, "a, b"},
    {"SELECT DISTINCT count(*) FROM t", TG(AGG(COUNT, "count", "(*)")), NO_KEYS, NO_KEYS, 1, NOLIMIT, "count(*)"},
    {"SELECT a FROM t LIMIT 5 OFFSET 10", TG(COL("a")), NO_KEYS, NO_KEYS, 0, 5, 10, "5", "10", "SELECT a"},
    {"SELECT a FROM t OFFSET 3 ROWS FETCH FIRST 7 ROWS ONLY", TG(COL("a")), NO_KEYS, NO_KEYS, 0, 7, 3, "7", "3",
     "SELECT a"},
    {"SELECT a FROM t ORDER BY a FETCH NEXT 1 ROW ONLY", TG(COL("a")), KEYS(ASC("a")), NO_KEYS, 0, 1, 0, "1", NULL,
     "SELECT a"},
    {"SELECT a FROM t FETCH FIRST ROW ONLY", TG(COL("a")), NO_KEYS, NO_KEYS, 0, 1, 0, NULL, NULL, "SELECT a"},
    {"SELECT a FROM t LIMIT ALL OFFSET NULL", TG(COL("a")), NO_KEYS, NO_KEYS, 0, NOLIMIT, "SELECT a"},
    {"SELECT a FROM t LIMIT NULL OFFSET 0", TG(COL("a")), NO_KEYS, NO_KEYS, 0, -1, 0, NULL, "0", "SELECT a"},
    {"SELECT a FROM t LIMIT 9999999999 OFFSET (2)", TG(COL("a")), NO_KEYS, NO_KEYS, 0, 9999999999LL, 2, "9999999999",
     "2", "SELECT a"},
    {"SELECT a FROM t LIMIT 9223372036854775807", TG(COL("a")), NO_KEYS, NO_KEYS, 0, 9223372036854775807LL, 0,
     "9223372036854775807", NULL, "SELECT a"},
    {"SELECT a FROM t LIMIT - -5 OFFSET /* c */ 0", TG(COL("a")), NO_KEYS, NO_KEYS, 0, 5, 0, "- -5", "0", "SELECT a"},
    {"SELECT 1", TG(OTH("?column?")), NO_KEYS, NO_KEYS, 0, NOLIMIT, "SELECT 1"},
    {"SELECT 1 AS x WHERE true ORDER BY 1", TG(OTH("x")), KEYS(POS(1)), NO_KEYS, 0, NOLIMIT, "AS x"},
    {"SELECT a + 1, b::int, c::text AS d, CASE WHEN x THEN y END, CASE WHEN x THEN y ELSE z END, coalesce(a, b), "
     "f(x), (SELECT m FROM u), EXISTS (SELECT 1), ARRAY[1], ROW(1, 2), (a).f, NULLIF(a, b), greatest(a, b), "
     "current_date, x COLLATE \"C\", 'a'::text::varchar, a IS DISTINCT FROM b, EXTRACT(year FROM ts), "
     "s.schema_f(1), (SELECT 1 UNION SELECT 2), (VALUES (1)), $1 FROM t",
     TG(OTH("?column?"), OTH("b"), OTH("d"), OTH("case"), OTH("z"), OTH("coalesce"), OTH("f"), OTH("m"),
        OTH("exists"), OTH("array"), OTH("row"), OTH("f"), OTH("nullif"), OTH("greatest"), OTH("current_date"),
        OTH("x"), OTH("varchar"), OTH("?column?"), OTH("extract"), OTH("schema_f"), OTH("?column?"),
        OTH("column1"), OTH("?column?")),
     NO_KEYS, NO_KEYS, 0, NOLIMIT, ", $1"},
    {"SELECT a AS from, b AS limit FROM t WHERE a IS DISTINCT FROM b", TG(COL("from"), COL("limit")), NO_KEYS,
     NO_KEYS, 0, NOLIMIT, "b AS limit"},
    {"SELECT a IS NOT DISTINCT FROM b, c FROM t", TG(OTH("?column?"), COL("c")), NO_KEYS, NO_KEYS, 0, NOLIMIT, ", c"},
    {"SELECT a, b -- trailing ( comment\n FROM t", TG(COL("a"), COL("b")), NO_KEYS, NO_KEYS, 0, NOLIMIT, "a, b"},
    {"SELECT a, \"b\" /* c */;", TG(COL("a"), COL("b")), NO_KEYS, NO_KEYS, 0, NOLIMIT, "a, \"b\""},
    {"SELECT x[1], y ORDER BY 2", TG(OTH("x"), COL("y")), KEYS(POS(2)), NO_KEYS, 0, NOLIMIT, "x[1], y"},
    {"(SELECT a FROM t) ORDER BY a LIMIT 2", TG(COL("a")), KEYS(ASC("a")), NO_KEYS, 0, 2, 0, "2", NULL, "(SELECT a"},
    {"((SELECT a, b))", TG(COL("a"), COL("b")), NO_KEYS, NO_KEYS, 0, NOLIMIT, "((SELECT a, b"},
    {"SELECT a, count(*) FROM t WHERE (SELECT max(x) FROM u) > 1 GROUP BY a, t.b",
     TG(COL("a"), AGG(COUNT, "count", "(*)")), NO_KEYS, KEYS(ASC("a"), ASC("b")), 0, NOLIMIT, "count(*)"},
    {"SELECT count(*) FROM t GROUP BY t.a ORDER BY t.a", TG(AGG(COUNT, "count", "(*)")), KEYS(ASC("a")),
     KEYS(ASC("a")), 0, NOLIMIT, "count(*)"},
    {"SELECT a, u.b, s.u.c AS c, count(*) FROM s.u GROUP BY u.a, u.b, s.u.c ORDER BY u.b, s.u.c, u.d",
     TG(COL("a"), COL("b"), COL("c"), AGG(COUNT, "count", "(*)")), KEYS(ASC("b"), ASC("c"), ASC("d")),
     KEYS(ASC("a"), ASC("b"), ASC("c")), 0, NOLIMIT, "count(*)"},
    {"SELECT a FROM t GROUP BY a", TG(COL("a")), NO_KEYS, KEYS(ASC("a")), 0, NOLIMIT, "SELECT a"},
    {"SELECT \"Mixed\", avg(\"X\") AS \"Avg\" FROM t;", TG(COL("Mixed"), AGG(AVG, "Avg", "(\"X\")")), NO_KEYS,
     NO_KEYS, 0, NOLIMIT, "AS \"Avg\""},
    {"SELECT x FROM generate_series(1, 3) x, LATERAL (SELECT 1 FROM u LIMIT $1) s WHERE x IN (SELECT 1 OFFSET 1)",
     TG(COL("x")), NO_KEYS, NO_KEYS, 0, NOLIMIT, "SELECT x"},
    {"SELECT FROM t", TG({-1, NULL, NULL}), NO_KEYS, NO_KEYS, 0, NOLIMIT, NULL},
    {"SELECT percentile FROM t WINDOW w AS (ORDER BY a)", TG(COL("percentile")), NO_KEYS, NO_KEYS, 0, NOLIMIT,
     "percentile"},
};

typedef struct { const char *sql; const char *words; } refused_case; /* words: '|'-separated, all in the refusal */

static const refused_case refused[] = {
    {"", "empty query"},
    {"-- nothing", "empty query"},
    {"SELECT 1; SELECT 2", "several statements"},
    {"INSERT INTO t VALUES (1)", "INSERT cannot be merged across shards"},
    {"UPDATE t SET a = 1", "UPDATE cannot be merged"},
    {"EXPLAIN SELECT 1", "EXPLAIN cannot be merged"},
    {"DECLARE c CURSOR FOR SELECT 1", "DECLARE CURSOR cannot be merged"},
    {"SELECT a FROM t UNION SELECT a FROM u", "UNION cannot be merged"},
    {"SELECT a FROM t INTERSECT SELECT a FROM u", "INTERSECT cannot be merged"},
    {"SELECT a FROM t EXCEPT ALL SELECT a FROM u ORDER BY 1", "EXCEPT cannot be merged"},
    {"VALUES (1), (2)", "VALUES cannot be merged"},
    {"SELECT a INTO x FROM t", "SELECT INTO cannot be merged"},
    {"SELECT a FROM t FOR UPDATE", "FOR UPDATE/SHARE cannot be merged"},
    {"SELECT a FROM t FOR SHARE OF t NOWAIT", "FOR UPDATE/SHARE"},
    {"SELECT a FROM t WHERE a IN (SELECT b FROM u FOR KEY SHARE)", "FOR UPDATE/SHARE"},
    {"WITH c AS (SELECT 1) SELECT * FROM c", "WITH|cannot be merged"},
    {"SELECT * FROM (WITH c AS (SELECT 1) SELECT * FROM c) s", "WITH"},
    {"SELECT a, count(*) FROM t GROUP BY a HAVING count(*) > 1", "HAVING cannot be merged across shards"},
    {"SELECT row_number() OVER () FROM t", "window functions|row_number"},
    {"SELECT a FROM t ORDER BY rank() OVER (ORDER BY a)", "window functions|rank"},
    {"SELECT sum(x) OVER w FROM t WINDOW w AS ()", "window functions|sum"},
    {"SELECT 1 + count(*) OVER () FROM t", "window functions|count"},
    {"SELECT (SELECT max(x) OVER () FROM u) FROM t", "window functions"},
    {"SELECT DISTINCT ON (a) a, b FROM t", "DISTINCT ON cannot be merged"},
    {"SELECT a, count(*) FROM t GROUP BY GROUPING SETS ((a), ())", "GROUPING SETS"},
    {"SELECT a, count(*) FROM t GROUP BY ROLLUP (a)", "ROLLUP"},
    {"SELECT a, count(*) FROM t GROUP BY a, CUBE (a)", "CUBE"},
    {"SELECT count(*) FROM t GROUP BY ()", "GROUP BY ()"},
    {"SELECT count(DISTINCT a) FROM t", "count(DISTINCT ...) cannot be merged"},
    {"SELECT sum(x) FILTER (WHERE x > 0) FROM t", "sum(...) FILTER"},
    {"SELECT max(x ORDER BY y) FROM t", "ORDER BY inside max"},
    {"SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM t", "percentile_cont|only count, sum, min, max and avg"},
    {"SELECT rank(1) WITHIN GROUP (ORDER BY x) FROM t", "rank(...) WITHIN GROUP"},
    {"SELECT array_agg(x) FROM t", "the aggregate array_agg cannot be merged across shards"},
    {"SELECT string_agg(x, ',') FROM t", "string_agg"},
    {"SELECT json_agg(x), jsonb_agg(x) FROM t", "json_agg"},
    {"SELECT json_object_agg(k, v) FROM t", "json_object_agg"},
    {"SELECT jsonb_object_agg(k, v) FROM t", "jsonb_object_agg"},
    {"SELECT bool_and(x) FROM t", "bool_and"},
    {"SELECT bool_or(x) FROM t", "bool_or"},
    {"SELECT every(x) FROM t", "every"},
    {"SELECT bit_and(x) FROM t", "bit_and"},
    {"SELECT bit_or(x) FROM t", "bit_or"},
    {"SELECT stddev(x) FROM t", "stddev"},
    {"SELECT stddev_samp(x) FROM t", "stddev_samp"},
    {"SELECT variance(x) FROM t", "variance"},
    {"SELECT var_pop(x) FROM t", "var_pop"},
    {"SELECT var_samp(x) FROM t", "var_samp"},
    {"SELECT corr(x, y) FROM t", "corr"},
    {"SELECT covar_pop(x, y) FROM t", "covar_pop"},
    {"SELECT regr_slope(y, x) FROM t", "regr_slope"},
    {"SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY x) FROM t", "percentile_disc"},
    {"SELECT mode() WITHIN GROUP (ORDER BY x) FROM t", "mode"},
    {"SELECT xmlagg(x) FROM t", "xmlagg"},
    {"SELECT pg_catalog.array_agg(x) FROM t", "pg_catalog.array_agg"},
    {"SELECT a FROM t ORDER BY string_agg(b, ',')", "string_agg"},
    {"SELECT myschema.count(*) FROM t", "the aggregate myschema.count cannot"},
    {"SELECT myagg(*) FROM t", "the aggregate myagg(*) cannot"},
    {"SELECT myagg(DISTINCT x) FROM t", "myagg(DISTINCT ...)"},
    {"SELECT count(*) + 1 FROM t", "count(...) inside an expression"},
    {"SELECT coalesce(max(x), 0) FROM t", "max(...) inside an expression"},
    {"SELECT max(x)::int FROM t", "max(...) inside"},
    {"SELECT (SELECT count(*) FROM u) FROM t", "inside an expression or a subquery"},
    {"SELECT sum(count(*)) FROM t", "an aggregate inside another aggregate (count)"},
    {"SELECT avg(x + (SELECT min(y) FROM u)) FROM t", "inside another aggregate (min)"},
    {"SELECT *, count(*) FROM t", "the SELECT-list item * cannot"},
    {"SELECT a + 1, count(*) FROM t GROUP BY a", "the SELECT-list item \"?column?\""},
    {"SELECT lower(a) AS l FROM t GROUP BY lower(a)", "item \"l\""},
    {"SELECT t.* FROM t GROUP BY a", "item *"},
    {"SELECT a FROM t GROUP BY lower(a)", "GROUP BY an expression cannot be merged"},
    {"SELECT a FROM t GROUP BY a COLLATE \"C\"", "GROUP BY an expression"},
    {"SELECT a FROM t GROUP BY 'x'", "GROUP BY a constant other than a position"},
    {"SELECT a FROM t GROUP BY 0", "GROUP BY position 0 is not in the SELECT list"},
    {"SELECT a FROM t GROUP BY 2", "GROUP BY position 2 is not"},
    {"SELECT count(*) FROM t GROUP BY t.*", "GROUP BY a whole row"},
    {"SELECT a FROM t ORDER BY lower(a)", "ORDER BY an expression cannot be merged"},
    {"SELECT a FROM t ORDER BY a + 1", "ORDER BY an expression"},
    {"SELECT a FROM t ORDER BY 1 COLLATE \"C\"", "ORDER BY an expression"},
    {"SELECT a FROM t ORDER BY a COLLATE \"en_US\"", "ORDER BY with a COLLATE other than \"C\" or \"POSIX\" cannot be merged"},
    {"SELECT a FROM t ORDER BY 3", "ORDER BY position 3 is not in the SELECT list and cannot be merged across shards"},
    {"SELECT a FROM t ORDER BY 0", "ORDER BY position 0"},
    {"SELECT a FROM t ORDER BY -1", "ORDER BY position -1"},
    {"SELECT a FROM t ORDER BY 'x'", "ORDER BY a constant other than a position"},
    {"SELECT a FROM t ORDER BY t.*", "ORDER BY a whole row"},
    {"SELECT a, count(*) FROM t GROUP BY a ORDER BY count(b)", "ORDER BY count(...) cannot be merged across shards "
                                                               "unless the same count(...) is in the SELECT list"},
    {"SELECT a, count(x) FROM t GROUP BY a ORDER BY count(x) FILTER (WHERE true)", "count(...) FILTER"},
    {"SELECT a, max(x) FROM t GROUP BY a ORDER BY max(x) + 1", "max(...) inside an expression"},
    {"SELECT u.name, o.name FROM u JOIN o ON true ORDER BY o.name", "ORDER BY o.name cannot be merged across shards: "
                                                                     "the SELECT list has another column named \"name\""},
    {"SELECT u.name, count(*) FROM u JOIN o ON true GROUP BY o.name", "GROUP BY o.name cannot"},
    {"SELECT b AS a FROM t ORDER BY t.a", "ORDER BY t.a cannot"},
    {"SELECT lower(a) AS a FROM t ORDER BY t.a", "ORDER BY t.a cannot"},
    {"SELECT a FROM t ORDER BY a USING ~<~", "USING ~<~"},
    {"SELECT a FROM t ORDER BY a USING OPERATOR(s.<)", "USING <"},
    {"SELECT a FROM t LIMIT $1", "LIMIT with a parameter or an expression"},
    {"SELECT a FROM t LIMIT 1 + 1", "LIMIT with a parameter"},
    {"SELECT a FROM t OFFSET $2", "OFFSET with a parameter"},
    {"SELECT a FROM t LIMIT 5::bigint", "LIMIT with a parameter or an expression"},
    {"SELECT a FROM t FETCH FIRST +5 ROWS ONLY", "LIMIT with a parameter or an expression"},
    {"SELECT a FROM t LIMIT '5'", "LIMIT with a constant that is not an integer"},
    {"SELECT a FROM t LIMIT 1.5", "LIMIT 1.5 cannot"},
    {"SELECT a FROM t LIMIT 1e3", "LIMIT 1e3 cannot"},
    {"SELECT a FROM t LIMIT -1", "a negative LIMIT"},
    {"SELECT a FROM t LIMIT -99999999999", "a negative LIMIT"},
    {"SELECT a FROM t OFFSET -1", "a negative OFFSET"},
    {"SELECT a FROM t LIMIT 9223372036854775808", "LIMIT 9223372036854775808 is out of range and cannot be merged across shards"},
    {"SELECT a FROM t ORDER BY a FETCH FIRST 2 ROWS WITH TIES", "WITH TIES cannot be merged"},
    {"SELECT a FROM t OFFSET 1 FETCH FIRST ROW ONLY", "FETCH FIRST ROW ONLY together with OFFSET"},
};

static _Thread_local int merge_failures = 0; /* check_merge_cases runs on several threads at once */

static bool range_text(const char *sql, int32_t start, int32_t end, const char *want) {
    if (want == NULL) return start == -1 && end == -1;
    return start >= 0 && end >= start && (size_t)end <= strlen(sql) && strlen(want) == (size_t)(end - start) &&
           strncmp(sql + start, want, (size_t)(end - start)) == 0;
}

static bool ends_with_at(const char *sql, int32_t end, const char *want) {
    if (want == NULL) return end == -1;
    size_t length = strlen(want);
    return end >= 0 && (size_t)end <= strlen(sql) && (size_t)end >= length &&
           strncmp(sql + end - length, want, length) == 0;
}

static bool same_name(const char *a, const char *b) { return (a == NULL || b == NULL) ? a == b : !strcmp(a, b); }

static bool keys_equal(const pgproxy_sql_sort_key *got, size_t count, const want_key *want) {
    size_t n = 0;
    while (want[n].position != -1) n++;
    if (n != count || (n > 0) != (got != NULL)) return false;
    for (size_t i = 0; i < n; i++)
        if (!same_name(got[i].name, want[i].name) || got[i].position != want[i].position ||
            got[i].descending != want[i].descending || got[i].nulls_first != want[i].nulls_first ||
            got[i].bytewise != want[i].bytewise)
            return false;
    return true;
}

static void print_plan(const char *sql, const pgproxy_sql_merge_plan *p) {
    printf("  got refusal=%s distinct=%d limit=%lld [%d,%d) offset=%lld [%d,%d) targets_end=%d (...%.12s)\n",
           p->refusal ? p->refusal : "-", p->distinct, (long long)p->limit, p->limit_start, p->limit_end,
           (long long)p->offset, p->offset_start, p->offset_end, p->targets_end,
           p->targets_end >= 12 ? sql + p->targets_end - 12 : "");
    for (size_t i = 0; i < p->target_count; i++) {
        const pgproxy_sql_target *t = &p->targets[i];
        printf("    target kind=%d name=%s arg=[%d,%d) %.*s\n", t->kind, t->name ? t->name : "NULL", t->arg_start,
               t->arg_end, t->arg_start >= 0 ? t->arg_end - t->arg_start : 0, t->arg_start >= 0 ? sql + t->arg_start : "");
    }
    for (size_t i = 0; i < p->sort_count; i++)
        printf("    sort name=%s position=%d desc=%d nulls_first=%d bytewise=%d\n", p->sort[i].name ? p->sort[i].name : "NULL",
               p->sort[i].position, p->sort[i].descending, p->sort[i].nulls_first, p->sort[i].bytewise);
    for (size_t i = 0; i < p->group_count; i++)
        printf("    group name=%s position=%d\n", p->group_by[i].name ? p->group_by[i].name : "NULL", p->group_by[i].position);
}

static void check_accepted(const merge_case *c) {
    pgproxy_sql_merge_plan p;
    int rc = pgproxy_sql_merge_plan_make(c->sql, &p);
    size_t n = 0;
    while (c->targets[n].kind != -1) n++;
    bool ok = rc == PGPROXY_SQL_ANALYSIS_OK && p.refusal == NULL && p.target_count == n && (n > 0) == (p.targets != NULL);
    for (size_t i = 0; ok && i < n; i++) {
        const pgproxy_sql_target *t = &p.targets[i];
        ok = t->kind == c->targets[i].kind && same_name(t->name, c->targets[i].name) &&
             (c->targets[i].arg ? range_text(c->sql, t->arg_start, t->arg_end, c->targets[i].arg)
                                : t->arg_start == -1 && t->arg_end == -1);
    }
    ok = ok && keys_equal(p.sort, p.sort_count, c->sort) && keys_equal(p.group_by, p.group_count, c->group) &&
         p.distinct == c->distinct && p.limit == c->limit && p.offset == c->offset &&
         range_text(c->sql, p.limit_start, p.limit_end, c->limit_text) &&
         range_text(c->sql, p.offset_start, p.offset_end, c->offset_text) &&
         ends_with_at(c->sql, p.targets_end, c->before_end) && merge_invariants(c->sql, rc, &p);
    if (!ok) {
        merge_failures++;
        printf("FAIL merge plan of %s (rc=%d)\n", c->sql, rc);
        print_plan(c->sql, &p);
    }
    pgproxy_sql_merge_plan_free(&p);
}

static bool refusal_has(const char *refusal, const char *words) {
    if (refusal == NULL) return false;
    char buffer[512];
    snprintf(buffer, sizeof buffer, "%s", words);
    char *state = NULL;
    for (char *word = strtok_r(buffer, "|", &state); word != NULL; word = strtok_r(NULL, "|", &state))
        if (strstr(refusal, word) == NULL) return false;
    return true;
}

static void check_refused(const refused_case *c) {
    pgproxy_sql_merge_plan p;
    int rc = pgproxy_sql_merge_plan_make(c->sql, &p);
    if (rc != PGPROXY_SQL_ANALYSIS_OK || !refusal_has(p.refusal, c->words) || !merge_invariants(c->sql, rc, &p)) {
        merge_failures++;
        printf("FAIL merge refusal of %s (rc=%d), want \"%s\"\n", c->sql, rc, c->words);
        print_plan(c->sql, &p);
    }
    pgproxy_sql_merge_plan_free(&p);
}

/* A plan that makes sense for `sql` whatever it is: refused plans are empty, ranges lie in the text. */
bool merge_invariants(const char *sql, int rc, const pgproxy_sql_merge_plan *p) {
    bool empty = p->target_count == 0 && p->targets == NULL && p->sort_count == 0 && p->sort == NULL &&
                 p->group_count == 0 && p->group_by == NULL && p->distinct == 0 && p->limit == -1 && p->offset == 0 &&
                 p->limit_start == -1 && p->limit_end == -1 && p->offset_start == -1 && p->offset_end == -1 &&
                 p->targets_end == -1;
    if (rc != PGPROXY_SQL_ANALYSIS_OK || p->refusal != NULL) return empty && (rc == 0 || p->refusal != NULL) && rc >= 0;
    int32_t length = (int32_t)strlen(sql);
    bool ok = p->limit >= -1 && p->offset >= 0 && p->targets_end >= -1 && p->targets_end <= length &&
              (p->target_count > 0) == (p->targets != NULL) && (p->sort_count > 0) == (p->sort != NULL) &&
              (p->group_count > 0) == (p->group_by != NULL) && (p->distinct == 0 || p->distinct == 1);
    ok = ok && (p->limit_start == -1 ? p->limit_end == -1 : p->limit >= 0 && p->limit_start < p->limit_end &&
                                                             p->limit_end <= length);
    ok = ok && (p->offset_start == -1 ? p->offset_end == -1 : p->offset_start < p->offset_end && p->offset_end <= length);
    ok = ok && (p->target_count == 0 || p->targets_end > 0);
    for (size_t i = 0; ok && i < p->target_count; i++) {
        const pgproxy_sql_target *t = &p->targets[i];
        bool aggregate = t->kind >= PGPROXY_SQL_TARGET_COUNT && t->kind <= PGPROXY_SQL_TARGET_AVG;
        ok = t->kind >= PGPROXY_SQL_TARGET_COLUMN && t->kind <= PGPROXY_SQL_TARGET_OTHER &&
             (t->kind == PGPROXY_SQL_TARGET_STAR) == (t->name == NULL) && (t->name == NULL || t->name[0]) &&
             (aggregate ? t->arg_start >= 0 && t->arg_end <= p->targets_end && t->arg_end - t->arg_start >= 2 &&
                              sql[t->arg_start] == '(' && sql[t->arg_end - 1] == ')'
                        : t->arg_start == -1 && t->arg_end == -1);
    }
    for (size_t i = 0; ok && i < p->sort_count + p->group_count; i++) {
        const pgproxy_sql_sort_key *k = i < p->sort_count ? &p->sort[i] : &p->group_by[i - p->sort_count];
        ok = (k->name != NULL) != (k->position > 0) && k->position >= 0 && (k->descending | k->nulls_first | k->bytewise) <= 1 &&
             (i < p->sort_count || (k->descending == 0 && k->nulls_first == 0 && k->bytewise == 0));
    }
    return ok;
}

static void expect_merge(bool condition, const char *what) {
    if (!condition) {
        merge_failures++;
        printf("FAIL %s\n", what);
    }
}

static void check_errors(void) {
    pgproxy_sql_merge_plan p;
    int rc = pgproxy_sql_merge_plan_make("SELEC 1", &p);
    expect_merge(rc == PGPROXY_SQL_ANALYSIS_PARSE_ERROR && p.refusal && strstr(p.refusal, "syntax error") &&
                     merge_invariants("SELEC 1", rc, &p),
                 "merge plan: parse error");
    pgproxy_sql_merge_plan_free(&p);
    pgproxy_sql_merge_plan_free(&p); /* twice is fine */
    rc = pgproxy_sql_merge_plan_make("SELECT 'abc", &p);
    expect_merge(rc == PGPROXY_SQL_ANALYSIS_PARSE_ERROR && p.refusal && strstr(p.refusal, "unterminated"),
                 "merge plan: scanner error");
    pgproxy_sql_merge_plan_free(&p);
    rc = pgproxy_sql_merge_plan_make(NULL, &p);
    expect_merge(rc == PGPROXY_SQL_ANALYSIS_INVALID && p.refusal && !strcmp(p.refusal, "query is NULL"),
                 "merge plan: NULL query");
    pgproxy_sql_merge_plan_free(&p);
    expect_merge(pgproxy_sql_merge_plan_make("SELECT 1", NULL) == PGPROXY_SQL_ANALYSIS_INVALID, "merge plan: NULL out");
    pgproxy_sql_merge_plan zero = {0};
    pgproxy_sql_merge_plan_free(&zero);
    pgproxy_sql_merge_plan_free(NULL);
}

int check_merge_cases(void) {
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) check_accepted(&accepted[i]);
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) check_refused(&refused[i]);
    check_errors();
    int failures = merge_failures;
    merge_failures = 0;
    return failures;
}

size_t merge_case_count(void) { return sizeof accepted / sizeof accepted[0] + sizeof refused / sizeof refused[0]; }

const char *merge_case_sql(size_t i) {
    size_t n = sizeof accepted / sizeof accepted[0];
    return i < n ? accepted[i].sql : refused[i - n].sql;
}
