-- DuckDB copy of queries/views/report_users.sql (sha256 9e22d9329c9eb571), written by
-- benches/duckdb/mirror.py: edit queries/views/report_users.sql and re-run it, not this file.
-- The users every metric counts: clean users, with --active-only applied
-- (is_active true or NULL; the snapshot's current value, also for past periods).
SELECT *
FROM users_clean
WHERE NOT getvariable('active_only') OR is_active IS NOT FALSE
