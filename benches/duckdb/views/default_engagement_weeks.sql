-- DuckDB copy of queries/views/default_engagement_weeks.sql (sha256 26abbff054e2f7bd), written by
-- benches/duckdb/mirror.py: edit queries/views/default_engagement_weeks.sql and re-run it, not this file.
-- engagement_weeks.sql for the default engagement types (login, dashboard_access): one
-- row per (user, local week) with an engagement, the weeks of default_engagement_days.sql
-- (a local date's week is the Monday on or before it). Computed on first use and kept,
-- so the weekly metrics (retention, lifecycle, the retention curve) share one DISTINCT.
SELECT DISTINCT user_id, CAST(date_trunc('week', day) AS DATE) AS week
FROM default_engagement_days
