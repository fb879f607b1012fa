-- DuckDB copy of queries/views/onboarding_responses_checked.sql (sha256 34553d856b84a69b), written by
-- benches/duckdb/mirror.py: edit queries/views/onboarding_responses_checked.sql and re-run it, not this file.
-- onboarding_responses, each row tagged with the first check it fails, or NULL.
--   duplicate_id            a second row with the same id; the earliest started_at stays
--   null_required           id, user_id, started_at, total_steps or last_step_completed is NULL
--   orphan_user_id          user_id is not a (clean) user
--   after_as_of             started_at later than as_of
--   total_steps_out_of_range  total_steps outside 0..=1000: no questionnaire is longer,
--                           and the drop-off table has a row per step
--   last_step_out_of_range  last_step_completed outside 0..=total_steps
--   duplicate_user_id       a second row of one user; the earliest started_at stays
-- Only ids that occur more than once are ranked (onboarding_responses_duplicate_ids, see
-- user_events_checked.sql).
WITH ranked AS (
    SELECT o.*, 1 AS dq_copy
    FROM onboarding_responses o
    WHERE NOT EXISTS (SELECT 1 FROM onboarding_responses_duplicate_ids d WHERE d.id = o.id)
    UNION ALL
    SELECT
        o.*,
        row_number() OVER (
            PARTITION BY o.id
            ORDER BY o.started_at, o.user_id, o.last_step_completed, o.completed_at
        ) AS dq_copy
    FROM onboarding_responses o
    WHERE o.id IN (SELECT id FROM onboarding_responses_duplicate_ids)
),
tagged AS (
    SELECT
        r.* EXCLUDE (dq_copy),
        CASE
            WHEN r.id IS NOT NULL AND r.dq_copy > 1 THEN 'duplicate_id'
            WHEN r.id IS NULL OR r.user_id IS NULL OR r.started_at IS NULL
                OR r.total_steps IS NULL OR r.last_step_completed IS NULL THEN 'null_required'
            WHEN u.id IS NULL THEN 'orphan_user_id'
            WHEN r.started_at > getvariable('as_of') THEN 'after_as_of'
            WHEN r.total_steps < 0 OR r.total_steps > 1000 THEN 'total_steps_out_of_range'
            WHEN r.last_step_completed < 0 OR r.last_step_completed > r.total_steps
                THEN 'last_step_out_of_range'
        END AS dq_first
    FROM ranked r
    LEFT JOIN users_clean u ON u.id = r.user_id
)
SELECT
    tagged.* EXCLUDE (dq_first),
    CASE
        WHEN dq_first IS NOT NULL THEN dq_first
        WHEN row_number() OVER (
            PARTITION BY user_id
            ORDER BY dq_first NULLS FIRST, started_at, id
        ) > 1 THEN 'duplicate_user_id'
    END AS dq_check
FROM tagged
