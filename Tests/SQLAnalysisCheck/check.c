/*
 * check.c — checks pgproxy_sql_analyze: ~160 statements with their expected kind, flags, command
 * tags, tables and functions; ~50 with the column values they give (table, column, group, row,
 * kind, the text at a literal's location, sign, parameter number); error reporting; the 64-name
 * caps and the PGPROXY_SQL_ANALYSIS_MAX_VALUES cap; merge plans (check_merge.c); deep and huge
 * inputs (analysed on the helper thread, or refused, never a crash); random and mutated inputs
 * (their merge plans too); several threads at once (one with a 256 KB stack); and the time per
 * analysis. See the Makefile.
 *
 *   ./check                 everything, then the timing
 *   ./check quick           smaller inputs, no timing (for valgrind)
 *   ./check full PHASE      the statement table plus one of: bound, deep, fuzz, threads, bench
 *
 * Phase "bound" is what keeps the analysis from overflowing a stack: for adversarial shapes it
 * measures the real depth of the parse tree and the stack libpg_query + protobuf-c use for it,
 * and checks both against the bound guard.c estimates (and so against the SA_* constants).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <pg_query.h>

#include "pgproxy_sql_analysis.h"
#include "sa_internal.h" /* internal: sa_estimate_depth and the SA_* stack constants */
#include "families.h"
#include "check_merge.h"

enum { U = PGPROXY_STMT_UNKNOWN, R = PGPROXY_STMT_READ, W = PGPROXY_STMT_WRITE, D = PGPROXY_STMT_DDL,
       T = PGPROXY_STMT_TRANSACTION, X = PGPROXY_STMT_UTILITY };
#define LOCK PGPROXY_FLAG_LOCKING
#define BEG PGPROXY_FLAG_BEGIN
#define RO PGPROXY_FLAG_READ_ONLY_BEGIN
#define END PGPROXY_FLAG_END
#define PERR PGPROXY_FLAG_PARSE_ERROR
#define CFROM PGPROXY_FLAG_COPY_FROM
#define CTO PGPROXY_FLAG_COPY_TO
#define SESS PGPROXY_FLAG_SESSION_STATE
#define FN PGPROXY_FLAG_FUNCTION_CALL

typedef struct {
    const char *sql;
    int kind;
    unsigned flags;
    const char *commands;  /* '|'-separated */
    const char *tables;
    const char *functions;
    int rc;
} expectation;

