-- DuckDB copy of queries/views/engagement_weeks.sql (sha256 b6eaea0a39691355), written by
-- benches/duckdb/mirror.py: edit queries/views/engagement_weeks.sql and re-run it, not this file.
-- One row per (user, local week) with at least one engagement: an event whose type is
-- in engagement_event_types (--event-types), or a statement upload (a transaction with
-- an upload_session_id, at its created_at).
SELECT DISTINCT user_id, week
FROM (
    SELECT user_id, event_week AS week
    FROM user_events_clean
    WHERE event_type IN (SELECT event_type FROM engagement_event_types)
    UNION ALL
    SELECT user_id, created_week AS week
    FROM transactions_clean
    WHERE upload_session_id IS NOT NULL
) engagement
