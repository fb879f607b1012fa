-- DuckDB copy of queries/views/users_checked.sql (sha256 f2b2cafb5c31a65e), written by
-- benches/duckdb/mirror.py: edit queries/views/users_checked.sql and re-run it, not this file.
-- users, each row tagged with the first data-quality check it fails (dq_check), or NULL.
--   duplicate_id   a second row with the same id; the copy with the earliest created_at stays
--   null_required  id or created_at is NULL
--   after_as_of    created_at later than the snapshot's as_of
-- signup_date and cohort_week are in the report's zone ($tz); weeks start on Monday.
-- Only ids that occur more than once are ranked (users_duplicate_ids, see
-- user_events_checked.sql).
WITH ranked AS (
    SELECT u.*, 1 AS dq_copy
    FROM users u
    WHERE NOT EXISTS (SELECT 1 FROM users_duplicate_ids d WHERE d.id = u.id)
    UNION ALL
    SELECT
        u.*,
        row_number() OVER (
            PARTITION BY u.id
            ORDER BY u.created_at, u.is_active, u.login_attempts, u.display_name
        ) AS dq_copy
    FROM users u
    WHERE u.id IN (SELECT id FROM users_duplicate_ids)
)
SELECT
    ranked.* EXCLUDE (dq_copy),
    local_date(created_at) AS signup_date,
    local_week(created_at) AS cohort_week,
    local_month(created_at) AS signup_month,
    CASE
        WHEN id IS NOT NULL AND dq_copy > 1 THEN 'duplicate_id'
        WHEN id IS NULL OR created_at IS NULL THEN 'null_required'
        WHEN created_at > getvariable('as_of') THEN 'after_as_of'
    END AS dq_check
FROM ranked