static const expectation cases[] = {
    /* reads */
    {"SELECT abalance FROM pgbench_accounts WHERE aid = 48213", R, 0, "SELECT", "pgbench_accounts", "", 0},
    {"SELECT 1", R, 0, "SELECT", "", "", 0},
    {"SELECT a.x, b.y FROM public.a JOIN b ON a.id = b.id LEFT JOIN s.c USING (id)", R, 0, "SELECT", "public.a|b|s.c", "", 0},
    {"SELECT * FROM t1 WHERE id IN (SELECT t_id FROM t2 WHERE z > (SELECT max(z) FROM t3))", R, FN, "SELECT", "t1|t2|t3", "max", 0},
    {"WITH recent AS (SELECT * FROM orders WHERE ts > now() - interval '1 day') SELECT count(*) FROM recent", R, FN, "SELECT", "orders", "now|count", 0},
    {"SELECT * FROM t WHERE a = $1 AND b = $2", R, 0, "SELECT", "t", "", 0},
    {"SELECT $1::int", R, 0, "SELECT", "", "", 0},
    {"SELECT * FROM t UNION SELECT * FROM u", R, 0, "SELECT", "t|u", "", 0},
    {"VALUES (1, 'a'), (2, 'b')", R, 0, "SELECT", "", "", 0},
    {"SELECT count(*), sum(x) FROM t GROUP BY y HAVING avg(z) > 1", R, FN, "SELECT", "t", "count|sum|avg", 0},
    {"SELECT extract(year FROM ts), pg_catalog.now() FROM t", R, FN, "SELECT", "t", "extract|pg_catalog.now", 0},
    {"SELECT cat.sch.tab.col FROM cat.sch.tab", R, 0, "SELECT", "cat.sch.tab", "", 0},
    {"SELECT * FROM generate_series(1, 10) g", R, FN, "SELECT", "", "generate_series", 0},
    {"SELECT \"NextVal\"('s'), Upper(name), lower(name) FROM t", R, FN, "SELECT", "t", "nextval|upper|lower", 0},
    {"SELECT 1 FROM t WHERE x = ANY($1) AND y = $2", R, 0, "SELECT", "t", "", 0},
    {"SELECT * FROM b, a, b, \"Mixed Case\"", R, 0, "SELECT", "b|a|Mixed Case", "", 0},
    /* functions that write */
    {"SELECT nextval('order_id_seq')", R, FN, "SELECT", "", "nextval", 0},
    {"SELECT pg_catalog.setval('s', 42, true)", R, FN, "SELECT", "", "pg_catalog.setval", 0},
    /* locking */
    {"SELECT * FROM accounts WHERE id = $1 FOR UPDATE", W, LOCK, "SELECT", "accounts", "", 0},
    {"SELECT * FROM accounts a JOIN users u ON u.id = a.uid FOR SHARE OF a NOWAIT", W, LOCK, "SELECT", "accounts|users", "", 0},
    {"SELECT * FROM q FOR NO KEY UPDATE SKIP LOCKED", W, LOCK, "SELECT", "q", "", 0},
    {"SELECT * FROM q FOR KEY SHARE", W, LOCK, "SELECT", "q", "", 0},
    {"SELECT * FROM (SELECT * FROM q FOR UPDATE) s", W, LOCK, "SELECT", "q", "", 0},
    /* writes */
    {"INSERT INTO public.users (name, email) VALUES ($1, $2) RETURNING id", W, 0, "INSERT", "public.users", "", 0},
    {"UPDATE accounts SET balance = balance + $1 WHERE id = $2", W, 0, "UPDATE", "accounts", "", 0},
    {"DELETE FROM sessions WHERE expires_at < now()", W, FN, "DELETE", "sessions", "now", 0},
    {"MERGE INTO target t USING source s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v "
     "WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v)", W, 0, "MERGE", "target|source", "", 0},
    {"INSERT INTO t SELECT * FROM s FOR UPDATE", W, LOCK, "INSERT", "t|s", "", 0},
    {"WITH ins AS (INSERT INTO log (msg) VALUES ('x') RETURNING id) SELECT * FROM ins", W, 0, "SELECT", "log", "", 0},
    {"WITH d AS (DELETE FROM t RETURNING *) SELECT count(*) FROM d", W, FN, "SELECT", "t", "count", 0},
    {"WITH t AS (SELECT 1) INSERT INTO t SELECT * FROM t", W, 0, "INSERT", "t", "", 0},
    {"UPDATE pgbench_accounts SET abalance = abalance + -4213 WHERE aid = 48213", W, 0, "UPDATE", "pgbench_accounts", "", 0},
    {"TRUNCATE users, orders", W, 0, "TRUNCATE TABLE", "users|orders", "", 0},
    {"LOCK TABLE users IN ACCESS EXCLUSIVE MODE", W, LOCK, "LOCK TABLE", "users", "", 0},
    {"DO $$BEGIN PERFORM 1; END$$", W, 0, "DO", "", "", 0},
    {"CALL do_stuff(1, 'a')", W, FN, "CALL", "", "do_stuff", 0},
    {"NOTIFY chan, 'x'", W, 0, "NOTIFY", "", "", 0},
    {"EXECUTE q(1)", W, 0, "EXECUTE", "", "", 0},
    {"CHECKPOINT", W, 0, "CHECKPOINT", "", "", 0},
    /* copy */
    {"COPY users FROM STDIN WITH (FORMAT csv)", W, CFROM, "COPY", "users", "", 0},
    {"COPY users TO STDOUT", R, CTO, "COPY", "users", "", 0},
    {"COPY (SELECT * FROM users) TO STDOUT", R, CTO, "COPY", "users", "", 0},
    {"COPY (DELETE FROM users RETURNING *) TO STDOUT", W, CTO, "COPY", "users", "", 0},
    /* transactions */
    {"BEGIN", T, BEG, "BEGIN", "", "", 0},
    {"BEGIN READ ONLY", T, BEG | RO, "BEGIN", "", "", 0},
    {"START TRANSACTION READ ONLY", T, BEG | RO, "START TRANSACTION", "", "", 0},
    {"BEGIN READ WRITE", T, BEG, "BEGIN", "", "", 0},
    {"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", T, BEG | RO, "BEGIN", "", "", 0},
    {"START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY", T, BEG | RO, "START TRANSACTION", "", "", 0},
    {"BEGIN TRANSACTION READ ONLY, READ WRITE", T, BEG, "BEGIN", "", "", 0},
    {"BEGIN ISOLATION LEVEL SERIALIZABLE", T, BEG, "BEGIN", "", "", 0},
    {"COMMIT", T, END, "COMMIT", "", "", 0},
    {"END", T, END, "COMMIT", "", "", 0},
    {"ROLLBACK", T, END, "ROLLBACK", "", "", 0},
    {"ABORT", T, END, "ROLLBACK", "", "", 0},
    {"COMMIT AND CHAIN", T, END | BEG, "COMMIT", "", "", 0},
    {"SAVEPOINT sp1", T, 0, "SAVEPOINT", "", "", 0},
    {"RELEASE SAVEPOINT sp1", T, 0, "RELEASE", "", "", 0},
    {"ROLLBACK TO SAVEPOINT sp1", T, 0, "ROLLBACK", "", "", 0},
    {"PREPARE TRANSACTION 'gx'", T, END, "PREPARE TRANSACTION", "", "", 0},
    {"COMMIT PREPARED 'gx'", T, END, "COMMIT PREPARED", "", "", 0},
    {"ROLLBACK PREPARED 'gx'", T, END, "ROLLBACK PREPARED", "", "", 0},
    {"BEGIN; SELECT 1; COMMIT", R, BEG | END, "BEGIN|SELECT|COMMIT", "", "", 0},
    {"BEGIN; UPDATE t SET a = 1; COMMIT;", W, BEG | END, "BEGIN|UPDATE|COMMIT", "t", "", 0},
    /* DDL */
    {"DROP TABLE users, public.orders", D, 0, "DROP TABLE", "users|public.orders", "", 0},
    {"DROP INDEX CONCURRENTLY IF EXISTS idx_users_email", D, 0, "DROP INDEX", "idx_users_email", "", 0},
    {"DROP VIEW v", D, 0, "DROP VIEW", "v", "", 0},
    {"DROP SEQUENCE s", D, 0, "DROP SEQUENCE", "s", "", 0},
    {"DROP MATERIALIZED VIEW mv", D, 0, "DROP MATERIALIZED VIEW", "mv", "", 0},
    {"DROP SCHEMA s CASCADE", D, 0, "DROP SCHEMA", "", "", 0},
    {"DROP FUNCTION f(int)", D, 0, "DROP FUNCTION", "", "", 0},
    {"DROP TYPE mood", D, 0, "DROP TYPE", "", "", 0},
    {"DROP EXTENSION pgcrypto", D, 0, "DROP EXTENSION", "", "", 0},
    {"CREATE TABLE t (id serial PRIMARY KEY, name text DEFAULT upper('x'))", D, FN, "CREATE TABLE", "t", "upper", 0},
    {"CREATE TEMP TABLE tmp_x (id int)", D, SESS, "CREATE TABLE", "tmp_x", "", 0},
    {"CREATE UNLOGGED TABLE ul (id int)", D, 0, "CREATE TABLE", "ul", "", 0},
    {"ALTER TABLE users ADD COLUMN age int", D, 0, "ALTER TABLE", "users", "", 0},
    {"ALTER TABLE users RENAME COLUMN a TO b", D, 0, "ALTER TABLE", "users", "", 0},
    {"ALTER INDEX i RENAME TO j", D, 0, "ALTER INDEX", "i", "", 0},
    {"ALTER VIEW v RENAME TO w", D, 0, "ALTER VIEW", "v", "", 0},
    {"ALTER SEQUENCE s RESTART", D, 0, "ALTER SEQUENCE", "s", "", 0},
    {"ALTER TABLE t SET SCHEMA other", D, 0, "ALTER TABLE", "t", "", 0},
    {"ALTER TABLE t OWNER TO bob", D, 0, "ALTER TABLE", "t", "", 0},
    {"ALTER FUNCTION f(int) OWNER TO bob", D, 0, "ALTER FUNCTION", "", "", 0},
    {"SELECT * INTO new_t FROM t", D, 0, "SELECT INTO", "new_t|t", "", 0},
    {"SELECT * INTO TEMP nt FROM t", D, SESS, "SELECT INTO", "nt|t", "", 0},
    {"SELECT 1 INTO x UNION SELECT 2", D, 0, "SELECT INTO", "x", "", 0},
    {"CREATE TABLE x AS SELECT * FROM t", D, 0, "CREATE TABLE AS", "x|t", "", 0},
    {"CREATE TEMP TABLE x AS SELECT 1", D, SESS, "CREATE TABLE AS", "x", "", 0},
    {"CREATE MATERIALIZED VIEW mv AS SELECT 1", D, 0, "CREATE MATERIALIZED VIEW", "mv", "", 0},
    {"REFRESH MATERIALIZED VIEW CONCURRENTLY mv", D, 0, "REFRESH MATERIALIZED VIEW", "mv", "", 0},
    {"CREATE INDEX CONCURRENTLY i ON users (email)", D, 0, "CREATE INDEX", "users", "", 0},
    {"CREATE VIEW v AS SELECT * FROM users", D, 0, "CREATE VIEW", "v|users", "", 0},
    {"CREATE TEMP VIEW tv AS SELECT 1", D, SESS, "CREATE VIEW", "tv", "", 0},
    {"CREATE VIEW lv AS SELECT * FROM users FOR UPDATE", D, 0, "CREATE VIEW", "lv|users", "", 0},
    {"CREATE SEQUENCE s", D, 0, "CREATE SEQUENCE", "s", "", 0},
    {"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'", D, 0, "CREATE FUNCTION", "", "", 0},
    {"CREATE PROCEDURE p() LANGUAGE sql AS $$ SELECT 1 $$", D, 0, "CREATE PROCEDURE", "", "", 0},
    {"CREATE EXTENSION IF NOT EXISTS pgcrypto", D, 0, "CREATE EXTENSION", "", "", 0},
    {"CREATE SCHEMA s", D, 0, "CREATE SCHEMA", "", "", 0},
    {"CREATE TYPE mood AS ENUM ('a')", D, 0, "CREATE TYPE", "", "", 0},
    {"CREATE AGGREGATE a (int) (sfunc = f, stype = int)", D, 0, "CREATE AGGREGATE", "", "", 0},
    {"GRANT SELECT ON users TO bob", D, 0, "GRANT", "users", "", 0},
    {"REVOKE ALL ON users FROM bob", D, 0, "REVOKE", "users", "", 0},
    {"GRANT admin TO bob", D, 0, "GRANT ROLE", "", "", 0},
    {"COMMENT ON TABLE users IS 'x'", D, 0, "COMMENT", "", "", 0},
    {"CREATE TRIGGER trg BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION f()", D, 0, "CREATE TRIGGER", "users", "", 0},
    {"VACUUM ANALYZE users", D, 0, "VACUUM", "users", "", 0},
    {"ANALYZE users", D, 0, "ANALYZE", "users", "", 0},
    {"CLUSTER users USING idx", D, 0, "CLUSTER", "users", "", 0},
    {"REINDEX TABLE users", D, 0, "REINDEX", "users", "", 0},
    {"ALTER SYSTEM SET work_mem = '1MB'", D, 0, "ALTER SYSTEM", "", "", 0},
    {"CREATE DATABASE foo", D, 0, "CREATE DATABASE", "", "", 0},
    {"DROP DATABASE foo", D, 0, "DROP DATABASE", "", "", 0},
    {"CREATE ROLE r", D, 0, "CREATE ROLE", "", "", 0},
    {"CREATE POLICY p ON t USING (true)", D, 0, "CREATE POLICY", "t", "", 0},
    /* utility */
    {"SET search_path TO myschema, public", X, SESS, "SET", "", "", 0},
    {"SET LOCAL statement_timeout = '5s'", X, 0, "SET", "", "", 0},
    {"SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", X, 0, "SET", "", "", 0},
    {"SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", X, SESS, "SET", "", "", 0},
    {"RESET ALL", X, SESS, "RESET", "", "", 0},
    {"SHOW server_version", X, 0, "SHOW", "", "", 0},
    {"EXPLAIN SELECT * FROM users", X, 0, "EXPLAIN", "users", "", 0},
    {"EXPLAIN DELETE FROM users", X, 0, "EXPLAIN", "users", "", 0},
    {"EXPLAIN ANALYZE DELETE FROM users WHERE id = 1", W, 0, "EXPLAIN", "users", "", 0},
    {"EXPLAIN (ANALYZE false) DELETE FROM users", X, 0, "EXPLAIN", "users", "", 0},
    {"EXPLAIN (ANALYZE off, VERBOSE) UPDATE users SET a = 1", X, 0, "EXPLAIN", "users", "", 0},
    {"EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM users FOR UPDATE", W, LOCK, "EXPLAIN", "users", "", 0},
    {"EXPLAIN ANALYZE SELECT 1", X, 0, "EXPLAIN", "", "", 0},
    {"EXPLAIN ANALYZE CREATE TABLE ct AS SELECT 1", D, 0, "EXPLAIN", "ct", "", 0},
    {"EXPLAIN (ANALYZE) EXECUTE q(1)", W, 0, "EXPLAIN", "", "", 0},
    {"LISTEN chan", X, SESS, "LISTEN", "", "", 0},
    {"UNLISTEN *", X, SESS, "UNLISTEN", "", "", 0},
    {"PREPARE q (int) AS SELECT * FROM users WHERE id = $1", X, SESS, "PREPARE", "users", "", 0},
    {"PREPARE d AS DELETE FROM users", X, SESS, "PREPARE", "users", "", 0},
    {"DEALLOCATE q", X, 0, "DEALLOCATE", "", "", 0},
    {"DEALLOCATE ALL", X, 0, "DEALLOCATE ALL", "", "", 0},
    {"DECLARE c CURSOR WITH HOLD FOR SELECT * FROM users", R, SESS, "DECLARE CURSOR", "users", "", 0},
    {"DECLARE c CURSOR FOR SELECT * FROM users", R, 0, "DECLARE CURSOR", "users", "", 0},
    {"DECLARE c CURSOR FOR SELECT * FROM users FOR UPDATE", W, LOCK, "DECLARE CURSOR", "users", "", 0},
    {"FETCH 10 FROM c", X, 0, "FETCH", "", "", 0},
    {"MOVE NEXT IN c", X, 0, "MOVE", "", "", 0},
    {"CLOSE c", X, 0, "CLOSE CURSOR", "", "", 0},
    {"CLOSE ALL", X, 0, "CLOSE CURSOR ALL", "", "", 0},
    {"DISCARD ALL", X, 0, "DISCARD ALL", "", "", 0},
    {"LOAD 'auto_explain'", X, 0, "LOAD", "", "", 0},
    {"SET CONSTRAINTS ALL DEFERRED", X, 0, "SET CONSTRAINTS", "", "", 0},
    /* several statements */
    {"SET x = 1; SELECT 1", R, SESS, "SET|SELECT", "", "", 0},
    {"SELECT 1; DROP TABLE t", D, 0, "SELECT|DROP TABLE", "t", "", 0},
    {"SELECT 1;;; SELECT 2", R, 0, "SELECT|SELECT", "", "", 0},
    {"SELECT * FROM b; SELECT * FROM a, b", R, 0, "SELECT|SELECT", "b|a", "", 0},
    /* nothing to run */
    {"", U, 0, "", "", "", 0},
    {"   \n\t ", U, 0, "", "", "", 0},
    {"-- comment only", U, 0, "", "", "", 0},
    {"/* c */ ;", U, 0, "", "", "", 0},
    /* errors */
    {"SELEC 1", U, PERR, "", "", "", 1},
    {"SELECT * FROM", U, PERR, "", "", "", 1},
    {"SELECT 'unterminated", U, PERR, "", "", "", 1},
    {"SELECT 1; SELEC 2", U, PERR, "", "", "", 1},
    {"/* unterminated comment", U, PERR, "", "", "", 1},
};

