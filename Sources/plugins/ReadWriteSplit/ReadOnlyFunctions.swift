/// PostgreSQL built-in functions that never write and work on a hot standby, lower-case. A READ
/// statement calling anything else (including every user function, unless named in
/// `read_only_functions`) goes to the primary.
///
/// Deliberately absent, because they write, assign a transaction id, take locks or fail on a
/// standby: nextval, setval, currval, lastval, pg_advisory_*, pg_try_advisory_*, txid_current,
/// txid_current_snapshot, pg_current_xact_id, set_config, setseed, pg_notify, lo_*,
/// pg_terminate_backend, pg_cancel_backend, pg_reload_conf, pg_switch_wal, pg_current_wal_lsn,
/// pg_create_restore_point, pg_sleep, dblink_exec.
let builtInReadOnlyFunctions: [String] = [
    // Aggregates
    "count", "sum", "avg", "min", "max", "array_agg", "string_agg", "bool_and", "bool_or",
    "every", "bit_and", "bit_or", "bit_xor", "json_agg", "jsonb_agg", "json_agg_strict",
    "jsonb_agg_strict", "json_object_agg", "jsonb_object_agg", "xmlagg", "any_value",
    "stddev", "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp", "corr",
    "covar_pop", "covar_samp", "regr_avgx", "regr_avgy", "regr_count", "regr_intercept",
    "regr_r2", "regr_slope", "regr_sxx", "regr_sxy", "regr_syy", "mode", "percentile_cont",
    "percentile_disc", "range_agg", "range_intersect_agg",

    // Window functions
    "row_number", "rank", "dense_rank", "lag", "lead", "first_value", "last_value",
    "nth_value", "ntile", "percent_rank", "cume_dist",

    // Strings
    "lower", "upper", "length", "char_length", "character_length", "octet_length",
    "bit_length", "substr", "substring", "trim", "btrim", "ltrim", "rtrim", "concat",
    "concat_ws", "replace", "split_part", "strpos", "position", "left", "right", "lpad",
    "rpad", "repeat", "reverse", "format", "md5", "sha224", "sha256", "sha384", "sha512",
    "initcap", "overlay", "regexp_replace", "regexp_match", "regexp_matches",
    "regexp_split_to_array", "regexp_split_to_table", "regexp_count", "regexp_instr",
    "regexp_like", "regexp_substr", "starts_with", "encode", "decode", "quote_ident",
    "quote_literal", "quote_nullable", "to_hex", "ascii", "chr", "translate", "normalize",
    "is_normalized", "string_to_table", "similar_to_escape", "similar_escape", "like_escape",

    // Math
    "abs", "ceil", "ceiling", "floor", "round", "trunc", "mod", "power", "pow", "sqrt",
    "cbrt", "exp", "ln", "log", "log10", "sign", "random", "pi", "div", "width_bucket",
    "degrees", "radians", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "gcd", "lcm",
    "factorial", "scale",

    // Date and time
    "now", "date_trunc", "date_part", "extract", "age", "clock_timestamp",
    "statement_timestamp", "transaction_timestamp", "timeofday", "make_date", "make_time",
    "make_timestamp", "make_timestamptz", "make_interval", "to_char", "to_date",
    "to_timestamp", "to_number", "justify_days", "justify_hours", "justify_interval",
    "isfinite", "date_bin", "timezone", "overlaps",

    // JSON
    "to_json", "to_jsonb", "row_to_json", "array_to_json", "json_build_object",
    "jsonb_build_object", "json_build_array", "jsonb_build_array", "json_object",
    "jsonb_object", "json_extract_path", "json_extract_path_text", "jsonb_extract_path",
    "jsonb_extract_path_text", "json_array_elements", "jsonb_array_elements",
    "json_array_elements_text", "jsonb_array_elements_text", "json_each", "jsonb_each",
    "json_each_text", "jsonb_each_text", "json_typeof", "jsonb_typeof", "json_array_length",
    "jsonb_array_length", "jsonb_set", "jsonb_set_lax", "jsonb_insert", "json_strip_nulls",
    "jsonb_strip_nulls", "jsonb_pretty", "jsonb_path_query", "jsonb_path_query_array",
    "jsonb_path_query_first", "jsonb_path_exists", "jsonb_path_match", "json_object_keys",
    "jsonb_object_keys", "json_populate_record", "jsonb_populate_record",
    "json_populate_recordset", "jsonb_populate_recordset", "json_to_record", "jsonb_to_record",
    "json_to_recordset", "jsonb_to_recordset",

    // Arrays
    "array_length", "array_lower", "array_upper", "array_dims", "array_ndims", "cardinality",
    "unnest", "array_to_string", "string_to_array", "array_position", "array_positions",
    "array_remove", "array_replace", "array_append", "array_prepend", "array_cat",
    "array_fill", "trim_array", "generate_series", "generate_subscripts",

    // Ranges
    "isempty", "lower_inf", "upper_inf", "lower_inc", "upper_inc", "range_merge",

    // Conditional expressions, session and server information
    "coalesce", "nullif", "greatest", "least", "version", "pg_is_in_recovery",
    "inet_server_port", "inet_server_addr", "inet_client_addr", "inet_client_port",
    "current_database", "current_catalog", "current_schema", "current_schemas",
    "current_user", "current_role", "session_user", "user", "current_setting",
    "pg_backend_pid", "pg_postmaster_start_time", "pg_conf_load_time", "pg_typeof",
    "pg_collation_for", "format_type",

    // Catalog information
    "pg_get_viewdef", "pg_get_indexdef", "pg_get_constraintdef", "pg_get_functiondef",
    "pg_get_function_arguments", "pg_get_function_result", "pg_get_triggerdef",
    "pg_get_ruledef", "pg_get_expr", "pg_get_userbyid", "pg_get_serial_sequence",
    "obj_description", "col_description", "shobj_description", "has_table_privilege",
    "has_schema_privilege", "has_database_privilege", "has_column_privilege",
    "has_function_privilege", "has_sequence_privilege", "pg_has_role", "pg_table_is_visible",
    "pg_type_is_visible", "pg_function_is_visible", "to_regclass", "to_regtype",
    "to_regproc", "to_regprocedure", "to_regnamespace", "to_regrole",

    // Sizes
    "pg_size_pretty", "pg_size_bytes", "pg_relation_size", "pg_total_relation_size",
    "pg_table_size", "pg_indexes_size", "pg_database_size", "pg_column_size",

    // Replication status (answers on a standby)
    "pg_last_wal_replay_lsn", "pg_last_wal_receive_lsn", "pg_last_xact_replay_timestamp",
    "pg_is_wal_replay_paused", "pg_wal_lsn_diff",

    // Misc
    "gen_random_uuid",
]
