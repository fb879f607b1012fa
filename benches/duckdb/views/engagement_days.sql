-- DuckDB copy of queries/views/engagement_days.sql (sha256 239aa0d898a04545), written by
-- benches/duckdb/mirror.py: edit queries/views/engagement_days.sql and re-run it, not this file.
-- One row per (user, local date) with at least one engagement, engagement as for
-- engagement_weeks.sql: an event whose type is in --event-types, or a statement upload
-- (a clean transaction with an upload_session_id, on the local date of its created_at).
-- The activity metrics (lifecycle, active users, stickiness, monthly cohorts) read it.
-- The default event types read the session's kept rows (default_engagement_days.sql);
-- other --event-types read the clean events themselves. $default_event_types is bound,
-- so the branch not taken is planned away and never runs.
SELECT user_id, day
FROM default_engagement_days
WHERE getvariable('default_event_types')
UNION ALL
SELECT DISTINCT user_id, day
FROM (
    SELECT user_id, local_date(event_timestamp) AS day
    FROM user_events_checked
    WHERE dq_check IS NULL AND array_has(getvariable('event_types'), event_type)
    UNION ALL
    SELECT user_id, created_date AS day
    FROM transactions_summary
    WHERE dq_check IS NULL AND upload_session_id IS NOT NULL
) engagement
WHERE NOT getvariable('default_event_types')