/* ---- column values ---- */

typedef struct {
    const char *table;   /* NULL: the relation is ambiguous */
    const char *column;  /* NULL ends a list */
    int group, row, kind;
    const char *text;    /* LITERAL: what the query holds at `location` */
    int negative, param;
} expected_value;

typedef struct {
    const char *sql;
    const expected_value *values;
} value_expectation;

#define VALS(...) ((const expected_value[]){__VA_ARGS__, {0}})
#define NO_VALS ((const expected_value[]){{0}})
#define LIT(t, c, g, r, text) {t, c, g, r, PGPROXY_SQL_VALUE_LITERAL, text, 0, 0}
#define NEG(t, c, g, r, text) {t, c, g, r, PGPROXY_SQL_VALUE_LITERAL, text, 1, 0}
#define PAR(t, c, g, r, n) {t, c, g, r, PGPROXY_SQL_VALUE_PARAM, NULL, 0, n}
#define NUL(t, c, g, r) {t, c, g, r, PGPROXY_SQL_VALUE_NULL, NULL, 0, 0}
#define UNK(t, c, g, r) {t, c, g, r, PGPROXY_SQL_VALUE_UNKNOWN, NULL, 0, 0}

static const value_expectation value_cases[] = {
    /* WHERE: = in either order, IN, casts, parameters, signs */
    {"SELECT * FROM users WHERE id = 42", VALS(LIT("users", "id", 0, 0, "42"))},
    {"SELECT * FROM users u WHERE u.id = -7 AND name = 'x'",
     VALS(NEG("users", "id", 0, 0, "7 AND"), LIT("users", "name", 1, 0, "'x'"))},
    {"UPDATE public.users SET a = 1 WHERE id IN (1, $2, '3'::bigint)",
     VALS(LIT("public.users", "id", 0, 0, "1, $2"), PAR("public.users", "id", 0, 0, 2),
          LIT("public.users", "id", 0, 0, "'3'::bigint"))},
    {"DELETE FROM users WHERE $1 = id", VALS(PAR("users", "id", 0, 0, 1))},
    {"SELECT * FROM t WHERE 17 = id AND 'k' = key", VALS(LIT("t", "id", 0, 0, "17"), LIT("t", "key", 1, 0, "'k'"))},
    {"SELECT * FROM t WHERE a = n'x' AND b = json'{}' AND c IN (N'y',N'z') AND d = nchar 'w'",
     VALS(LIT("t", "a", 0, 0, "n'x'"), LIT("t", "b", 1, 0, "'{}'"), LIT("t", "c", 2, 0, "N'y'"),
          LIT("t", "c", 2, 0, "N'z'"), LIT("t", "d", 3, 0, "'w'"))},
    {"SELECT * FROM t WHERE id IN (8)", VALS(LIT("t", "id", 0, 0, "8)"))},
    {"SELECT * FROM t WHERE a = E'it\\'s' AND b = $$x$$ AND c = $q$y$q$ AND d = B'101' AND e = X'ff' AND "
     "f = U&'d' AND g = N'n' AND h = bigint '9' AND i = .5 AND j = TRUE AND k = CAST(70 AS int)",
     VALS(LIT("t", "a", 0, 0, "E'it\\'s'"), LIT("t", "b", 1, 0, "$$x$$"), LIT("t", "c", 2, 0, "$q$y$q$"),
          LIT("t", "d", 3, 0, "B'101'"), LIT("t", "e", 4, 0, "X'ff'"), LIT("t", "f", 5, 0, "U&'d'"),
          LIT("t", "g", 6, 0, "N'n'"), LIT("t", "h", 7, 0, "'9'"), LIT("t", "i", 8, 0, ".5"),
          LIT("t", "j", 9, 0, "TRUE"), LIT("t", "k", 10, 0, "70 AS"))},
    {"SELECT * FROM t WHERE a = - 5 AND b = - ( - 6) AND c = -/* c */2.5e3 AND d = -2147483648 AND e = -.25",
     VALS(NEG("t", "a", 0, 0, "5 AND"), LIT("t", "b", 1, 0, "6)"), NEG("t", "c", 2, 0, "2.5e3"),
          NEG("t", "d", 3, 0, "2147483648"), NEG("t", "e", 4, 0, ".25"))},
    {"SELECT * FROM t WHERE - -5 = a AND b = -- comment\n 8", VALS(LIT("t", "a", 0, 0, "5 ="), LIT("t", "b", 1, 0, "8"))},
    {"SELECT * FROM t WHERE a = NULL AND b = NULL::int AND c = $3::text::int AND d = (-9)::int",
     VALS(NUL("t", "a", 0, 0), NUL("t", "b", 1, 0), PAR("t", "c", 2, 0, 3), NEG("t", "d", 3, 0, "9)"))},
    /* nested ANDs; OR, NOT and unknown values give nothing */
    {"SELECT * FROM t WHERE (a = 1 AND (b = 2 AND c = 3)) AND d = 4",
     VALS(LIT("t", "a", 0, 0, "1 AND"), LIT("t", "b", 1, 0, "2 AND"), LIT("t", "c", 2, 0, "3)"), LIT("t", "d", 3, 0, "4"))},
    {"SELECT * FROM t WHERE id = 1 OR id = 2", NO_VALS},
    {"SELECT * FROM t WHERE (id = 1 OR id = 2) AND k = 3 AND NOT j = 4", VALS(LIT("t", "k", 0, 0, "3"))},
    {"SELECT * FROM t WHERE id = some_function() AND x IN (1, f()) AND y NOT IN (1, 2) AND z = ANY($1) AND "
     "w OPERATOR(pg_catalog.=) 1 AND a = b AND v = -'5' AND u = 1 + 1 AND s < 3 AND r = (SELECT 1) AND q = 44",
     VALS(LIT("t", "q", 0, 0, "44"))},
    {"SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE id = 1)", NO_VALS},
    {"SELECT * FROM t WHERE EXISTS (SELECT 1 FROM u WHERE id = 1)", NO_VALS},
    /* relations: aliases, joins, qualifiers, ambiguity */
    {"SELECT * FROM users u JOIN orders o ON o.user_id = u.id WHERE o.id = 5 AND u.id = 6 AND status = 'paid' "
     "AND x.id = 8 AND users.id = 9",
     VALS(LIT("orders", "id", 0, 0, "5"), LIT("users", "id", 1, 0, "6"), LIT(NULL, "status", 2, 0, "'paid'"))},
    {"SELECT * FROM a, b WHERE id = 1", VALS(LIT(NULL, "id", 0, 0, "1"))},
    {"SELECT * FROM a LEFT JOIN (b JOIN c ON true) ON true WHERE c.k = 2 AND k = 3",
     VALS(LIT("c", "k", 0, 0, "2"), LIT(NULL, "k", 1, 0, "3"))},
    {"SELECT * FROM public.users WHERE users.id = 1 AND public.users.id = 2 AND other.users.id = 3 AND id = 4",
     VALS(LIT("public.users", "id", 0, 0, "1"), LIT("public.users", "id", 1, 0, "2"), LIT("public.users", "id", 2, 0, "4"))},
    {"SELECT * FROM cat.sch.tab WHERE sch.tab.x = 1 AND cat.sch.tab.y = 2",
     VALS(LIT("cat.sch.tab", "x", 0, 0, "1"), LIT("cat.sch.tab", "y", 1, 0, "2"))},
    {"SELECT * FROM \"Users\" WHERE \"Id\" = 1 AND Name = 'a'", VALS(LIT("Users", "Id", 0, 0, "1"), LIT("Users", "name", 1, 0, "'a'"))},
    {"SELECT * FROM users TABLESAMPLE SYSTEM (10) WHERE id = 1", VALS(LIT("users", "id", 0, 0, "1"))},
    {"SELECT * FROM t WHERE t.* = 1 AND t.a.b.c.d = 2", NO_VALS},
    /* subqueries, functions, CTEs and aliased joins in FROM: no table to name */
    {"SELECT * FROM (SELECT * FROM users WHERE id = 1) s WHERE id = 2 AND s.id = 3", NO_VALS},
    {"SELECT * FROM users, generate_series(1, 2) g WHERE users.id = 1 AND g = 2 AND id = 3",
     VALS(LIT("users", "id", 0, 0, "1"), LIT(NULL, "g", 1, 0, "2"), LIT(NULL, "id", 2, 0, "3"))},
    {"SELECT * FROM generate_series(1, 2) g WHERE g = 2", NO_VALS},
    {"WITH c AS (SELECT 1 AS id) SELECT * FROM c WHERE id = 1", NO_VALS},
    {"WITH c AS (SELECT 1 AS id) SELECT * FROM c, users WHERE c.id = 1 AND users.id = 2 AND id = 3",
     VALS(LIT("users", "id", 0, 0, "2"), LIT(NULL, "id", 1, 0, "3"))},
    {"WITH c AS (SELECT 1) SELECT * FROM public.c WHERE id = 5", VALS(LIT("public.c", "id", 0, 0, "5"))},
    {"SELECT * FROM (users JOIN orders USING (id)) AS j WHERE id = 1 AND j.id = 2", NO_VALS},
    /* UPDATE ... FROM, DELETE ... USING */
    {"UPDATE users u SET a = 1 FROM orders WHERE u.id = 10 AND id = 11 AND orders.id = 12",
     VALS(LIT("users", "id", 0, 0, "10"), LIT(NULL, "id", 1, 0, "11"), LIT("orders", "id", 2, 0, "12"))},
    {"DELETE FROM users USING orders o WHERE o.id = 1 AND users.id = $2",
     VALS(LIT("orders", "id", 0, 0, "1"), PAR("users", "id", 1, 0, 2))},
    {"UPDATE t SET a = 1 WHERE CURRENT OF c", NO_VALS},
    {"WITH c AS (SELECT 1 AS id) DELETE FROM c USING c AS d WHERE c.id = 1 AND d.id = 2",
     VALS(LIT("c", "id", 0, 0, "1"))},
    /* statements that give nothing */
    {"SELECT 1; SELECT 2", NO_VALS},
    {"SELECT * FROM t WHERE id = 1; SELECT 2", NO_VALS},
    {"SELECT * FROM t WHERE id = 1 UNION SELECT * FROM t WHERE id = 2", NO_VALS},
    {"VALUES (1)", NO_VALS},
    {"EXPLAIN SELECT * FROM t WHERE id = 1", NO_VALS},
    {"SELECT * FROM t WHERE id = 1 FOR UPDATE", VALS(LIT("t", "id", 0, 0, "1"))},
    /* INSERT */
    {"INSERT INTO users (id, name) VALUES (1, 'a'), (DEFAULT, 'b'), (-3, NULL)",
     VALS(LIT("users", "id", 0, 0, "1, 'a'"), UNK("users", "id", 0, 1), NEG("users", "id", 0, 2, "3, NULL"),
          LIT("users", "name", 1, 0, "'a'"), LIT("users", "name", 1, 1, "'b'"), NUL("users", "name", 1, 2))},
    {"INSERT INTO s.t AS x (a, arr[1], b) VALUES ($1, 2, 3), (4) ON CONFLICT (a) DO UPDATE SET b = 5",
     VALS(PAR("s.t", "a", 0, 0, 1), LIT("s.t", "a", 0, 1, "4)"), UNK("s.t", "arr", 1, 0), UNK("s.t", "arr", 1, 1),
          LIT("s.t", "b", 2, 0, "3)"), UNK("s.t", "b", 2, 1))},
    {"INSERT INTO t (a, b) VALUES (now(), $1::int) RETURNING *", VALS(UNK("t", "a", 0, 0), PAR("t", "b", 1, 0, 1))},
    {"WITH c AS (SELECT 1) INSERT INTO t (a) VALUES (E'\\n')", VALS(LIT("t", "a", 0, 0, "E'\\n'"))},
    {"INSERT INTO t VALUES (1, 2)", NO_VALS},
    {"INSERT INTO t (a) SELECT 1", NO_VALS},
    {"INSERT INTO t (a) SELECT a FROM u WHERE a = 1", NO_VALS},
    {"INSERT INTO t DEFAULT VALUES", NO_VALS},
    {"INSERT INTO t (a) VALUES (1), (2) LIMIT 1", NO_VALS},
    {"INSERT INTO t (a) VALUES (1) UNION VALUES (2)", NO_VALS},
};

