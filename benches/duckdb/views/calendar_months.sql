-- calendar_months(month_start, month, month_index, is_complete): built in Rust by snapmetrics
-- (src/engine/calendar.rs), SQL here, materialised once. Calendar months (UTC) from the first
-- clean signup's month to the month containing as_of.
WITH bounds AS (
    SELECT
        CAST(date_trunc('month', local_time(
            coalesce((SELECT min(created_at) FROM users_clean), getvariable('as_of'))
        )) AS DATE) AS first_month,
        CAST(date_trunc('month', local_time(getvariable('as_of'))) AS DATE) AS last_month
)
SELECT
    CAST(m.month_start AS DATE) AS month_start,
    strftime(m.month_start, '%Y-%m') AS month,
    row_number() OVER (ORDER BY m.month_start) - 1 AS month_index,
    CAST(m.month_start + INTERVAL 1 MONTH AS TIMESTAMP) <= local_time(getvariable('as_of'))
        AS is_complete
FROM bounds,
     generate_series(bounds.first_month, bounds.last_month, INTERVAL 1 MONTH) AS m(month_start)
