-- DuckDB copy of queries/active_users_daily.sql (sha256 3bf540ca7d4a36aa), written by
-- benches/duckdb/mirror.py: edit queries/active_users_daily.sql and re-run it, not this file.
-- Active users per local date d: DAU, and the rolling WAU and MAU ending on d.
--
-- A user is active on a date with at least one engagement on it
-- (views/engagement_days.sql); report users only.
--   dau      users active on d
--   wau      users active on any of the 7 dates d - 6 ..= d
--   mau_30d  users active on any of the 30 dates d - 29 ..= d
--   is_complete  d ended at or before as_of
-- Every date from the earliest report user's signup date to the date containing as_of is
-- listed. --from / --to select dates; earlier dates still count for the rolling windows.
-- (vanity_monthly's mau stays the calendar-month count of logins.)
--
-- How the windows are counted, in one pass: a user active on date a, and next on date b,
-- counts in the W-day window of every date from a up to (not including) the earlier of
-- a + W days and b; from b on, b's own span takes over. One user's spans never overlap,
-- so a window's count on d is the spans started by d minus the spans ended by d (a
-- running sum from the first calendar date).
WITH active AS (
    SELECT
        a.day,
        lead(a.day) OVER (PARTITION BY a.user_id ORDER BY a.day) AS next_day
    FROM engagement_days a
    JOIN report_users u ON u.id = a.user_id
),
-- What each active date changes: where its spans start (window 0: the date itself) and
-- where its 7- and 30-day spans end.
marks AS (
    SELECT
        CASE WHEN s.window_days = 0 THEN a.day ELSE least(a.day + s.span, a.next_day) END
            AS day,
        s.window_days
    FROM active a
    CROSS JOIN (
        SELECT window_days, span
        FROM (VALUES
            (0, INTERVAL '0 days'),
            (7, INTERVAL '7 days'),
            (30, INTERVAL '30 days')
        ) spans(window_days, span)
    ) s
),
changes AS (
    SELECT
        day,
        count(*) FILTER (WHERE window_days = 0) AS started,
        count(*) FILTER (WHERE window_days = 7) AS week_ended,
        count(*) FILTER (WHERE window_days = 30) AS month_ended
    FROM marks
    GROUP BY day
),
running AS (
    SELECT
        d.day,
        coalesce(c.started, 0) AS dau,
        sum(coalesce(c.started, 0) - coalesce(c.week_ended, 0)) OVER (ORDER BY d.day) AS wau,
        sum(coalesce(c.started, 0) - coalesce(c.month_ended, 0)) OVER (ORDER BY d.day)
            AS mau_30d,
        d.is_complete
    FROM calendar_days d
    LEFT JOIN changes c ON c.day = d.day
)
SELECT day AS date, dau, wau, mau_30d, is_complete
FROM running
WHERE day >= (SELECT min(signup_date) FROM report_users)
  AND day <= local_date(getvariable('as_of'))
  AND (getvariable('from_date') IS NULL OR day >= getvariable('from_date'))
  AND (getvariable('to_date') IS NULL OR day <= getvariable('to_date'))
ORDER BY day