static int failures = 0;
static void check_invariants(const char *sql, int rc, const pgproxy_sql_analysis *a);
static void check_merge_plan(const char *sql, int analysis_rc);

static bool list_equals(char **items, size_t count, const char *expected) {
    size_t i = 0;
    const char *p = expected;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t length = bar ? (size_t)(bar - p) : strlen(p);
        if (i >= count || strlen(items[i]) != length || strncmp(items[i], p, length) != 0) return false;
        i++;
        p += length + (bar ? 1 : 0);
    }
    return i == count;
}

static void print_list(char **items, size_t count) {
    for (size_t i = 0; i < count; i++) printf("%s%s", i ? "|" : "", items[i]);
}

static void check_case(const expectation *e) {
    pgproxy_sql_analysis a;
    int rc = pgproxy_sql_analyze(e->sql, &a);
    bool ok = rc == e->rc && a.kind == e->kind && a.flags == e->flags &&
              list_equals(a.commands, a.command_count, e->commands) &&
              list_equals(a.tables, a.table_count, e->tables) &&
              list_equals(a.functions, a.function_count, e->functions) &&
              (size_t)a.statement_count == a.command_count && (e->rc == 0) == (a.error == NULL);
    if (!ok) {
        failures++;
        printf("FAIL %s\n  got rc=%d kind=%d flags=0x%x commands=", e->sql, rc, a.kind, a.flags);
        print_list(a.commands, a.command_count);
        printf(" tables=");
        print_list(a.tables, a.table_count);
        printf(" functions=");
        print_list(a.functions, a.function_count);
        printf(" error=%s@%d\n  want rc=%d kind=%d flags=0x%x commands=%s tables=%s functions=%s\n",
               a.error ? a.error : "-", a.error_cursor, e->rc, e->kind, e->flags, e->commands,
               e->tables, e->functions);
    }
    pgproxy_sql_analysis_free(&a);
}

