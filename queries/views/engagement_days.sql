-- One row per (user, local date) with at least one engagement, engagement as for
-- engagement_weeks.sql: an event whose type is in --event-types, or a statement upload
-- (a clean transaction with an upload_session_id, on the local date of its created_at).
-- The activity metrics (lifecycle, active users, stickiness, monthly cohorts) read it.
SELECT DISTINCT user_id, day
FROM (
    SELECT user_id, event_date AS day
    FROM user_events_summary
    WHERE $default_event_types AND dq_check IS NULL AND engagement_events > 0
    UNION ALL
    SELECT user_id, local_date(event_timestamp, $tz) AS day
    FROM user_events_checked
    WHERE NOT $default_event_types AND dq_check IS NULL
      AND array_has($event_types, event_type)
    UNION ALL
    SELECT user_id, created_date AS day
    FROM transactions_summary
    WHERE dq_check IS NULL AND upload_session_id IS NOT NULL
) engagement
