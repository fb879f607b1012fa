-- DuckDB copy of queries/activation.sql (sha256 37bc9dcca4a8ebd9), written by
-- benches/duckdb/mirror.py: edit queries/activation.sql and re-run it, not this file.
-- Activation per cohort week.
--
-- started_onboarding    cohort users with an onboarding_responses row
-- completed_onboarding  ... whose completed_at is not NULL
-- completion_rate       completed_onboarding / cohort_size (NULL for an empty cohort)
-- median_hours_to_complete  median of hours from users.created_at to completed_at,
--                           over completers (NULL when there are none)
WITH onboarding AS (
    SELECT
        cu.cohort_week,
        o.completed_at,
        (date_part('epoch', o.completed_at) - date_part('epoch', cu.created_at)) / 3600.0
            AS hours_to_complete
    FROM onboarding_responses_clean o
    JOIN cohort_users cu ON cu.id = o.user_id
),
per_cohort AS (
    SELECT
        cohort_week,
        count(*) AS started_onboarding,
        count(completed_at) AS completed_onboarding,
        median(hours_to_complete) AS median_hours_to_complete
    FROM onboarding
    GROUP BY cohort_week
)
SELECT
    c.cohort_week,
    c.cohort_size,
    coalesce(p.started_onboarding, 0) AS started_onboarding,
    coalesce(p.completed_onboarding, 0) AS completed_onboarding,
    CASE WHEN c.cohort_size > 0
        THEN CAST(coalesce(p.completed_onboarding, 0) AS DOUBLE) / c.cohort_size
    END AS completion_rate,
    p.median_hours_to_complete
FROM cohort_weeks c
LEFT JOIN per_cohort p ON p.cohort_week = c.cohort_week
ORDER BY c.cohort_week
