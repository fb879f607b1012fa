-- DuckDB copy of queries/views/cohort_weeks.sql (sha256 dcb1bc1f65949cf9), written by
-- benches/duckdb/mirror.py: edit queries/views/cohort_weeks.sql and re-run it, not this file.
-- Every cohort week from the first to the last cohort, empty weeks included (size 0).
WITH sizes AS (
    SELECT cohort_week, count(*) AS cohort_size
    FROM cohort_users
    GROUP BY cohort_week
)
SELECT
    w.week_start AS cohort_week,
    w.week_index,
    coalesce(s.cohort_size, 0) AS cohort_size
FROM calendar_weeks w
LEFT JOIN sizes s ON s.cohort_week = w.week_start
WHERE w.week_start >= (SELECT min(cohort_week) FROM sizes)
  AND w.week_start <= (SELECT max(cohort_week) FROM sizes)
