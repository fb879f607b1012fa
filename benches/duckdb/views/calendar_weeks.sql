-- calendar_weeks(week_start, week_index, is_complete): snapmetrics builds this table in
-- Rust (src/engine/calendar.rs); here it is SQL, materialised once like there. Weeks (Monday
-- starts, UTC) from the first clean signup's week to the week containing as_of; a week
-- is complete when it ended at or before as_of.
WITH bounds AS (
    SELECT
        CAST(date_trunc('week', local_time(
            coalesce((SELECT min(created_at) FROM users_clean), getvariable('as_of'))
        )) AS DATE) AS first_week,
        CAST(date_trunc('week', local_time(getvariable('as_of'))) AS DATE) AS last_week
)
SELECT
    CAST(w.week_start AS DATE) AS week_start,
    row_number() OVER (ORDER BY w.week_start) - 1 AS week_index,
    CAST(w.week_start AS DATE) + 7 <= local_time(getvariable('as_of')) AS is_complete
FROM bounds,
     generate_series(bounds.first_week, bounds.last_week, INTERVAL 7 DAY) AS w(week_start)
