/* families.h — adversarial query shapes for check.c: gen(name, n) returns a malloc'ed SQL text whose
 * parse tree is n levels deep (or n items wide). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
typedef struct { char *buf; size_t len, cap; } sb;
static void sb_add(sb *s, const char *t) { size_t l = strlen(t); if (s->len + l + 1 > s->cap) { s->cap = (s->len + l + 1) * 2; s->buf = realloc(s->buf, s->cap); } memcpy(s->buf + s->len, t, l + 1); s->len += l; }
static void rep(sb *s, const char *t, int n) { for (int i = 0; i < n; i++) sb_add(s, t); }
static const char *families[] = {"plus","concat","unary","not","cast","castarr","collate","join","crossjoin","union","func","sub","fromsub","case","array","parenplus","attz","and","orand","in","values","insub","exists","between","isnull","indir","row","cte","customop","jsonop","muldiv","boolparen","negparen","updateplus","insertsel","lateral","window","coalesce","likeparen","anyarr","setop_paren","with_dml","dots","indirdots","subdots","starcols","andparen","joinparen", NULL};
static char *gen(const char *f, int n) {
  sb s = {0}; sb_add(&s, "");
  if (!strcmp(f,"plus")) { sb_add(&s,"SELECT 1"); rep(&s,"+1",n); }
  else if (!strcmp(f,"concat")) { sb_add(&s,"SELECT a"); rep(&s,"||a",n); }
  else if (!strcmp(f,"unary")) { sb_add(&s,"SELECT "); rep(&s,"- ",n); sb_add(&s,"x"); }
  else if (!strcmp(f,"not")) { sb_add(&s,"SELECT "); rep(&s,"NOT ",n); sb_add(&s,"true"); }
  else if (!strcmp(f,"cast")) { sb_add(&s,"SELECT x"); rep(&s,"::foo",n); }
  else if (!strcmp(f,"castarr")) { sb_add(&s,"SELECT x"); rep(&s,"::foo[]",n); }
  else if (!strcmp(f,"collate")) { sb_add(&s,"SELECT x"); rep(&s," COLLATE \"C\"",n); }
  else if (!strcmp(f,"join")) { sb_add(&s,"SELECT * FROM a"); rep(&s," JOIN a ON true",n); }
  else if (!strcmp(f,"crossjoin")) { sb_add(&s,"SELECT * FROM a"); rep(&s," CROSS JOIN a",n); }
  else if (!strcmp(f,"union")) { sb_add(&s,"SELECT 1"); rep(&s," UNION SELECT 1",n); }
  else if (!strcmp(f,"func")) { sb_add(&s,"SELECT "); rep(&s,"f(",n); sb_add(&s,"1"); rep(&s,")",n); }
  else if (!strcmp(f,"sub")) { sb_add(&s,"SELECT "); rep(&s,"(SELECT ",n); sb_add(&s,"1"); rep(&s,")",n); }
  else if (!strcmp(f,"fromsub")) { sb_add(&s,"SELECT * FROM "); rep(&s,"(SELECT * FROM ",n); sb_add(&s,"t"); rep(&s,") x",n); }
  else if (!strcmp(f,"case")) { sb_add(&s,"SELECT "); rep(&s,"CASE WHEN x THEN ",n); sb_add(&s,"1"); rep(&s," END",n); }
  else if (!strcmp(f,"array")) { sb_add(&s,"SELECT "); rep(&s,"ARRAY[",n); sb_add(&s,"1"); rep(&s,"]",n); }
  else if (!strcmp(f,"parenplus")) { sb_add(&s,"SELECT "); rep(&s,"1+(",n); sb_add(&s,"1"); rep(&s,")",n); }
  else if (!strcmp(f,"attz")) { sb_add(&s,"SELECT x"); rep(&s," AT TIME ZONE 'a'",n); }
  else if (!strcmp(f,"and")) { sb_add(&s,"SELECT 1 FROM t WHERE a=1"); rep(&s," AND a=1",n); }
  else if (!strcmp(f,"orand")) { sb_add(&s,"SELECT 1 FROM t WHERE a"); rep(&s," OR a AND b",n); }
  else if (!strcmp(f,"in")) { sb_add(&s,"SELECT 1 FROM t WHERE a IN (1"); rep(&s,",1",n); sb_add(&s,")"); }
  else if (!strcmp(f,"values")) { sb_add(&s,"INSERT INTO t VALUES (1,'a')"); rep(&s,",(1,'a')",n); }
  else if (!strcmp(f,"insub")) { sb_add(&s,"SELECT 1 FROM t WHERE a IN "); rep(&s,"(SELECT a FROM t WHERE a IN ",n); sb_add(&s,"(1)"); rep(&s,")",n); }
  else if (!strcmp(f,"exists")) { sb_add(&s,"SELECT 1 WHERE "); rep(&s,"EXISTS (SELECT 1 WHERE ",n); sb_add(&s,"true"); rep(&s,")",n); }
  else if (!strcmp(f,"between")) { sb_add(&s,"SELECT "); rep(&s,"1 BETWEEN 0 AND (",n); sb_add(&s,"1"); rep(&s,")",n); }
  else if (!strcmp(f,"isnull")) { sb_add(&s,"SELECT "); rep(&s,"(",n); sb_add(&s,"x"); rep(&s," IS NULL)",n); }
  else if (!strcmp(f,"indir")) { sb_add(&s,"SELECT "); rep(&s,"(",n); sb_add(&s,"x"); rep(&s,").a",n); }
  else if (!strcmp(f,"row")) { sb_add(&s,"SELECT "); rep(&s,"ROW(",n); sb_add(&s,"1"); rep(&s,")",n); }
  else if (!strcmp(f,"cte")) { sb_add(&s,""); rep(&s,"WITH a AS (",n); sb_add(&s,"SELECT 1"); rep(&s,") SELECT 1",n); }
  else if (!strcmp(f,"customop")) { sb_add(&s,"SELECT 1"); rep(&s," @@ 1",n); }
  else if (!strcmp(f,"jsonop")) { sb_add(&s,"SELECT x"); rep(&s,"->'a'",n); }
  else if (!strcmp(f,"muldiv")) { sb_add(&s,"SELECT 1"); rep(&s,"*1+1",n); }
  else if (!strcmp(f,"boolparen")) { sb_add(&s,"SELECT 1 WHERE "); rep(&s,"a OR (b AND (",n); sb_add(&s,"c"); rep(&s,"))",n); }
  else if (!strcmp(f,"negparen")) { sb_add(&s,"SELECT "); rep(&s,"-(",n); sb_add(&s,"1"); rep(&s,")",n); }
  else if (!strcmp(f,"updateplus")) { sb_add(&s,"UPDATE t SET a = a"); rep(&s,"+1",n); }
  else if (!strcmp(f,"insertsel")) { sb_add(&s,"INSERT INTO t SELECT 1"); rep(&s," UNION ALL SELECT 1",n); }
  else if (!strcmp(f,"lateral")) { sb_add(&s,"SELECT * FROM t"); rep(&s,", LATERAL (SELECT * FROM t",n); rep(&s,") x",n); }
  else if (!strcmp(f,"window")) { sb_add(&s,"SELECT "); rep(&s,"sum(",n); sb_add(&s,"1"); rep(&s,") OVER ()",n); }
  else if (!strcmp(f,"coalesce")) { sb_add(&s,"SELECT "); rep(&s,"COALESCE(",n); sb_add(&s,"1"); rep(&s,",1)",n); }
  else if (!strcmp(f,"likeparen")) { sb_add(&s,"SELECT "); rep(&s,"'a' LIKE (",n); sb_add(&s,"'a'"); rep(&s,")",n); }
  else if (!strcmp(f,"anyarr")) { sb_add(&s,"SELECT "); rep(&s,"1 = ANY(ARRAY[",n); sb_add(&s,"1"); rep(&s,"])",n); }
  else if (!strcmp(f,"setop_paren")) { sb_add(&s,""); rep(&s,"(SELECT 1 UNION ",n); sb_add(&s,"SELECT 1"); rep(&s,")",n); }
  else if (!strcmp(f,"with_dml")) { sb_add(&s,"WITH "); rep(&s,"a AS (INSERT INTO t SELECT 1 RETURNING 1), ",n); sb_add(&s,"b AS (SELECT 1) SELECT 1"); }
  else if (!strcmp(f,"dots")) { sb_add(&s,"SELECT x"); rep(&s,".a",n); }
  else if (!strcmp(f,"indirdots")) { sb_add(&s,"SELECT (x)"); rep(&s,".a[1]",n); }
  else if (!strcmp(f,"subdots")) { sb_add(&s,"SELECT "); rep(&s,"(SELECT (",n); sb_add(&s,"x"); rep(&s,").a)",n); }
  else if (!strcmp(f,"starcols")) { sb_add(&s,"SELECT t.*"); rep(&s,", s.t.*, (x).*",n); sb_add(&s," FROM t"); }
  else if (!strcmp(f,"andparen")) { sb_add(&s,"SELECT 1 FROM t WHERE a=1"); rep(&s," AND (a=1",n); rep(&s,")",n); }
  else if (!strcmp(f,"joinparen")) { sb_add(&s,"SELECT 1 FROM t"); rep(&s," JOIN (t",n); sb_add(&s," JOIN t ON true"); rep(&s,") ON true",n); sb_add(&s," WHERE t.a=1"); }
  else { free(s.buf); return NULL; }
  return s.buf;
}
