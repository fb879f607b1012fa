-- engagement_days.sql for the default engagement types (login, dashboard_access), the
-- set nearly every question asks about: one row per (user, local date) with an
-- engagement. Computed on first use and kept, so the metrics that read engagement days
-- (active users, stickiness, monthly retention) share one DISTINCT over the summaries.
SELECT DISTINCT user_id, day
FROM (
    SELECT user_id, event_date AS day
    FROM user_events_summary
    WHERE dq_check IS NULL AND engagement_events > 0
    UNION ALL
    SELECT user_id, created_date AS day
    FROM transactions_summary
    WHERE dq_check IS NULL AND upload_session_id IS NOT NULL
) engagement
