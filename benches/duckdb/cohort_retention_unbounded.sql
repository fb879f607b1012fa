-- DuckDB copy of queries/cohort_retention_unbounded.sql (sha256 bca919e5472e6f96), written by
-- benches/duckdb/mirror.py: edit queries/cohort_retention_unbounded.sql and re-run it, not this file.
-- Cohort retention, "on or after".
--
-- Same rows as cohort_retention.sql (every cohort week c, every week offset k from 0 to
-- the week containing as_of). retained_users = users of c with at least one engagement in
-- any week starting at or after c + 7k days: the users whose last engaged week is at or
-- after that week. It never rises with k, and is never below cohort_retention's count.
-- retention_rate = retained_users / cohort_size (NULL for an empty cohort);
-- is_complete = the week at offset k ended at or before as_of.
WITH last_weeks AS (
    SELECT cu.cohort_week, max(a.week) AS last_week
    FROM engagement_weeks a
    JOIN cohort_users cu ON cu.id = a.user_id
    GROUP BY cu.cohort_week, a.user_id
),
last_week_counts AS (
    SELECT cohort_week, last_week, count(*) AS users
    FROM last_weeks
    GROUP BY cohort_week, last_week
),
cells AS (
    SELECT
        c.cohort_week,
        c.cohort_size,
        w.week_index - c.week_index AS week_offset,
        -- Users whose last week is this one or a later one.
        sum(coalesce(l.users, 0)) OVER (
            PARTITION BY c.cohort_week
            ORDER BY w.week_start DESC
        ) AS retained_users,
        w.is_complete
    FROM cohort_weeks c
    JOIN calendar_weeks w ON w.week_start >= c.cohort_week
    LEFT JOIN last_week_counts l
        ON l.cohort_week = c.cohort_week AND l.last_week = w.week_start
)
SELECT
    cohort_week,
    cohort_size,
    week_offset,
    retained_users,
    CASE WHEN cohort_size > 0
        THEN CAST(retained_users AS DOUBLE) / cohort_size
    END AS retention_rate,
    is_complete
FROM cells
ORDER BY cohort_week, week_offset
