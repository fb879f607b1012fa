-- DuckDB copy of queries/views/engagement_weeks.sql (sha256 6752bb26db9de768), written by
-- benches/duckdb/mirror.py: edit queries/views/engagement_weeks.sql and re-run it, not this file.
-- One row per (user, local week) with at least one engagement: an event whose type is
-- in --event-types, or a statement upload (a clean transaction with an
-- upload_session_id, at its created_at; transactions_summary.sql).
-- The default event types read the session's kept rows (default_engagement_weeks.sql);
-- other --event-types read the clean events themselves. $default_event_types is bound,
-- so the branch not taken is planned away and never runs.
SELECT user_id, week
FROM default_engagement_weeks
WHERE getvariable('default_event_types')
UNION ALL
SELECT DISTINCT user_id, week
FROM (
    SELECT user_id, event_week AS week
    FROM user_events_checked
    WHERE dq_check IS NULL AND array_has(getvariable('event_types'), event_type)
    UNION ALL
    SELECT user_id, created_week AS week
    FROM transactions_summary
    WHERE dq_check IS NULL AND upload_session_id IS NOT NULL
) engagement
WHERE NOT getvariable('default_event_types')
