-- users, each row tagged with the first data-quality check it fails (dq_check), or NULL.
--   duplicate_id   a second row with the same id; the copy with the earliest created_at stays
--   null_required  id or created_at is NULL
--   before_epoch   created_at before 1970-01-01: no real signup, and the calendars start
--                  at the first signup
--   after_as_of    created_at later than the snapshot's as_of
-- is_active is true where the export has no such column or leaves it NULL.
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
    ranked.* EXCLUDE (dq_copy) REPLACE (coalesce(is_active, true) AS is_active),
    local_date(created_at, $tz) AS signup_date,
    local_week(created_at, $tz) AS cohort_week,
    local_month(created_at, $tz) AS signup_month,
    CASE
        WHEN id IS NOT NULL AND dq_copy > 1 THEN 'duplicate_id'
        WHEN id IS NULL OR created_at IS NULL THEN 'null_required'
        WHEN created_at < TIMESTAMP '1970-01-01T00:00:00Z' THEN 'before_epoch'
        WHEN created_at > $as_of THEN 'after_as_of'
    END AS dq_check
FROM ranked
