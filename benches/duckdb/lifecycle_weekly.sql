-- DuckDB copy of queries/lifecycle_weekly.sql (sha256 7be1ce50aa71803d), written by
-- benches/duckdb/mirror.py: edit queries/lifecycle_weekly.sql and re-run it, not this file.
-- Lifecycle per (local, Monday-start) week w: how the week's active users got there, and
-- how many of last week's did not come back.
--
-- A user is active in a week with at least one engagement in it (views/engagement_weeks.sql);
-- report users only. With f(u) the first week user u was active:
--   active_users        active in w  (= new + returning + resurrecting)
--   new_users           f(u) = w: the first active week, even when it is not the signup week
--   returning_users     active in w and in w - 1
--   resurrecting_users  active in w, not in w - 1, and f(u) < w
--   dormant_users       active in w - 1, not in w (a positive count)
--   is_complete         w ended at or before as_of
-- Every week from the week of the earliest report user's signup to the week containing
-- as_of is listed. --from / --to select weeks (from the week of --from to the week of
-- --to); earlier weeks still count as history.
WITH active AS (
    SELECT a.user_id, w.week_index
    FROM engagement_weeks a
    JOIN report_users u ON u.id = a.user_id
    JOIN calendar_weeks w ON w.week_start = a.week
),
first_weeks AS (
    SELECT user_id, min(week_index) AS first_index
    FROM active
    GROUP BY user_id
),
-- Each user's week next to the week before: cur is w (NULL: not active in w), prev is
-- w - 1 (NULL: not active in w - 1).
transitions AS (
    SELECT
        coalesce(cur.week_index, prev.week_index + 1) AS week_index,
        cur.user_id AS active_user,
        prev.user_id AS previous_user,
        f.first_index
    FROM active cur
    FULL JOIN active prev
        ON prev.user_id = cur.user_id AND prev.week_index + 1 = cur.week_index
    LEFT JOIN first_weeks f ON f.user_id = cur.user_id
),
per_week AS (
    SELECT
        week_index,
        count(active_user) AS active_users,
        count(active_user) FILTER (WHERE first_index = week_index) AS new_users,
        count(active_user) FILTER (WHERE previous_user IS NOT NULL) AS returning_users,
        count(active_user) FILTER (WHERE previous_user IS NULL AND first_index < week_index)
            AS resurrecting_users,
        count(previous_user) FILTER (WHERE active_user IS NULL) AS dormant_users
    FROM transitions
    GROUP BY week_index
)
SELECT
    w.week_start AS week,
    coalesce(p.active_users, 0) AS active_users,
    coalesce(p.new_users, 0) AS new_users,
    coalesce(p.returning_users, 0) AS returning_users,
    coalesce(p.resurrecting_users, 0) AS resurrecting_users,
    coalesce(p.dormant_users, 0) AS dormant_users,
    w.is_complete
FROM calendar_weeks w
LEFT JOIN per_week p ON p.week_index = w.week_index
WHERE w.week_start >= (SELECT min(cohort_week) FROM report_users)
  AND (getvariable('from_date') IS NULL OR w.week_start + INTERVAL '7 days' > getvariable('from_date'))
  AND (getvariable('to_date') IS NULL OR w.week_start <= getvariable('to_date'))
ORDER BY w.week_start
