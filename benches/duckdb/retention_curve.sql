-- DuckDB copy of queries/retention_curve.sql (sha256 98e46c32153b83cf), written by
-- benches/duckdb/mirror.py: edit queries/retention_curve.sql and re-run it, not this file.
-- The retention curve: cohort_retention.sql's cells averaged over cohorts, weighted by
-- their size.
--
-- For each week offset k, over the cohorts with cohort_size > 0 whose cell (c, k) is
-- complete (the week at offset k ended at or before as_of):
--   cohorts         how many such cohorts
--   cohort_users    the sum of their sizes
--   retained_users  the sum of their retained users
--   retention_rate  retained_users / cohort_users
-- k runs from 0 to the greatest k with at least one complete cell. --from / --to select
-- cohorts by signup date, as for cohort_retention.
WITH cells AS (
    SELECT
        w.week_index - c.week_index AS week_offset,
        c.cohort_size,
        coalesce(r.retained_users, 0) AS retained_users
    FROM cohort_weeks c
    JOIN calendar_weeks w ON w.week_start >= c.cohort_week
    LEFT JOIN cohort_retained r ON r.cohort_week = c.cohort_week AND r.week = w.week_start
    WHERE c.cohort_size > 0 AND w.is_complete
)
SELECT
    week_offset,
    count(*) AS cohorts,
    sum(cohort_size) AS cohort_users,
    sum(retained_users) AS retained_users,
    CAST(sum(retained_users) AS DOUBLE) / sum(cohort_size) AS retention_rate
FROM cells
GROUP BY week_offset
ORDER BY week_offset
