-- DuckDB copy of queries/views/user_events_summary.sql (sha256 01df3d6febc7da44), written by
-- benches/duckdb/mirror.py: edit queries/views/user_events_summary.sql and re-run it, not this file.
-- user_events counted per (user, local date, data-quality check), with the date's local
-- week and month beside it: every
-- event, those of the default engagement types (login, dashboard_access: the session
-- computes this once, for every question; engagement_weeks.sql reads the events
-- themselves for other --event-types) and logins. Retention, MAU and data_quality.csv read events through this, so a
-- report checks and aggregates the largest table once (the session computes it on first
-- use and keeps it; Kind::OnFirstUse in src/engine/catalogue.rs). dq_check NULL: the clean rows.
SELECT
    user_id,
    local_date(event_timestamp) AS event_date,
    event_week,
    event_month,
    dq_check,
    count(*) AS events,
    count(*) FILTER (WHERE array_has(getvariable('event_types'), event_type)) AS engagement_events,
    count(*) FILTER (WHERE event_type = 'login') AS logins
FROM user_events_checked
GROUP BY user_id, local_date(event_timestamp), event_week, event_month, dq_check