static bool same_text(const char *a, const char *b) {
    return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

static bool value_equals(const char *sql, const pgproxy_sql_column_value *got, const expected_value *want) {
    if (!same_text(got->table, want->table) || !same_text(got->column, want->column) || got->group != want->group ||
        got->row != want->row || got->kind != want->kind || got->negative != want->negative)
        return false;
    if (want->kind == PGPROXY_SQL_VALUE_LITERAL)
        return got->location >= 0 && (size_t)got->location < strlen(sql) &&
               strncmp(sql + got->location, want->text, strlen(want->text)) == 0;
    return got->location == -1 && got->param == want->param;
}

static void print_value(const char *sql, const pgproxy_sql_column_value *v) {
    printf("    %s.%s group=%d row=%d kind=%d location=%d (%.12s) negative=%d param=%d\n", v->table ? v->table : "NULL",
           v->column, v->group, v->row, v->kind, v->location,
           v->location >= 0 && (size_t)v->location < strlen(sql) ? sql + v->location : "", v->negative, v->param);
}

static void check_value_case(const value_expectation *e) {
    pgproxy_sql_analysis a;
    int rc = pgproxy_sql_analyze(e->sql, &a);
    size_t expected = 0;
    while (e->values[expected].column != NULL) expected++;
    bool ok = rc == 0 && a.value_count == expected && !a.values_truncated && (expected > 0) == (a.values != NULL);
    for (size_t i = 0; ok && i < expected; i++) ok = value_equals(e->sql, &a.values[i], &e->values[i]);
    if (!ok) {
        failures++;
        printf("FAIL values of %s\n  got rc=%d, %zu values%s:\n", e->sql, rc, a.value_count,
               a.values_truncated ? " (truncated)" : "");
        for (size_t i = 0; i < a.value_count; i++) print_value(e->sql, &a.values[i]);
        printf("  want %zu values:\n", expected);
        for (size_t i = 0; i < expected; i++) {
            const expected_value *w = &e->values[i];
            printf("    %s.%s group=%d row=%d kind=%d text=%s negative=%d param=%d\n", w->table ? w->table : "NULL",
                   w->column, w->group, w->row, w->kind, w->text ? w->text : "-", w->negative, w->param);
        }
    }
    pgproxy_sql_analysis_free(&a);
}

static void expect(bool condition, const char *what) {
    if (!condition) {
        failures++;
        printf("FAIL %s\n", what);
    }
}

static void check_errors(void) {
    pgproxy_sql_analysis a;
    int rc = pgproxy_sql_analyze("SELEC 1", &a);
    expect(rc == 1 && a.error && strcmp(a.error, "syntax error at or near \"SELEC\"") == 0 && a.error_cursor == 1,
           "error message and cursor for SELEC 1");
    pgproxy_sql_analysis_free(&a);
    pgproxy_sql_analysis_free(&a); /* twice is fine */
    rc = pgproxy_sql_analyze("SELECT * FROM", &a);
    expect(rc == 1 && a.error_cursor == 14 && strstr(a.error, "end of input"), "error at end of input");
    pgproxy_sql_analysis_free(&a);
    rc = pgproxy_sql_analyze("SELECT 'abc", &a);
    expect(rc == 1 && a.error_cursor == 8 && strstr(a.error, "unterminated quoted string"), "scanner error");
    pgproxy_sql_analysis_free(&a);
    expect(pgproxy_sql_analyze(NULL, &a) == PGPROXY_SQL_ANALYSIS_INVALID && (a.flags & PERR), "NULL query");
    pgproxy_sql_analysis_free(&a);
    expect(pgproxy_sql_analyze("SELECT 1", NULL) == PGPROXY_SQL_ANALYSIS_INVALID, "NULL out");
}

/* More than 64 distinct names: the first 64 in text order are kept. */
static void check_caps(void) {
    sb s = {0};
    sb_add(&s, "SELECT ");
    char part[64];
    for (int i = 0; i < 300; i++) {
        snprintf(part, sizeof part, "%sf%d(1)", i ? ", " : "", i);
        sb_add(&s, part);
    }
    sb_add(&s, " FROM ");
    for (int i = 0; i < 300; i++) {
        snprintf(part, sizeof part, "%st%d", i ? ", " : "", i);
        sb_add(&s, part);
    }
    pgproxy_sql_analysis a;
    int rc = pgproxy_sql_analyze(s.buf, &a);
    expect(rc == 0 && a.table_count == 64 && a.function_count == 64 && strcmp(a.tables[0], "t0") == 0 &&
               strcmp(a.tables[63], "t63") == 0 && strcmp(a.functions[63], "f63") == 0,
           "64-name caps keep the first names in text order");
    pgproxy_sql_analysis_free(&a);
    free(s.buf);
}

/* An INSERT of `rows` rows of `columns` columns: "INSERT INTO t (c0, c1 ...) VALUES (0, 0 ...), ..." */
static char *insert_rows(int columns, int rows) {
    sb s = {0};
    char part[32];
    sb_add(&s, "INSERT INTO t (");
    for (int c = 0; c < columns; c++) {
        snprintf(part, sizeof part, "%sc%d", c ? ", " : "", c);
        sb_add(&s, part);
    }
    sb_add(&s, ") VALUES ");
    for (int r = 0; r < rows; r++) {
        sb_add(&s, r ? ", (" : "(");
        for (int c = 0; c < columns; c++) {
            snprintf(part, sizeof part, "%s%d", c ? ", " : "", r);
            sb_add(&s, part);
        }
        sb_add(&s, ")");
    }
    return s.buf;
}

/* PGPROXY_SQL_ANALYSIS_MAX_VALUES values are kept; one more and there are none, truncated. */
static void check_value_caps(void) {
    pgproxy_sql_analysis a;
    char *q = insert_rows(1, PGPROXY_SQL_ANALYSIS_MAX_VALUES);
    int rc = pgproxy_sql_analyze(q, &a);
    const pgproxy_sql_column_value *last = a.value_count ? &a.values[a.value_count - 1] : NULL;
    expect(rc == 0 && a.value_count == PGPROXY_SQL_ANALYSIS_MAX_VALUES && !a.values_truncated && last &&
               last->row == PGPROXY_SQL_ANALYSIS_MAX_VALUES - 1 && last->kind == PGPROXY_SQL_VALUE_LITERAL &&
               strncmp(q + last->location, "65535)", 6) == 0,
           "an INSERT of 65536 values keeps them all");
    pgproxy_sql_analysis_free(&a);
    free(q);

    int shapes[][2] = {{1, 70000}, {2, 35000}, {3, 30000}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        q = insert_rows(shapes[i][0], shapes[i][1]);
        rc = pgproxy_sql_analyze(q, &a);
        expect(rc == 0 && a.value_count == 0 && a.values == NULL && a.values_truncated == 1 && a.kind == W,
               "an INSERT of more than 65536 values gives none, truncated");
        pgproxy_sql_analysis_free(&a);
        free(q);
    }

    /* 20000 values from = conditions (about as many as the depth bound admits), then an IN list
     * that brings them over the cap */
    sb s = {0};
    sb_add(&s, "SELECT * FROM t WHERE a = 1");
    rep(&s, " AND a = 1", 19999);
    sb_add(&s, " AND b IN (1");
    rep(&s, ",1", 50000);
    sb_add(&s, ")");
    rc = pgproxy_sql_analyze(s.buf, &a);
    expect(rc == 0 && a.value_count == 0 && a.values == NULL && a.values_truncated == 1,
           "20000 = conditions and an IN list of 50001 give none, truncated");
    pgproxy_sql_analysis_free(&a);
    expect(a.values == NULL && a.value_count == 0 && a.values_truncated == 0, "free clears the values");
    free(s.buf);
}

/* Deep and huge inputs: never crash; either analysed or refused cleanly. */
static void check_deep(bool quick) {
    int sizes_full[] = {10, 1000, 5000, 20000, 60000};
    int sizes_quick[] = {10, 300, 1500};
    int *sizes = quick ? sizes_quick : sizes_full;
    int nsizes = quick ? 3 : 5;
    int analysed = 0, parse_errors = 0, refused = 0;
    for (int f = 0; families[f]; f++) {
        for (int k = 0; k < nsizes; k++) {
            char *q = gen(families[f], sizes[k]);
            pgproxy_sql_analysis a;
            int rc = pgproxy_sql_analyze(q, &a);
            if (rc == 0) analysed++;
            else if (rc == PGPROXY_SQL_ANALYSIS_PARSE_ERROR) parse_errors++;
            else if (rc == PGPROXY_SQL_ANALYSIS_TOO_COMPLEX) refused++;
            else { failures++; printf("FAIL deep %s %d rc=%d %s\n", families[f], sizes[k], rc, a.error); }
            if (rc != 0) expect(a.kind == U && a.flags == PERR && a.error != NULL, "failed analysis shape");
            pgproxy_sql_analysis_free(&a);
            check_merge_plan(q, rc);
            free(q);
        }
    }
    printf("deep/huge inputs: %d analysed, %d parse errors, %d refused as too complex\n", analysed,
           parse_errors, refused);
    if (!quick) {
        /* a deep tree that really needs the helper thread's big stack */
        char *q = gen("plus", 15000);
        pgproxy_sql_analysis a;
        int rc = pgproxy_sql_analyze(q, &a);
        expect(rc == 0 && a.kind == R, "1+1+...+1 with 15000 terms is analysed (helper thread)");
        pgproxy_sql_analysis_free(&a);
        pgproxy_sql_merge_plan plan;
        rc = pgproxy_sql_merge_plan_make(q, &plan);
        expect(rc == 0 && plan.refusal == NULL && plan.target_count == 1 && plan.targets[0].kind == PGPROXY_SQL_TARGET_OTHER &&
                   !strcmp(plan.targets[0].name, "?column?") && plan.targets_end == (int32_t)strlen(q),
               "merge plan of 1+1+...+1 with 15000 terms (helper thread)");
        pgproxy_sql_merge_plan_free(&plan);
        free(q);
        q = gen("plus", 1000000);
        rc = pgproxy_sql_analyze(q, &a);
        expect(rc == PGPROXY_SQL_ANALYSIS_TOO_COMPLEX && a.kind == U, "1+1+...+1 with a million terms is refused");
        pgproxy_sql_analysis_free(&a);
        rc = pgproxy_sql_merge_plan_make(q, &plan);
        expect(rc == PGPROXY_SQL_ANALYSIS_TOO_COMPLEX && plan.refusal && strstr(plan.refusal, "too deeply nested"),
               "merge plan of 1+1+...+1 with a million terms is refused");
        pgproxy_sql_merge_plan_free(&plan);
        free(q);
        q = gen("in", 300000); /* flat: fine */
        rc = pgproxy_sql_analyze(q, &a);
        expect(rc == 0 && a.kind == R, "IN list of 300000 is analysed");
        pgproxy_sql_analysis_free(&a);
        free(q);
    }
}

/* Random garbage and random token soup. */
static void check_fuzz(int rounds) {
    static const char *tokens[] = {"SELECT", "FROM", "WHERE", "(", ")", "[", "]", ",", ";", "'x'", "$1", "1",
                                   "+", "-", "::", "t", "\"q\"", "AND", "OR", "NOT", "UNION", "JOIN", "ON",
                                   "INSERT", "INTO", "VALUES", "FOR", "UPDATE", "WITH", "AS", "$$", "--",
                                   "/*", "*/", "E'\\''", "f(", "CASE", "WHEN", "THEN", "END", "BEGIN",
                                   "COMMIT", "DROP", "TABLE", "CREATE", "SET", "LOCAL", "EXPLAIN", "ANALYZE",
                                   "COPY", "TO", "STDOUT", "DECLARE", "CURSOR", "\n", "\xff", "\xc3\xa9"};
    unsigned seed = 12345;
    int ok = 0, errors = 0;
    for (int r = 0; r < rounds; r++) {
        sb s = {0};
        sb_add(&s, "");
        int n = (int)(rand_r(&seed) % 60);
        if (r % 4 == 0) {
            char raw[128];
            int len = (int)(rand_r(&seed) % 127);
            for (int i = 0; i < len; i++) raw[i] = (char)(1 + rand_r(&seed) % 255);
            raw[len] = '\0';
            sb_add(&s, raw);
        } else {
            for (int i = 0; i < n; i++) {
                sb_add(&s, tokens[rand_r(&seed) % (sizeof tokens / sizeof tokens[0])]);
                sb_add(&s, " ");
            }
        }
        pgproxy_sql_analysis a;
        int rc = pgproxy_sql_analyze(s.buf, &a);
        if (rc == 0) ok++; else errors++;
        check_invariants(s.buf, rc, &a);
        pgproxy_sql_analysis_free(&a);
        check_merge_plan(s.buf, rc);
        free(s.buf);
    }
    printf("fuzz: %d rounds, %d parsed, %d rejected\n", rounds, ok, errors);
}

/* Where a literal can start: a digit or '.', a quote, E/B/X/N/U& prefixes, $tag$, TRUE/FALSE. */
static bool literal_start(char ch) {
    return (ch >= '0' && ch <= '9') || strchr(".'$EeBbXxNnUuTtFf", ch) != NULL;
}

static bool check_value_invariants(const char *sql, int rc, const pgproxy_sql_analysis *a) {
    if (rc != 0 || a->values_truncated) return a->value_count == 0 && a->values == NULL && (rc == 0 || !a->values_truncated);
    if (a->value_count > PGPROXY_SQL_ANALYSIS_MAX_VALUES || (a->value_count > 0) != (a->values != NULL) ||
        (a->value_count > 0 && a->statement_count != 1))
        return false;
    size_t length = strlen(sql);
    for (size_t i = 0; i < a->value_count; i++) {
        const pgproxy_sql_column_value *v = &a->values[i];
        int32_t previous = i ? a->values[i - 1].group : 0;
        bool ok = v->column && v->column[0] && (!v->table || v->table[0]) && v->row >= 0 &&
                  (v->group == previous || v->group == previous + 1) && (i > 0 || v->group == 0) &&
                  v->kind >= PGPROXY_SQL_VALUE_LITERAL && v->kind <= PGPROXY_SQL_VALUE_UNKNOWN;
        if (v->kind == PGPROXY_SQL_VALUE_LITERAL)
            ok = ok && v->location >= 0 && (size_t)v->location < length && literal_start(sql[v->location]) &&
                 (v->negative == 0 || v->negative == 1);
        else
            ok = ok && v->location == -1 && v->negative == 0;
        if (!ok) {
            printf("bad value %zu: ", i);
            print_value(sql, v);
            return false;
        }
    }
    return true;
}

/* Mutations of the valid cases: truncations, insertions, splices, wrappers. */
static void check_invariants(const char *sql, int rc, const pgproxy_sql_analysis *a) {
    bool ok = a->kind >= U && a->kind <= X && a->table_count <= 64 && a->function_count <= 64;
    if (rc == 0) {
        ok = ok && a->error == NULL && (size_t)a->statement_count == a->command_count &&
             !(a->flags & PERR) && (a->statement_count == 0) == (a->kind == U);
        for (size_t i = 0; ok && i < a->command_count; i++) ok = a->commands[i] && a->commands[i][0];
        for (size_t i = 0; ok && i < a->table_count; i++) ok = a->tables[i] && a->tables[i][0];
        for (size_t i = 0; ok && i < a->function_count; i++) ok = a->functions[i] && a->functions[i][0];
    } else {
        ok = ok && a->error != NULL && a->kind == U && a->flags == PERR && a->statement_count == 0 &&
             a->command_count == 0 && a->table_count == 0 && a->function_count == 0;
    }
    ok = ok && check_value_invariants(sql, rc, a);
    if (!ok) { failures++; printf("FAIL invariants rc=%d: %s\n", rc, sql); }
}

/* The merge plan of any text is well-formed, and its status is the analysis's (same parse). */
static void check_merge_plan(const char *sql, int analysis_rc) {
    pgproxy_sql_merge_plan plan;
    int rc = pgproxy_sql_merge_plan_make(sql, &plan);
    if (!merge_invariants(sql, rc, &plan) || rc != analysis_rc) {
        failures++;
        printf("FAIL merge plan invariants rc=%d (analysis %d): %s\n", rc, analysis_rc, sql);
    }
    pgproxy_sql_merge_plan_free(&plan);
    /* The same text as a COPY to split among shards: refused with a reason, or well-formed. */
    pgproxy_sql_copy_from copy;
    rc = pgproxy_sql_copy_from_make(sql, &copy);
    bool copy_ok = copy.refusal != NULL
                       ? copy.table == NULL && copy.relation_name == NULL && copy.columns == NULL && copy.null_string == NULL
                       : rc == 0 && copy.table != NULL && copy.table[0] && copy.relation_name != NULL && copy.null_string != NULL &&
                             copy.format >= PGPROXY_SQL_COPY_TEXT && copy.format <= PGPROXY_SQL_COPY_BINARY &&
                             copy.delimiter > 0 && copy.delimiter < 256 && copy.quote > 0 && copy.escape > 0;
    for (size_t i = 0; copy_ok && copy.refusal == NULL && i < copy.column_count; i++) copy_ok = copy.columns[i] != NULL;
    if (!copy_ok || (rc != 0 && rc != analysis_rc)) {
        failures++;
        printf("FAIL copy-from invariants rc=%d (analysis %d): %s\n", rc, analysis_rc, sql);
    }
    pgproxy_sql_copy_from_free(&copy);
    pgproxy_sql_copy_from_free(&copy); /* safe twice */
}

static void check_mutations(int rounds) {
    static const char *inserts[] = {"(", ")", ";", ",", "'", "\"", "$$", "/*", "--", " FOR UPDATE ",
                                    " UNION SELECT 1 ", " WITH x AS (SELECT 1) ", "EXPLAIN ANALYZE ",
                                    " INSERT INTO t VALUES (1) ", "nextval(", " JOIN t ON true ", "$1", "\\"};
    size_t n = sizeof cases / sizeof cases[0], nv = sizeof value_cases / sizeof value_cases[0];
    size_t nm = merge_case_count();
    unsigned seed = 777;
    int ok = 0, errors = 0;
    for (int r = 0; r < rounds; r++) {
        size_t pick = rand_r(&seed) % (n + nv + nm);
        const char *base = pick < n ? cases[pick].sql : pick < n + nv ? value_cases[pick - n].sql : merge_case_sql(pick - n - nv);
        size_t length = strlen(base);
        sb s = {0};
        sb_add(&s, "");
        char *copy = strdup(base);
        switch (rand_r(&seed) % 5) {
        case 0: /* truncate */
            copy[length ? rand_r(&seed) % length : 0] = '\0';
            sb_add(&s, copy);
            break;
        case 1: { /* insert */
            size_t at = length ? rand_r(&seed) % length : 0;
            char saved = copy[at];
            copy[at] = '\0';
            sb_add(&s, copy);
            sb_add(&s, inserts[rand_r(&seed) % (sizeof inserts / sizeof inserts[0])]);
            copy[at] = saved;
            sb_add(&s, copy + at);
            break;
        }
        case 2: /* splice two statements */
            sb_add(&s, base);
            sb_add(&s, rand_r(&seed) % 2 ? "; " : " ");
            sb_add(&s, cases[rand_r(&seed) % n].sql);
            break;
        case 3: /* wrappers */
            sb_add(&s, rand_r(&seed) % 2 ? "EXPLAIN ANALYZE " : "PREPARE p AS ");
            sb_add(&s, base);
            break;
        default: /* as a subquery */
            sb_add(&s, "SELECT * FROM (");
            sb_add(&s, base);
            sb_add(&s, ") AS sub");
            break;
        }
        free(copy);
        pgproxy_sql_analysis a;
        int rc = pgproxy_sql_analyze(s.buf, &a);
        if (rc == 0) ok++; else errors++;
        check_invariants(s.buf, rc, &a);
        pgproxy_sql_analysis_free(&a);
        check_merge_plan(s.buf, rc);
        free(s.buf);
    }
    printf("mutations: %d rounds, %d parsed, %d rejected\n", rounds, ok, errors);
}

/* ---- the depth bound against reality ---- */

typedef struct { const ProtobufCMessage *message; size_t depth; } depth_frame;

static size_t tree_depth(const ProtobufCMessage *root) {
    size_t capacity = 1024, count = 0, best = 0;
    depth_frame *stack = malloc(capacity * sizeof *stack);
    stack[count++] = (depth_frame){root, 1};
    while (count > 0) {
        depth_frame frame = stack[--count];
        if (frame.depth > best) best = frame.depth;
        const ProtobufCMessageDescriptor *d = frame.message->descriptor;
        const char *base = (const char *)frame.message;
        for (unsigned i = 0; i < d->n_fields; i++) {
            const ProtobufCFieldDescriptor *f = &d->fields[i];
            if (f->type != PROTOBUF_C_TYPE_MESSAGE) continue;
            size_t n = 1;
            ProtobufCMessage *const *items = (ProtobufCMessage *const *)(base + f->offset);
            if (f->label == PROTOBUF_C_LABEL_REPEATED) {
                n = *(const size_t *)(base + f->quantifier_offset);
                items = *(ProtobufCMessage *const *const *)(base + f->offset);
            } else if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                       *(const uint32_t *)(base + f->quantifier_offset) != f->id) {
                continue;
            }
            for (size_t j = 0; items && j < n; j++) {
                if (items[j] == NULL) continue;
                if (count == capacity) stack = realloc(stack, (capacity *= 2) * sizeof *stack);
                stack[count++] = (depth_frame){items[j], frame.depth + 1};
            }
        }
    }
    free(stack);
    return best;
}

