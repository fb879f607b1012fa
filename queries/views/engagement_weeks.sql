-- One row per (user, local week) with at least one engagement: an event whose type is
-- in --event-types (see user_events_summary.sql), or a statement upload (a clean
-- transaction with an upload_session_id, at its created_at; transactions_summary.sql).
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
