-- DuckDB copy of queries/views/users_checked.sql (sha256 82f48fd5a200ba8a), written by
-- benches/duckdb/mirror.py: edit queries/views/users_checked.sql and re-run it, not this file.
-- users, each row tagged with the first data-quality check it fails (dq_check), or NULL.
--   duplicate_id   a second row with the same id; the copy with the earliest created_at stays
--   null_required  id or created_at is NULL
--   after_as_of    created_at later than the snapshot's as_of
-- signup_date and cohort_week are in the report's zone ($tz); weeks start on Monday.
WITH ranked AS (
    SELECT
        u.*,
        row_number() OVER (
            PARTITION BY u.id
            ORDER BY u.created_at, u.is_active, u.login_attempts, u.display_name
        ) AS dq_copy
    FROM users u
)
SELECT
    ranked.* EXCLUDE (dq_copy),
    CAST(local_time(created_at) AS DATE) AS signup_date,
    CAST(date_trunc('week', local_time(created_at)) AS DATE) AS cohort_week,
    CAST(date_trunc('month', local_time(created_at)) AS DATE) AS signup_month,
    CASE
        WHEN id IS NOT NULL AND dq_copy > 1 THEN 'duplicate_id'
        WHEN id IS NULL OR created_at IS NULL THEN 'null_required'
        WHEN created_at > getvariable('as_of') THEN 'after_as_of'
    END AS dq_check
FROM ranked