typedef struct { const char *query; size_t depth; bool parsed; } depth_job;

/* What analyze_parsed does that recurses: parse, unpack, free. */
static void *depth_main(void *argument) {
    depth_job *job = argument;
    PgQueryProtobufParseResult result = pg_query_parse_protobuf(job->query);
    if (result.error == NULL) {
        PgQuery__ParseResult *tree = pg_query__parse_result__unpack(
            NULL, result.parse_tree.len, (const uint8_t *)result.parse_tree.data);
        job->depth = tree_depth(&tree->base);
        job->parsed = true;
        pg_query__parse_result__free_unpacked(tree, NULL);
    }
    pg_query_free_protobuf_parse_result(result);
    return NULL;
}

/* Runs depth_main on a thread whose stack is painted; returns the bytes it used. */
static size_t stack_used(depth_job *job) {
    const size_t size = (size_t)1 << 30, painted = (size_t)64 << 20;
    char *memory = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    memset(memory + size - painted, 0xA5, painted);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, memory, size);
    pthread_t thread;
    pthread_create(&thread, &attr, depth_main, job);
    pthread_join(thread, NULL);
    pthread_attr_destroy(&attr);
    size_t used = 0;
    for (size_t i = size - painted; i < size; i++)
        if ((unsigned char)memory[i] != 0xA5) { used = size - i; break; }
    munmap(memory, size);
    return used;
}

