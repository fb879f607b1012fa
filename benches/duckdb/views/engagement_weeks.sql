-- DuckDB copy of queries/views/engagement_weeks.sql (sha256 20045b613d33eaa8), written by
-- benches/duckdb/mirror.py: edit queries/views/engagement_weeks.sql and re-run it, not this file.
-- One row per (user, local week) with at least one engagement: an event whose type is
-- in --event-types, or a statement upload (a clean transaction with an
-- upload_session_id, at its created_at; transactions_summary.sql).
-- The session's summary counts the default engagement types (user_events_summary.sql);
-- other --event-types read the clean events themselves. $default_event_types is bound,
-- so the branch not taken is planned away and never runs.
SELECT DISTINCT user_id, week
FROM (
    SELECT user_id, event_week AS week
    FROM user_events_summary
    WHERE getvariable('default_event_types') AND dq_check IS NULL AND engagement_events > 0
    UNION ALL
    SELECT user_id, event_week AS week
    FROM user_events_checked
    WHERE NOT getvariable('default_event_types') AND dq_check IS NULL
      AND array_has(getvariable('event_types'), event_type)
    UNION ALL
    SELECT user_id, created_week AS week
    FROM transactions_summary
    WHERE dq_check IS NULL AND upload_session_id IS NOT NULL
) engagement
