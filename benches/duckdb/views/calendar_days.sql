-- calendar_days(day, month_start, is_complete): snapmetrics builds this table in Rust
-- (src/engine/calendar.rs); here it is SQL, materialised once like there. Every day
-- (UTC) of every month from the first clean signup's month to the month containing
-- as_of; a day is complete when it ended at or before as_of.
WITH bounds AS (
    SELECT
        CAST(date_trunc('month', local_time(
            coalesce((SELECT min(created_at) FROM users_clean), getvariable('as_of'))
        )) AS DATE) AS first_day,
        CAST(date_trunc('month', local_time(getvariable('as_of'))) + INTERVAL 1 MONTH
            - INTERVAL 1 DAY AS DATE) AS last_day
)
SELECT
    CAST(d.day AS DATE) AS day,
    CAST(date_trunc('month', d.day) AS DATE) AS month_start,
    CAST(d.day AS DATE) + 1 <= local_time(getvariable('as_of')) AS is_complete
FROM bounds,
     generate_series(bounds.first_day, bounds.last_day, INTERVAL 1 DAY) AS d(day)