static void check_one_bound(const char *name, int n, const char *query, double *worst_ratio, double *worst_bytes) {
    uint64_t bound;
    char *error;
    int32_t cursor;
    if (!sa_estimate_depth(query, &bound, &error, &cursor)) { free(error); return; }
    depth_job job = {query, 0, false};
    size_t used = stack_used(&job);
    if (!job.parsed) return;
    double ratio = (double)job.depth / (double)bound;
    double bytes = (double)(used > 16384 ? used - 16384 : 0) / (double)bound;
    if (ratio > *worst_ratio) *worst_ratio = ratio;
    if (bytes > *worst_bytes) *worst_bytes = bytes;
    bool ok = ratio <= 0.8 && used <= 16384 + bound * (SA_STACK_PER_LEVEL / 2) &&
              (bound > SA_INLINE_MAX_BOUND || used <= 160 * 1024);
    if (!ok) {
        failures++;
        printf("FAIL bound %s n=%d: bound %llu, real depth %zu, stack %zu bytes\n", name, n,
               (unsigned long long)bound, job.depth, used);
    }
}

static void check_bound(void) {
    double worst_ratio = 0, worst_bytes = 0;
    int sizes[] = {1, 10, 100, 1000, 2000};
    for (int f = 0; families[f]; f++)
        for (int k = 0; k < 5; k++) {
            char *q = gen(families[f], sizes[k]);
            check_one_bound(families[f], sizes[k], q, &worst_ratio, &worst_bytes);
            free(q);
        }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_one_bound("case", (int)i, cases[i].sql, &worst_ratio, &worst_bytes);
    printf("bound: real depth <= %.2f x bound, stack <= 16 KB + %.0f bytes x bound (allowed: 0.8, %u)\n",
           worst_ratio, worst_bytes, SA_STACK_PER_LEVEL / 2);
}

