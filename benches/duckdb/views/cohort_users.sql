-- DuckDB copy of queries/views/cohort_users.sql (sha256 e59bcb83ad29733a), written by
-- benches/duckdb/mirror.py: edit queries/views/cohort_users.sql and re-run it, not this file.
-- The users the cohort metrics count: report_users whose signup date (in the report's
-- zone) is within --from / --to, both inclusive.
SELECT *
FROM report_users
WHERE (getvariable('from_date') IS NULL OR signup_date >= getvariable('from_date'))
  AND (getvariable('to_date') IS NULL OR signup_date <= getvariable('to_date'))
