-- DuckDB copy of queries/stickiness_monthly.sql (sha256 ddef11772a112a6e), written by
-- benches/duckdb/mirror.py: edit queries/stickiness_monthly.sql and re-run it, not this file.
-- Stickiness per calendar month (local): how many users were active on exactly n, and on
-- at least n, distinct local dates of the month.
--
-- A user is active on a date with at least one engagement on it
-- (views/engagement_days.sql); report users only. For every vanity month m (from the
-- month of the first signup to the month containing as_of) and n from 1 to the number of
-- days in m:
--   days_active     n
--   users           users active on exactly n dates of m
--   users_at_least  users active on n or more dates of m (at n = 1: the month's active users)
--   is_complete     m ended at or before as_of
-- --from / --to select months, as for vanity_monthly.
WITH active_dates AS (
    SELECT a.user_id, d.month_start, count(*) AS dates
    FROM engagement_days a
    JOIN report_users u ON u.id = a.user_id
    JOIN calendar_days d ON d.day = a.day
    GROUP BY a.user_id, d.month_start
),
users_per_count AS (
    SELECT month_start, dates, count(*) AS users
    FROM active_dates
    GROUP BY month_start, dates
),
month_days AS (
    SELECT
        m.month_start,
        m.month,
        CAST(date_part('day', d.day) AS BIGINT) AS days_active,
        m.is_complete
    FROM calendar_months m
    JOIN calendar_days d ON d.month_start = m.month_start
    WHERE (getvariable('from_date') IS NULL OR m.month_start + INTERVAL '1 month' > getvariable('from_date'))
      AND (getvariable('to_date') IS NULL OR m.month_start <= getvariable('to_date'))
)
SELECT
    m.month,
    m.days_active,
    coalesce(p.users, 0) AS users,
    sum(coalesce(p.users, 0)) OVER (
        PARTITION BY m.month_start
        ORDER BY m.days_active DESC
    ) AS users_at_least,
    m.is_complete
FROM month_days m
LEFT JOIN users_per_count p ON p.month_start = m.month_start AND p.dates = m.days_active
ORDER BY m.month, m.days_active
