-- DuckDB copy of queries/onboarding_dropoff.sql (sha256 75315db1d37fd924), written by
-- benches/duckdb/mirror.py: edit queries/onboarding_dropoff.sql and re-run it, not this file.
-- Onboarding drop-off per cohort week and step.
--
-- step runs from 1 to the greatest total_steps in the snapshot, every step listed.
-- reached_step     cohort users whose last_step_completed >= step
-- dropped_at_step  cohort users whose last_step_completed = step - 1 and who never
--                  completed (completed_at is NULL)
WITH onboarding AS (
    SELECT cu.cohort_week, o.last_step_completed, o.completed_at
    FROM onboarding_responses_clean o
    JOIN cohort_users cu ON cu.id = o.user_id
),
reached AS (
    SELECT o.cohort_week, s.step, count(*) AS users
    FROM onboarding o
    JOIN onboarding_steps s ON o.last_step_completed >= s.step
    GROUP BY o.cohort_week, s.step
),
dropped AS (
    SELECT cohort_week, last_step_completed + 1 AS step, count(*) AS users
    FROM onboarding
    WHERE completed_at IS NULL
    GROUP BY cohort_week, last_step_completed + 1
)
SELECT
    c.cohort_week,
    s.step,
    coalesce(r.users, 0) AS reached_step,
    coalesce(d.users, 0) AS dropped_at_step
FROM cohort_weeks c
CROSS JOIN onboarding_steps s
LEFT JOIN reached r ON r.cohort_week = c.cohort_week AND r.step = s.step
LEFT JOIN dropped d ON d.cohort_week = c.cohort_week AND d.step = s.step
ORDER BY c.cohort_week, s.step
