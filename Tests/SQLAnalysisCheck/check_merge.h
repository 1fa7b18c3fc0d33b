/* check_merge.h — the merge plan checks (check_merge.c), used by check.c. */
#ifndef CHECK_MERGE_H
#define CHECK_MERGE_H
#include <stdbool.h>
#include <stddef.h>
#include "pgproxy_sql_analysis.h"

/* Runs the table of accepted and refused statements and the error cases; returns the failures. */
int check_merge_cases(void);
/* Whether `plan` (made from `sql` with status `rc`) is well-formed whatever the text. */
bool merge_invariants(const char *sql, int rc, const pgproxy_sql_merge_plan *plan);
/* The statements of the tables, for mutations. */
size_t merge_case_count(void);
const char *merge_case_sql(size_t i);
#endif
