-- DuckDB copy of queries/views/default_engagement_weeks.sql (sha256 3431cf5ded005f64), written by
-- benches/duckdb/mirror.py: edit queries/views/default_engagement_weeks.sql and re-run it, not this file.
-- engagement_weeks.sql for the default engagement types (login, dashboard_access): one
-- row per (user, local week) with an engagement. Computed on first use and kept, so the
-- weekly metrics (retention, lifecycle, the retention curve) share one DISTINCT.
SELECT DISTINCT user_id, week
FROM (
    SELECT user_id, event_week AS week
    FROM user_events_summary
    WHERE dq_check IS NULL AND engagement_events > 0
    UNION ALL
    SELECT user_id, created_week AS week
    FROM transactions_summary
    WHERE dq_check IS NULL AND upload_session_id IS NOT NULL
) engagement