/* Several threads at once, including one with a small (256 KB) stack. */
static void *thread_main(void *arg) {
    (void)arg;
    size_t n = sizeof cases / sizeof cases[0];
    size_t nv = sizeof value_cases / sizeof value_cases[0];
    for (int round = 0; round < 20; round++) {
        for (size_t i = 0; i < n; i++) check_case(&cases[i]);
        for (size_t i = 0; i < nv; i++) check_value_case(&value_cases[i]);
        int merge_failed = check_merge_cases();
        if (merge_failed) __atomic_fetch_add(&failures, merge_failed, __ATOMIC_RELAXED);
    }
    char *q = gen("join", 300); /* goes to the helper thread */
    pgproxy_sql_analysis a;
    if (pgproxy_sql_analyze(q, &a) != 0) { failures++; printf("FAIL threaded join\n"); }
    pgproxy_sql_analysis_free(&a);
    free(q);
    /* No pg_query_exit() here: libpg_query frees the thread's memory context when the thread
     * exits, and calling pg_query_exit() first makes that a double free. */
    return NULL;
}

static void check_threads(void) {
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        if (i == 0) pthread_attr_setstacksize(&attr, 256 * 1024);
        pthread_create(&threads[i], &attr, thread_main, NULL);
        pthread_attr_destroy(&attr);
    }
    for (int i = 0; i < 4; i++) pthread_join(threads[i], NULL);
}

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Best of 5 batches: the figure least disturbed by other work on the machine. */
static double time_query(const char *q, int iterations) {
    pgproxy_sql_analysis a;
    for (int i = 0; i < 100; i++) { pgproxy_sql_analyze(q, &a); pgproxy_sql_analysis_free(&a); }
    double best = 1e30;
    for (int batch = 0; batch < 5; batch++) {
        double start = now_us();
        for (int i = 0; i < iterations; i++) {
            pgproxy_sql_analyze(q, &a);
            pgproxy_sql_analysis_free(&a);
        }
        double each = (now_us() - start) / iterations;
        if (each < best) best = each;
    }
    return best;
}

int main(int argc, char **argv) {
    bool quick = argc > 1 && strcmp(argv[1], "quick") == 0;
    size_t n = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n; i++) check_case(&cases[i]);
    printf("%zu statement cases checked\n", n);
    size_t nv = sizeof value_cases / sizeof value_cases[0];
    for (size_t i = 0; i < nv; i++) check_value_case(&value_cases[i]);
    printf("%zu column value cases checked\n", nv);
    failures += check_merge_cases();
    printf("%zu merge plan cases checked\n", merge_case_count());
    check_errors();
    check_caps();
    check_value_caps();
    const char *only = argc > 2 ? argv[2] : "";
    if ((!*only && !quick) || !strcmp(only, "bound")) check_bound();
    double t0 = now_us();
    if (!*only || !strcmp(only, "deep")) check_deep(quick);
    double t1 = now_us();
    if (!*only || !strcmp(only, "fuzz")) {
        check_fuzz(quick ? 300 : 20000);
        check_mutations(quick ? 500 : 20000);
    }
    double t2 = now_us();
    if (!*only || !strcmp(only, "threads")) check_threads();
    printf("phases: deep %.1fs fuzz %.1fs threads %.1fs\n", (t1 - t0) / 1e6, (t2 - t1) / 1e6, (now_us() - t2) / 1e6);
    if (!quick && (!*only || !strcmp(only, "bench"))) {
        const char *pgbench = "SELECT abalance FROM pgbench_accounts WHERE aid = 48213";
        printf("pgbench select: %.2f us per analysis\n", time_query(pgbench, 20000));
        printf("pgbench update: %.2f us per analysis\n",
               time_query("UPDATE pgbench_accounts SET abalance = abalance + -4213 WHERE aid = 48213", 20000));
        const char *orm = "SELECT u.id, u.name, u.email, o.id, o.total FROM users u JOIN orders o ON o.user_id = u.id "
                          "WHERE u.active = true AND o.created_at > $1 AND o.status IN ('paid', 'shipped') "
                          "ORDER BY o.created_at DESC LIMIT 50";
        printf("ORM-style join: %.2f us per analysis\n", time_query(orm, 4000));
        char *q = gen("join", 100);
        printf("100-way join (helper thread): %.2f us per analysis\n", time_query(q, 400));
        free(q);
    }
    pg_query_exit();
    printf(failures ? "%d FAILURES\n" : "all passed\n", failures);
    return failures ? 1 : 0;
}
